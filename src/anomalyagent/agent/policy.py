"""Policies: what chooses the next tool call. The loop is the same for all of them.

``RulePolicy`` follows the expert order PG -> IG -> QE -> (KR once) -> refined IG -> QE
... -> MG -> answer, refining the spec from the critic's advice. ``ScriptedPolicy``
replays a fixed list of actions (tests, reverse-synthesised trajectories).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..foreground import foreground
from ..knowledge import KnowledgeBase
from ..knowledge.entry import KnowledgeEntry
from ..planning import refine
from ..records import DefectSpec, Task, ToolCall, Trajectory
from ..registry import Registry


class PolicyError(RuntimeError):
    """The policy could not produce an action (a model backend failed, for instance)."""


@dataclass
class Action:
    """A thought plus either a tool call or a final answer."""

    thought: str = ""
    call: ToolCall | None = None
    answer: str | None = None


class Policy(Protocol):
    def reset(self, task: Task, image: np.ndarray, tools: Any) -> None: ...

    def act(self, trajectory: Trajectory) -> Action: ...


POLICIES: Registry[Policy] = Registry("policy")

# An IG turn needs three more (IG, QE, MG) plus the answer.
_TURNS_FOR_ATTEMPT = 4
_SPEC_KEYS = ("family", "center", "size", "angle", "aspect", "intensity", "color", "blend")


def ig_arguments(spec: DefectSpec) -> dict[str, Any]:
    """IG call arguments that state ``spec`` fully (instruction plus structured fields)."""
    data = spec.to_dict()
    return {"instruction": spec.instruction, **{k: data[k] for k in _SPEC_KEYS}}


@POLICIES.register("rule")
class RulePolicy:
    """The expert procedure as rules; the reference every learned policy is compared with."""

    def __init__(self, max_turns: int = 10, kb: KnowledgeBase | None = None) -> None:
        self.max_turns = max_turns
        self.kb = kb

    def reset(self, task: Task, image: np.ndarray, tools: Any) -> None:
        self.task = task
        kb = self.kb or KnowledgeBase.default()
        cat = kb.category(task.category)
        self.fg = foreground(image, cat.kind if cat else "auto")
        self.entry: KnowledgeEntry | None = None
        self.rng = np.random.default_rng([task.seed, 2])

    def act(self, trajectory: Trajectory) -> Action:
        steps = [s for s in trajectory.steps if s.call is not None]
        remaining = self.max_turns - len(trajectory.steps)
        ok = [s for s in steps if not s.observation.error]
        if not ok or ok[0].call.name != "PG":
            if any(s.call.name == "PG" for s in steps):
                return Action("Planning failed; I cannot continue.", answer="failed: no plan")
            return Action("First, plan a localized defect for this image.", ToolCall("PG", {}))
        last = steps[-1]
        if last.observation.error:
            if sum(s.observation.error for s in steps) >= 3 or remaining < _TURNS_FOR_ATTEMPT:
                return Action("Too many failed calls; stopping.", answer="failed: tool errors")
            spec = self._spec(ok)
            return Action("The last call failed; retry the edit with the current plan.", ToolCall("IG", ig_arguments(spec)))
        name, payload = last.call.name, last.observation.payload
        if name == "PG":
            spec = DefectSpec.from_dict(payload["spec"])
            return Action("Apply the planned edit to the normal image.", ToolCall("IG", ig_arguments(spec)))
        if name == "IG":
            return Action("Have the edit judged.", ToolCall("QE", {}))
        if name == "MG":
            return Action("The mask is ready.", answer=f"done: {trajectory.task.defect_type} synthesized with mask")
        if name == "QE" and payload["passed"]:
            return Action(f"Score {payload['score']:.1f} passes; generate the mask.", ToolCall("MG", {}))
        if name == "KR":
            self.entry = KnowledgeEntry.from_dict(payload["entry"])
        if remaining < _TURNS_FOR_ATTEMPT:
            return Action("The turn budget is spent without a passing edit.", answer="failed: no passing edit within the turn budget")
        if name == "QE" and not any(s.call.name == "KR" for s in ok):
            return Action("The edit failed; look up how this defect really looks.", ToolCall("KR", {}))
        qe = next(s for s in reversed(ok) if s.call.name == "QE")
        advice = qe.observation.payload.get("advice", [])
        spec = refine(self._spec(ok), advice, self.entry, self.fg, self.rng)
        reasons = "; ".join(a.get("text", "") for a in advice) or "try a new variation"
        return Action(f"Refine following the review: {reasons}", ToolCall("IG", ig_arguments(spec)))

    def _spec(self, ok_steps: list) -> DefectSpec:
        """The latest spec the tools accepted (from the last IG, else from PG)."""
        for s in reversed(ok_steps):
            if s.call.name in ("IG", "PG") and "spec" in s.observation.payload:
                return DefectSpec.from_dict(s.observation.payload["spec"])
        raise PolicyError("no spec in the trajectory")


@POLICIES.register("scripted")
class ScriptedPolicy:
    """Replays ``actions`` in order; answers when they run out."""

    def __init__(self, actions: list[Action]) -> None:
        self.actions = list(actions)

    def reset(self, task: Task, image: np.ndarray, tools: Any) -> None:
        self._next = 0

    def act(self, trajectory: Trajectory) -> Action:
        if self._next >= len(self.actions):
            return Action(answer="script finished")
        action = self.actions[self._next]
        self._next += 1
        return action


@POLICIES.register("learned")
def _learned_policy(**kwargs: Any) -> Policy:
    """The embedded learned policy (anomalyagent.policy_net); imported only when asked (torch)."""
    from ..policy_net import LearnedPolicy

    return LearnedPolicy(**kwargs)
