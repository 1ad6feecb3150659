"""The one agent loop: policy -> tool call -> observation, until an answer or the budget.

Every policy (rules, a learned embedded policy, a multimodal LLM) runs through
``run_episode``; what differs is only how a policy chooses its next action.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..foreground import foreground
from ..knowledge import KnowledgeBase
from ..records import Step, Task, ToolCall, Trajectory
from ..tools import EpisodeState, ToolBox
from .policy import Policy, PolicyError

MAX_TURNS = 10  # the paper's budget: tool calls plus the final answer


@dataclass
class Episode:
    """A finished episode: the trajectory (serialisable) and the tools' final state."""

    trajectory: Trajectory
    state: EpisodeState


def category_kind(category: str, image: np.ndarray, kb: KnowledgeBase | None = None) -> str:
    """"object" or "texture": from the knowledge base, else guessed from the image."""
    cat = (kb or KnowledgeBase.default()).category(category)
    return cat.kind if cat is not None else "auto"


def new_state(task: Task, image: np.ndarray, kb: KnowledgeBase | None = None, product=None) -> EpisodeState:
    """Fresh tool state for ``task`` on ``image``; tool randomness derives from the task seed.

    ``product``: the category's ProductModel (anomalyagent.product) or None; with one, the
    object mask and parts come from it, else from the foreground estimate.
    """
    if product is not None:
        fg, parts = product.locate(image)
        return EpisodeState(task=task, image=image, kind=product.kind, foreground=fg, rng=np.random.default_rng([task.seed, 1]),
                            parts=parts)
    kind = category_kind(task.category, image, kb)
    fg = foreground(image, kind)
    if kind == "auto":
        kind = "texture" if fg.all() else "object"
    return EpisodeState(task=task, image=image, kind=kind, foreground=fg, rng=np.random.default_rng([task.seed, 1]))


def run_episode(task: Task, image: np.ndarray, policy: Policy, tools: ToolBox, max_turns: int = MAX_TURNS,
                kb: KnowledgeBase | None = None, product=None) -> Episode:
    """Run one synthesis episode on the normal ``image`` and return its trajectory and state."""
    state = new_state(task, image, kb, product)
    trajectory = Trajectory(task=task)
    policy.reset(task, image, tools)
    for turn in range(max_turns):
        start = time.perf_counter()
        try:
            action = policy.act(trajectory)
        except PolicyError as exc:
            trajectory.stop_reason = f"policy_error: {exc}"
            break
        step = Step(index=turn, thought=action.thought)
        if action.call is None:
            step.answer = action.answer or ""
            step.seconds = time.perf_counter() - start
            trajectory.steps.append(step)
            trajectory.stop_reason = "finished"
            break
        call = action.call if action.call.id else ToolCall(action.call.name, action.call.arguments, id=f"call_{turn}")
        step.call = call
        step.observation = tools.execute(call, state)
        step.seconds = time.perf_counter() - start
        trajectory.steps.append(step)
    else:
        trajectory.stop_reason = "max_turns"
    j = state.judgement
    trajectory.passed = bool(state.mask is not None and j is not None and j.passed)
    trajectory.score = float(j.score) if j is not None else 0.0
    return Episode(trajectory, state)
