"""Backends of the PG, QE and MG tools, by name (IG editors: editors.py, model_editors.py).

Each registry maps a name to a factory taking keyword arguments (the tool's options in
an AgentConfig); the factory runs once per worker and returns the backend:

- PLANNERS: ``plan(entry, image, foreground, rng) -> DefectSpec`` places the defect. A
  planner may also have ``write_instruction(spec, entry, state) -> str`` (a language
  model writing the instruction); otherwise PG uses the template ``planning.instruction``.
- JUDGES: ``judge(state) -> Judgement`` scores the latest edit (critic.Judgement).
- MASKERS: ``mask(normal, edited, hint) -> (H, W) bool`` segments what changed.

Model-backed planners and judges (``llm``, ``mllm``) live in model_tools.py. A backend
that calls a model adds the tokens it used to ``state.usage[tool]`` (calls and seconds
are counted by the ToolBox).
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np

from ..change import change_mask
from ..knowledge.entry import KnowledgeEntry
from ..planning import sample_spec
from ..records import DefectSpec
from ..registry import Registry
from .base import edit_change

Planner = Callable[[KnowledgeEntry, np.ndarray, np.ndarray, np.random.Generator], DefectSpec]
Judge = Callable[[Any], Any]  # EpisodeState -> critic.Judgement
Masker = Callable[[np.ndarray, np.ndarray, "tuple[float, float] | None"], np.ndarray]

PLANNERS: Registry[Planner] = Registry("PG planner")
JUDGES: Registry[Judge] = Registry("QE judge")
MASKERS: Registry[Masker] = Registry("MG masker")


@PLANNERS.register("priors")
def priors_planner() -> Planner:
    """The knowledge base's priors, sampled on the foreground (planning.sample_spec)."""
    return sample_spec


@MASKERS.register("change")
def change_masker() -> Masker:
    """Change detection between the normal and the edited image (change.change_mask)."""
    return change_mask


class CriticJudge:
    """A critic from ``critic.CRITICS`` (default: the measured critic) as a QE judge."""

    def __init__(self, critic: str = "measured", learned: bool = False, calibration: Any = None) -> None:
        from ..critic import CRITICS
        from ..critic.calibration import resolve_calibration

        self.critic = CRITICS.get(critic)
        self.learned = bool(learned)
        # a critic that takes the edit's change mask (the measured one) shares MG's (tools.base.edit_change)
        # and keeps what depends on the image alone in the sample's memo
        accepts = inspect.signature(self.critic).parameters
        self.shares_change, self.takes_memo = "changed" in accepts, "memo" in accepts
        # ``calibration``: the critic's thresholds (critic.calibration.resolve_calibration: a
        # Calibration, "default", "without:<category>" or a .json file), resolved once here.
        self.calibration = resolve_calibration(calibration)

    def __call__(self, state: Any) -> Any:
        # With a product model: its normal-appearance model, and the mask of the part the
        # plan names (None when the plan names none, or the model has no such part).
        product = getattr(state, "product", None)
        shared = {"changed": edit_change(state)} if self.shares_change else {}
        if self.takes_memo and getattr(state, "memo", None) is not None:
            shared["memo"] = state.memo
        return self.critic(state.image, state.edited, None, spec=state.spec, entry=state.entry, kind=state.kind,
                           foreground=state.foreground, learned=self.learned, product=product, part=named_part(state),
                           calibration=self.calibration, **shared)


def named_part(state: Any) -> np.ndarray | None:
    """(H, W) bool of the part the knowledge names for this defect (the whole part, e.g. the
    case for a chipped case edge), from the product model's parts; None without parts, for
    a defect of the whole object (a part moved as a whole) or when no part matches."""
    parts = getattr(state, "parts", None) or {}
    spec, entry = state.spec, state.entry
    if not parts or spec is None or entry is None:
        return None
    params = spec.params if isinstance(spec.params, dict) else {}
    return named_part_mask(entry.location, state.task.defect_type, parts, whole=str(params.get("whole", "")))


def named_part_mask(location: str, defect_type: str, parts: dict[str, np.ndarray], whole: str = "") -> np.ndarray | None:
    """``named_part`` from plain values (the critic benchmark uses it without an episode):
    None for a whole-object defect (``whole`` true), no matching part, or the object itself."""
    if not parts or whole.lower() in ("true", "1", "yes"):
        return None
    from ..product.regions import resolve_region

    try:
        region = resolve_region(location, defect_type, parts)
    except ValueError:
        return None
    if region.name in ("object", "surface") or not region.part.any():
        return None
    return region.part


@JUDGES.register("measured")
def measured_judge(learned: bool = False, calibration: Any = None) -> Judge:
    """The measured critic (critic/judge.py); ``learned`` adds its EfficientNet realism term;
    ``calibration``: its thresholds (AgentConfig's ``calibration``, passed by build_toolbox)."""
    return CriticJudge("measured", learned=learned, calibration=calibration)


def create_judge(name: str, **options: Any) -> Judge:
    """A judge by name: a JUDGES entry, else a critic registered in ``critic.CRITICS``."""
    if name in JUDGES:
        return JUDGES.create(name, **options)
    from ..critic import CRITICS

    if name in CRITICS:
        return CriticJudge(name, **options)
    return JUDGES.create(name, **options)  # raises: unknown, listing the judges
