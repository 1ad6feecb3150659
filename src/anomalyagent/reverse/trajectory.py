"""Trajectories from real anomalies, run through the real agent loop.

For one real anomaly (its reconstruction is the episode's normal image, its extracted
spec the target) we script what an expert would do, N = 1, 2 or 3 IG turns:

    PG -> IG(flawed) -> QE fail -> [KR] -> IG(fixed) -> QE ... -> IG(target) -> QE pass -> MG -> answer

and run the script with ``ScriptedPolicy`` through ``run_episode`` with the real tools,
so every observation (plans, rendered attempts, QE scores and reviews, knowledge text)
is exactly what the tools return. Two tools are wrapped, and only for the target:

- IG: ``RevealEditor`` renders every spec with the procedural editor, except the
  target spec (all IG fields equal), for which it returns the REAL anomaly image (its
  alpha is the real mask). The observation text and payload are the IG tool's own;
  the QE that follows judges the real anomaly against the reconstruction for real;
- MG: when the latest edit is the revealed anomaly, ``RevealMaskGeneration`` returns
  the real mask (the change detector's mask is computed too and its IoU with the real
  one kept in the observation's hidden measurements).

Flawed attempts are found by generate-and-test: a flaw set is kept only when QE fails
the attempt and the review's advice names each flaw the next attempt removes
(reverse/flaws.py), so the next turn always fixes what the review said.
"""
from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..agent.loop import new_state, run_episode
from ..agent.policy import Action, ScriptedPolicy, ig_arguments
from ..change import iou
from ..knowledge import KnowledgeBase
from ..knowledge.entry import KnowledgeEntry
from ..planning import instruction
from ..records import DefectSpec, Observation, Task, ToolCall, Trajectory
from ..tools import EDITORS, ImageGeneration, KnowledgeRetrieval, MaskGeneration, PromptGeneration, QualityEvaluation
from ..tools.base import Tool, ToolBox
from .flaws import FLAWS, FlawContext, addressed

log = logging.getLogger(__name__)

_IG_FIELDS = ("family", "center", "size", "angle", "aspect", "intensity", "color", "blend")
# Which DefectSpec fields each flaw changes; flaws combined in one attempt must not overlap.
FLAW_FIELDS = {"off_object": {"center"}, "too_faint": {"intensity"}, "too_large": {"size"}, "too_small": {"size"},
               "wrong_family": {"family", "params"}, "seam": {"blend", "intensity"}}
MAX_TRIES = 20  # episode runs spent looking for the flawed attempts of one trajectory


def same_edit(a: DefectSpec, b: DefectSpec) -> bool:
    """True when two specs agree on every field an IG call can set."""
    da, db = a.to_dict(), b.to_dict()
    return all(da[k] == db[k] for k in _IG_FIELDS)


class RevealEditor:
    """Procedural editor that returns the real anomaly for the target spec."""

    def __init__(self, target: DefectSpec, anomaly: np.ndarray, mask: np.ndarray, inner: str = "procedural") -> None:
        self.target, self.anomaly, self.mask = target, anomaly, mask
        self.inner = EDITORS.create(inner)
        self.revealed: np.ndarray | None = None

    def families(self) -> list[str]:
        return self.inner.families()

    def edit(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator,
             scene=None) -> tuple[np.ndarray, np.ndarray | None]:
        if same_edit(spec, self.target):
            self.revealed = self.anomaly.copy()
            return self.revealed, self.mask.astype(np.float32)
        return self.inner.edit(image, spec, rng, scene)


class RevealImageGeneration(ImageGeneration):
    """The IG tool (same name, schema and run) over a ``RevealEditor``."""

    def __init__(self, editor: RevealEditor) -> None:
        Tool.__init__(self)
        self.editor = editor


class RevealMaskGeneration(MaskGeneration):
    """The MG tool; for the revealed anomaly it returns the real mask."""

    def __init__(self, editor: RevealEditor) -> None:
        super().__init__()
        self.editor = editor

    def run(self, arguments: dict[str, Any], state) -> Observation:
        obs = super().run(arguments, state)  # order checks and the change detector's mask
        if self.editor.revealed is None or state.edited is not self.editor.revealed:
            return obs
        detected, mask = state.mask, self.editor.mask.copy()
        state.mask = mask
        return Observation(
            text=f"Mask generated: {mask.mean():.2%} of the image. Give the final answer.",
            payload={"area_fraction": float(mask.mean())},
            image=mask.astype(np.uint8) * 255,
            hidden={"iou_vs_alpha": 1.0, "detected_iou": iou(detected, mask)},
        )


@dataclass
class Source:
    """A real anomaly ready for trajectories: ``normal`` is its chosen reconstruction,
    ``target`` the extracted spec (with instruction), ``entry`` the knowledge entry."""

    task: Task
    anomaly: np.ndarray
    mask: np.ndarray
    normal: np.ndarray
    target: DefectSpec
    entry: KnowledgeEntry | None


