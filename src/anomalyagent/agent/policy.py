"""Policies: what writes the next assistant message. The loop is the same for all of them.

``POLICIES`` maps a name to a factory taking keyword arguments (the ``policy`` section of
an AgentConfig); ``build_agent`` calls it once per worker process. A policy implements
``act(conversation) -> Reply | str`` and keeps per-episode state in
``conversation.memory`` so one instance can serve several episodes at once.

``RulePolicy`` follows the expert order PG -> IG -> QE -> (KR once) -> refined IG -> QE
... -> MG -> answer, refining the spec from the critic's advice; it reads the structured
steps and writes its action as text, which the loop parses like a model's reply.
``ScriptedPolicy`` replays fixed actions or raw replies (tests, reverse-synthesised
trajectories). Model-backed policies live in ``agent/model_policy.py``.
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence

from ..foreground import foreground
from ..knowledge import KnowledgeBase
from ..knowledge.entry import KnowledgeEntry
from ..planning import refine
from ..records import DefectSpec, ToolCall
from ..registry import Registry
from .chat import action_text
from .conversation import Conversation, Reply
from .parse import Action, PolicyError


class Policy(Protocol):
    def act(self, conversation: Conversation) -> Reply | str: ...


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
    """The expert procedure as rules; the reference every learned policy is compared with.

    ``max_turns``: budget the rules plan for (default: the episode's); ``kb``: knowledge
    base for the category's kind (default: the built-in one).
    """

    def __init__(self, max_turns: int | None = None, kb: KnowledgeBase | None = None) -> None:
        self.max_turns = max_turns
        self.kb = kb

    def act(self, conversation: Conversation) -> Reply:
        return Reply(action_text(self.decide(conversation)))

    def _memory(self, conversation: Conversation) -> dict[str, Any]:
        memory = conversation.memory
        if "rng" not in memory:  # first turn of this episode
            import numpy as np

            memory["entry"] = None
            memory["rng"] = np.random.default_rng([conversation.task.seed, 2])
        return memory

    def _foreground(self, conversation: Conversation) -> Any:
        """The normal image's foreground estimate, computed when a refinement first needs it
        (most episodes pass at once and never do: a few ms saved per sample)."""
        memory = conversation.memory
        if "fg" not in memory:
            task = conversation.task
            cat = (self.kb or KnowledgeBase.default()).category(task.category)
            memory["fg"] = foreground(conversation.normal, cat.kind if cat else "auto")
        return memory["fg"]

    def decide(self, conversation: Conversation) -> Action:
        memory = self._memory(conversation)
        steps = [s for s in conversation.steps if s.call is not None]
        budget = self.max_turns or conversation.max_turns
        remaining = budget - len(conversation.steps)
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
            return Action("The mask is ready.", answer=f"done: {conversation.task.defect_type} synthesized with mask")
        if name == "QE" and payload["passed"]:
            return Action(f"Score {payload['score']:.1f} passes; generate the mask.", ToolCall("MG", {}))
        if name == "KR":
            memory["entry"] = KnowledgeEntry.from_dict(payload["entry"])
        if remaining < _TURNS_FOR_ATTEMPT:
            return Action("The turn budget is spent without a passing edit.", answer="failed: no passing edit within the turn budget")
        if name == "QE" and not any(s.call.name == "KR" for s in ok):
            return Action("The edit failed; look up how this defect really looks.", ToolCall("KR", {}))
        qe = next(s for s in reversed(ok) if s.call.name == "QE")
        advice = qe.observation.payload.get("advice", [])
        # the product model's masks (empty without one): a defect planned on a part is
        # moved along that part when the review asks for another place
        spec = refine(self._spec(ok), advice, memory["entry"], self._foreground(conversation), memory["rng"],
                      parts=getattr(conversation, "regions", None) or None)
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
    """Replays ``actions`` (Actions, or raw reply strings written as a model would) in
    order, then answers "script finished". With no script it answers at once, so
    ``--policy scripted`` is a valid (if useless) run: every sample fails without an edit.
    """

    def __init__(self, actions: Sequence[Action | str] = (), replies: Sequence[str] = ()) -> None:
        self.actions = list(actions) + list(replies)
        for a in self.actions:
            if not isinstance(a, (Action, str)):
                raise TypeError(f"scripted policy: each step must be an Action or reply text, got {type(a).__name__}")

    def act(self, conversation: Conversation) -> Reply | Action:
        index = conversation.memory.get("next", 0)
        conversation.memory["next"] = index + 1
        if index >= len(self.actions):
            return Reply(action_text(Action(answer="script finished")))
        action = self.actions[index]
        # An Action is rendered by the loop (as_reply), so one with NaN becomes a format error, not a crash.
        return Reply(action) if isinstance(action, str) else action


@POLICIES.register("learned")
def _learned_policy(max_turns: int | None = None, kb: KnowledgeBase | None = None, weights: str | None = None,
                    sample_tools: bool = False, temperature: float = 1.0) -> Policy:
    """The embedded learned policy (anomalyagent.policy_net); imported only when asked (torch)."""
    from ..policy_net import LearnedPolicy

    return LearnedPolicy(max_turns=max_turns, kb=kb, weights=weights, sample_tools=sample_tools, temperature=temperature)
