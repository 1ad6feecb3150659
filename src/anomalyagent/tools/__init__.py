"""The agent's tools: PG, IG, QE, KR, MG, and the ToolBox that runs calls."""
from .base import CallError, EpisodeState, Tool, ToolBox, validate_arguments
from .builtin import ImageGeneration, KnowledgeRetrieval, MaskGeneration, PromptGeneration, QualityEvaluation
from .backends import JUDGES, MASKERS, PLANNERS
from .editors import EDITORS
from . import model_tools  # noqa: F401,E402  (registers the llm planner, mllm judge and model editors)


def default_toolbox(editor: str = "procedural", critic: str = "measured", learned: bool = False, kb=None,
                    planner: str = "priors", masker: str = "change") -> ToolBox:
    """The five tools with the embedded offline backends (or the named ones, without options).

    For backends with options (a model endpoint, a device) use ``config.build_toolbox``.
    """
    return ToolBox([
        PromptGeneration(kb, planner),
        ImageGeneration(editor),
        QualityEvaluation(critic, learned=learned),
        KnowledgeRetrieval(kb),
        MaskGeneration(masker),
    ])


__all__ = [
    "CallError", "EpisodeState", "Tool", "ToolBox", "validate_arguments", "EDITORS", "PLANNERS", "JUDGES", "MASKERS",
    "default_toolbox", "PromptGeneration", "ImageGeneration", "QualityEvaluation", "KnowledgeRetrieval", "MaskGeneration",
]
