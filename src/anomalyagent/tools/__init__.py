"""The agent's tools: PG, IG, QE, KR, MG, and the ToolBox that runs calls."""
from .base import CallError, EpisodeState, Tool, ToolBox, validate_arguments
from .builtin import ImageGeneration, KnowledgeRetrieval, MaskGeneration, PromptGeneration, QualityEvaluation
from .backends import MASKERS, PLANNERS
from .editors import EDITORS


def default_toolbox(editor: str = "procedural", critic: str = "measured", learned: bool = False, kb=None,
                    planner: str = "priors", masker: str = "change") -> ToolBox:
    """The five tools with the embedded offline backends (or the named ones)."""
    return ToolBox([
        PromptGeneration(kb, planner),
        ImageGeneration(editor),
        QualityEvaluation(critic, learned=learned),
        KnowledgeRetrieval(kb),
        MaskGeneration(masker),
    ])


__all__ = [
    "CallError", "EpisodeState", "Tool", "ToolBox", "validate_arguments", "EDITORS", "PLANNERS", "MASKERS", "default_toolbox",
    "PromptGeneration", "ImageGeneration", "QualityEvaluation", "KnowledgeRetrieval", "MaskGeneration",
]
