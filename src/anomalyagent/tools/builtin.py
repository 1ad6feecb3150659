"""The five tools with their embedded offline backends: PG, IG, QE, KR, MG.

Order rules (what the paper's agent learns; enforced here as error observations):
PG is called once, first; IG needs a plan; QE needs an edit; MG needs a passing QE of
the latest edit. IG always edits the ORIGINAL normal image.
"""
from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from ..change import change_mask, iou, solid
from ..knowledge import KnowledgeBase
from ..planning import instruction
from ..records import BLEND_MODES, COLOR_RELATIONS, Observation
from ..render.families.transplant import pastes_from_bank
from .backends import MASKERS, PLANNERS, create_judge
from .base import CallError, EpisodeState, Tool, edit_change
from .editors import EDITORS, scene_from_state, spec_from_call

_NAME = {"type": "string", "description": "object category, e.g. 'hazelnut'; defaults to the task's"}
_DEFECT = {"type": "string", "description": "defect type, e.g. 'crack'; defaults to the task's"}


def _timed(state: EpisodeState, key: str, start: float) -> None:
    state.timings[key] = state.timings.get(key, 0.0) + time.perf_counter() - start


class PromptGeneration(Tool):
    name = "PG"
    description = (
        "Prompt generation. Call once, first. Turns the defect request into a localized edit "
        "instruction for this image: where the defect goes (on the object), how big it is, its "
        "shape, colour and edges. Returns the instruction and the structured plan."
    )
    parameters = {"type": "object", "properties": {"category": _NAME, "defect_type": _DEFECT}, "required": []}

    def __init__(self, kb: KnowledgeBase | None = None, planner: str = "priors", **options: Any) -> None:
        super().__init__()
        self.kb = kb or KnowledgeBase.default()
        self.plan = PLANNERS.create(planner, **options)

    def run(self, arguments: dict[str, Any], state: EpisodeState) -> Observation:
        if state.planned:
            raise CallError("PG was already called; refine the instruction yourself and call IG with it.")
        start = time.perf_counter()
        found = self.kb.lookup(arguments.get("category", state.task.category), arguments.get("defect_type", state.task.defect_type))
        state.entry = found.entry
        if state.parts:  # a product model located the parts: plan on the named one
            spec = self.plan(found.entry, state.image, state.foreground, state.rng, parts=state.parts)
        else:
            spec = self.plan(found.entry, state.image, state.foreground, state.rng)
        spec = spec.replace(defect_type=state.task.defect_type, category=state.task.category)
        from ..critic.judge import moves_material

        from_bank = _bank_holds(state) and not moves_material(spec)
        if from_bank:  # the user's own real defects of this type: paste one (transplant family)
            spec = spec.replace(family="transplant", params={**spec.params, "source": "bank"})
        write = getattr(self.plan, "write_instruction", None)
        text = write(spec, found.entry, state) if write is not None else instruction(spec, found.entry)
        spec = spec.replace(instruction=text)
        state.spec, state.planned = spec, True
        _timed(state, "PG", start)
        note = f" ({found.note})" if found.note else ""
        if state.parts and spec.params.get("part"):
            note += f"\nPart: {spec.params['part']}" + (f" ({spec.params['part_note']})" if spec.params.get("part_note") else "")
        if from_bank:
            note += "\nMaterial: a real defect of this type from the local defect bank"
        plan = {k: v for k, v in spec.to_dict().items() if k not in ("instruction", "params")}
        return Observation(
            text=f"Instruction: {spec.instruction}\nPlan: {json.dumps(plan)}{note}",
            payload={"spec": spec.to_dict(), "match": found.match},
        )


def _bank_holds(state: EpisodeState) -> bool:
    """Whether the episode's defect bank holds real defects of this task's category and type.
    PG pastes one only where the plan is not structural (``moves_material``): a bent lead
    or a moved part is geometry of this image, which a patch cut from another cannot carry."""
    bank = getattr(state, "bank", None)
    if bank is None:
        return False
    task = state.task
    return any(e.defect == task.defect_type and e.category == task.category for e in bank.entries)


_SPEC_FIELDS = {
    "family": {"type": "string", "description": "renderer family, e.g. crack, scratch, hole, stain"},
    "center": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}, "minItems": 2, "maxItems": 2,
               "description": "defect centre (x, y) as fractions of image width and height"},
    "size": {"type": "number", "minimum": 0.005, "maximum": 1, "description": "longest extent as a fraction of the shorter image side"},
    "angle": {"type": "number", "minimum": -360, "maximum": 360, "description": "orientation in degrees, counter-clockwise from +x"},
    "aspect": {"type": "number", "minimum": 1, "maximum": 60, "description": "length / width of the defect (1 = round)"},
    "intensity": {"type": "number", "minimum": 0, "maximum": 1, "description": "strength of the appearance change, 0-1"},
    "color": {"type": "string", "enum": list(COLOR_RELATIONS), "description": "colour relation to the surrounding surface"},
    "blend": {"type": "string", "enum": list(BLEND_MODES), "description": "how the defect's edges blend into the surface"},
}


