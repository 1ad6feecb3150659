"""The agent's tools: PG, IG, QE, KR, MG, and the ToolBox that runs calls."""
from .base import CallError, EpisodeState, Tool, ToolBox, validate_arguments
from .builtin import ImageGeneration, KnowledgeRetrieval, MaskGeneration, PromptGeneration, QualityEvaluation
from .editors import EDITORS


def default_toolbox(editor: str = "procedural", critic: str = "measured", learned: bool = False, kb=None) -> ToolBox:
    """The five tools with the embedded offline backends (or the named ones)."""
    return ToolBox([
        PromptGeneration(kb),
        ImageGeneration(editor),
        QualityEvaluation(critic, learned=learned),
        KnowledgeRetrieval(kb),
        MaskGeneration(),
    ])


__all__ = [
    "CallError", "EpisodeState", "Tool", "ToolBox", "validate_arguments", "EDITORS", "default_toolbox",
    "PromptGeneration", "ImageGeneration", "QualityEvaluation", "KnowledgeRetrieval", "MaskGeneration",
]