@dataclass
class Built:
    """A finished reverse trajectory and how it was made."""

    trajectory: Trajectory
    n: int
    kr: bool
    flaws: list[list[str]] = field(default_factory=list)
    chain: str = "none"  # "none" (N=1), "single", "nested" or "sequential"
    revealed_step: int = -1
    tries: int = 0


class Builder:
    """Runs scripted episodes for one source (toolbox and knowledge base reused)."""

    def __init__(self, source: Source, kb: KnowledgeBase | None = None, critic: str = "measured") -> None:
        self.source, self.kb, self.critic = source, kb or KnowledgeBase.default(), critic
        state = new_state(source.task, source.normal, self.kb)
        self.ctx = FlawContext(state.foreground, state.kind, source.entry)
        self.runs = 0
        self._seen: dict[str, Observation | None] = {}  # script -> its last QE (episodes are deterministic)

    def toolbox(self) -> ToolBox:
        editor = RevealEditor(self.source.target, self.source.anomaly, self.source.mask)
        return ToolBox([PromptGeneration(self.kb), RevealImageGeneration(editor), QualityEvaluation(self.critic),
                        KnowledgeRetrieval(self.kb), RevealMaskGeneration(editor)])

    def run(self, actions: list[Action], task: Task) -> Trajectory:
        self.runs += 1
        return run_episode(task, self.source.normal, ScriptedPolicy(actions), self.toolbox(), kb=self.kb).trajectory

    # -- actions ---------------------------------------------------------------------
    def ig(self, spec: DefectSpec, thought: str) -> Action:
        spec = spec.replace(instruction=instruction(spec, self.source.entry))
        return Action(thought, ToolCall("IG", ig_arguments(spec)))

    def first_thought(self, spec: DefectSpec) -> str:
        name = self.source.task.defect_type.replace("_", " ")
        return (f"Adapt the plan to this image: a {name} drawn as {spec.family}, about {spec.size:.0%} of the shorter "
                f"side, centred at ({spec.center[0]:.0%}, {spec.center[1]:.0%}), intensity {spec.intensity:.2f}.")

    def fix_thought(self, qe: Observation, fixed: tuple[str, ...], kr: bool) -> str:
        texts = [a.get("text", "").strip().rstrip(".") for a in qe.payload.get("advice", [])]
        advice = ". ".join(t for t in texts if t) or "the review asks for changes"
        fixes = " and ".join(FLAWS[f].fix for f in fixed) or "adjust the edit"
        known = ""
        if kr and self.source.entry is not None:
            known = f" The knowledge base says: {self.source.entry.shape.rstrip('.')}; edges {self.source.entry.edges.rstrip('.')}."
        return f"Refine following the review: {advice}.{known} So I {fixes}."

    # -- search ----------------------------------------------------------------------
    def variants(self, rng: np.random.Generator) -> dict[str, DefectSpec]:
        """Each applicable single flaw applied to the target."""
        out = {}
        for name, flaw in FLAWS.items():
            spec = flaw.apply(self.source.target, self.ctx, rng)
            if spec is not None and not same_edit(spec, self.source.target):
                out[name] = spec
        return out

    @staticmethod
    def compose(target: DefectSpec, variants: dict[str, DefectSpec], names: tuple[str, ...]) -> DefectSpec:
        out = target.to_dict()
        for name in names:
            data = variants[name].to_dict()
            for key in FLAW_FIELDS[name]:
                out[key] = data[key]
        return DefectSpec.from_dict(out)

    def _qe_after(self, actions: list[Action], task: Task) -> Observation | None:
        """The last QE observation of the scripted episode (None when it never got there);
        a script already run is not run again."""
        key = json.dumps([task.to_dict()] + [[a.thought, a.call.to_dict() if a.call else None, a.answer] for a in actions],
                         sort_keys=True)
        if key not in self._seen:
            traj = self.run(actions, task)
            qe = [s for s in traj.steps if s.call is not None and s.call.name == "QE"]
            complete = qe and len(qe) == sum(a.call is not None and a.call.name == "QE" for a in actions)
            self._seen[key] = qe[-1].observation if complete else None
        return self._seen[key]

    def attempt(self, prefix: list[Action], spec: DefectSpec, thought: str, names: tuple[str, ...],
                task: Task) -> tuple[list[Action], Observation, tuple[str, ...]] | None:
        """Append IG(spec) + QE to ``prefix``; (actions, QE observation, flaws the review
        named) when QE fails, else None."""
        actions = prefix + [self.ig(spec, thought), Action("Have the edit judged.", ToolCall("QE", {}))]
        qe = self._qe_after(actions, task)
        if qe is None or qe.error or qe.payload.get("passed", True):
            return None
        return actions, qe, addressed(names, qe.payload.get("advice", []))

    def chains(self, n: int, names: list[str]) -> list[tuple[str, list[tuple[str, ...]]]]:
        """Candidate flaw chains for ``n`` IG turns, in the order of ``names`` (shuffled
        by the caller): one or two flaws fixed at once (n = 2); a pair of which the
        review names only part, or two single flaws in turn (n = 3)."""
        singles = [(f,) for f in names]
        pairs = [p for p in itertools.combinations(names, 2) if not (FLAW_FIELDS[p[0]] & FLAW_FIELDS[p[1]])]
        if n == 2:
            return [("single", [s]) for s in singles] + [("single", [p]) for p in pairs]
        if n == 3:
            nested = [("nested", [p]) for p in pairs]
            sequential = [("sequential", [a, b]) for a in singles for b in singles if a != b]
            mixed = [c for pair in itertools.zip_longest(nested, sequential) for c in pair if c is not None]
            return mixed
        return []

    def build(self, n: int, kr: bool, task: Task, rng: np.random.Generator) -> Built | None:
        """One trajectory with ``n`` IG turns (KR after the first failed QE when ``kr``),
        or None when no flaw chain the critic recognises was found within MAX_TRIES or
        QE does not pass the real anomaly."""
        if n not in (1, 2, 3):
            raise ValueError(f"n must be 1, 2 or 3 IG turns, got {n}")
        target = self.source.target
        self.runs = 0
        pg = [Action(f"First, plan a localized {task.defect_type.replace('_', ' ')} for this "
                     f"{task.category.replace('_', ' ')} image.", ToolCall("PG", {}))]
        flaws: list[tuple[str, ...]] = []
        chain, thought = "none", f"Write the edit for this image: {target.instruction}"
        prefix = pg
        if n > 1:
            variants = self.variants(rng)
            names = list(variants)
            rng.shuffle(names)
            found = self._search(pg, self.chains(n, names), kr, task, variants)
            if found is None:
                log.debug("%s: no flaw chain for N=%d found in %d runs", task.task_id, n, self.runs)
                return None
            prefix, flaws, chain, last_qe = found
            thought = self.fix_thought(last_qe, flaws[-1], kr and n == 2)
        actions = prefix + [self.ig(target, thought), Action("Have the edit judged.", ToolCall("QE", {}))]
        qe = self._qe_after(actions, task)
        if qe is None or not qe.payload.get("passed"):
            log.debug("%s: the real anomaly does not pass QE (%s)", task.task_id, qe.text if qe else "no QE")
            return None
        actions += [Action(f"Score {qe.payload['score']:.1f} passes; generate the mask.", ToolCall("MG", {})),
                    Action("The mask is ready.", answer=f"done: {task.defect_type} synthesized with mask")]
        traj = self.run(actions, task)
        steps = [s for s in traj.steps if s.call is not None]
        if not traj.passed or traj.stop_reason != "finished" or steps[-1].call.name != "MG":
            raise RuntimeError(f"{task.task_id}: the scripted replay diverged from its search run ({traj.stop_reason})")
        for step in traj.steps:  # wall-clock times would make equal seeds give different bytes
            step.seconds = 0.0
        revealed = max(s.index for s in steps if s.call.name == "IG")
        return Built(traj, n, kr and n > 1, [list(f) for f in flaws], chain, revealed, self.runs)

    def _search(self, pg: list[Action], chains, kr: bool, task: Task,
                variants: dict[str, DefectSpec]) -> tuple[list[Action], list[tuple[str, ...]], str, Observation] | None:
        """The first chain whose every attempt fails QE with a review that names the
        flaws the following attempt removes: (actions so far, flaws per attempt, chain
        kind, the last QE observation)."""
        target = self.source.target
        kr_action = [Action("The edit failed; look up how this defect really looks.", ToolCall("KR", {}))] if kr else []
        for chain, first in chains:
            if self.runs >= MAX_TRIES:
                return None
            spec1 = self.compose(target, variants, first[0])
            got = self.attempt(pg, spec1, self.first_thought(spec1), first[0], task)
            if got is None:
                continue
            actions, qe, named = got
            if chain == "single":
                if set(named) == set(first[0]):
                    return actions + kr_action, [first[0]], chain, qe
                continue
            if chain == "nested" and named and set(named) != set(first[0]):
                rest = tuple(f for f in first[0] if f not in named)
            elif chain == "sequential" and set(named) == set(first[0]):
                rest = first[1]
            else:
                continue
            got2 = self.attempt(actions + kr_action, self.compose(target, variants, rest),
                                self.fix_thought(qe, named, kr), rest, task)
            if got2 is not None and set(got2[2]) == set(rest):
                return got2[0], [first[0], rest], chain, got2[1]
        return None