class ImageGeneration(Tool):
    name = "IG"
    description = (
        "Image generation. Applies a localized edit instruction to the ORIGINAL normal image and "
        "returns the edited image. Optional fields override the plan (centre, size, intensity...)."
    )
    parameters = {
        "type": "object",
        "properties": {"instruction": {"type": "string", "description": "the localized edit instruction"}, **_SPEC_FIELDS},
        "required": ["instruction"],
    }

    def __init__(self, editor: str = "procedural", **options: Any) -> None:
        super().__init__()
        self.editor = EDITORS.create(editor, **options)

    def run(self, arguments: dict[str, Any], state: EpisodeState) -> Observation:
        if not state.planned or state.spec is None:
            raise CallError("IG needs a plan: call PG first.")
        start = time.perf_counter()
        changes = {k: v for k, v in arguments.items() if k in _SPEC_FIELDS}
        if "center" in changes:
            changes["center"] = tuple(changes["center"])
        spec = spec_from_call(state.spec, arguments["instruction"], changes, self.editor.families())
        problems = spec.validate()
        if spec.family not in self.editor.families():
            problems.append(f"family {spec.family!r} unknown; known: {', '.join(self.editor.families())}")
        if problems:
            raise CallError("invalid edit: " + "; ".join(problems) + ".")
        state.spec = spec
        state.attempts += 1
        seed = int(state.rng.integers(2**31))
        edited, alpha = self.editor.edit(state.image, spec, np.random.default_rng(seed), scene_from_state(state))
        state.edited, state.alpha, state.judged, state.judgement = edited, alpha, False, None
        _timed(state, "IG", start)
        return Observation(
            text=f"Edited image, attempt {state.attempts} ({spec.family}, size {spec.size:.2f}, intensity {spec.intensity:.2f}). Judge it with QE.",
            payload={"spec": spec.to_dict(), "attempt": state.attempts},
            image=edited,
            hidden={"alpha": alpha},
        )


class QualityEvaluation(Tool):
    name = "QE"
    description = (
        "Quality evaluation of the latest edited image. Scores location rationality (0-5) and "
        "visual quality (0-5); the edit passes when the total is above 5. Returns a review with "
        "concrete advice on what to change."
    )
    parameters = {"type": "object", "properties": {}, "required": []}

    def __init__(self, critic: str = "measured", learned: bool = False, **options: Any) -> None:
        super().__init__()
        self.judge = create_judge(critic, learned=learned, **options) if learned else create_judge(critic, **options)

    def run(self, arguments: dict[str, Any], state: EpisodeState) -> Observation:
        if state.edited is None:
            raise CallError("QE needs an edited image: call IG first.")
        start = time.perf_counter()
        j = self.judge(state)
        state.judgement, state.judged = j, True
        if j.score > state.best.get("score", -1.0):
            state.best = {"score": j.score, "passed": j.passed, "edited": state.edited, "alpha": state.alpha, "spec": state.spec}
        _timed(state, "QE", start)
        verdict = "PASS" if j.passed else "FAIL"
        return Observation(
            text=f"{verdict}: score {j.score:.1f}/10 (location {j.location:.1f}/5, quality {j.quality:.1f}/5). Review: {j.review}",
            payload={"score": j.score, "location": j.location, "quality": j.quality, "passed": j.passed,
                     "terms": j.terms, "advice": j.advice},
        )


class KnowledgeRetrieval(Tool):
    name = "KR"
    description = (
        "Knowledge retrieval. Physical description of a defect on a material: how it forms, its "
        "shape, edges, colour, texture, where it occurs and how big it is. Use it after a failed QE."
    )
    parameters = {"type": "object", "properties": {"category": _NAME, "defect_type": _DEFECT}, "required": []}

    def __init__(self, kb: KnowledgeBase | None = None) -> None:
        super().__init__()
        self.kb = kb or KnowledgeBase.default()

    def run(self, arguments: dict[str, Any], state: EpisodeState) -> Observation:
        start = time.perf_counter()
        found = self.kb.lookup(arguments.get("category", state.task.category), arguments.get("defect_type", state.task.defect_type))
        state.entry = found.entry
        _timed(state, "KR", start)
        note = f"\nNote: {found.note}" if found.note else ""
        return Observation(text=found.entry.text() + note, payload={"entry": found.entry.to_dict(), "match": found.match})


class MaskGeneration(Tool):
    name = "MG"
    description = (
        "Mask generation. Call once, after the latest edit passed QE. Segments what changed between "
        "the normal image and the edited image and returns the ground-truth mask."
    )
    parameters = {"type": "object", "properties": {}, "required": []}

    def __init__(self, masker: str = "change", **options: Any) -> None:
        super().__init__()
        self.segment = MASKERS.create(masker, **options)

    def run(self, arguments: dict[str, Any], state: EpisodeState) -> Observation:
        if state.edited is None or not state.judged or not state.judgement.passed:
            raise CallError("MG needs an edit that passed QE: call IG and QE first.")
        if state.mask is not None:
            raise CallError("MG was already called; give the final answer.")
        start = time.perf_counter()
        if self.segment is change_mask:  # the change QE's critic already segmented (edit_change)
            mask = edit_change(state)
        else:
            mask = self.segment(state.image, state.edited, state.spec.center if state.spec else None)
        from ..critic.judge import moves_material

        if moves_material(state.spec):  # a moved part's mask covers its old and new place whole
            # The editor's alpha of a part it moved marks both places (render/family.py
            # ``moves_pixels``); where they overlap in like colours change detection leaves
            # notches that filling holes cannot close (they open to the outside).
            if state.alpha is not None and state.alpha.shape == mask.shape:
                mask = mask | (state.alpha >= 0.5)
            mask = solid(mask)
        if state.spec is not None and state.alpha is not None and pastes_from_bank(state.spec, state.bank):
            # a pasted real defect keeps its own label (render/families/transplant.py)
            mask = mask | (state.alpha >= 0.5)
        state.mask = mask
        _timed(state, "MG", start)
        payload: dict[str, Any] = {"area_fraction": float(mask.mean())}
        hidden = {}
        if state.alpha is not None:
            hidden["iou_vs_alpha"] = iou(mask, state.alpha > 0.5)
        return Observation(
            text=f"Mask generated: {mask.mean():.2%} of the image. Give the final answer.",
            payload=payload,
            image=(mask.astype(np.uint8) * 255),
            hidden=hidden,
        )

