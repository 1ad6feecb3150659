"""The one agent loop: messages -> policy reply -> parse -> tool call -> observation.

Every policy (rules, a learned embedded policy, a multimodal LLM over HTTP or in
process) runs through ``run_episode``; what differs is only how a policy writes its next
message. Two kinds of failure, kept apart: a reply that is not a well-formed action
(bad tags, bad JSON, an unknown tool, bad arguments) becomes an error observation the
policy can correct, and the episode goes on; a policy that cannot reply at all
(``PolicyError``: the backend is down after its retries) ends the episode.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..foreground import foreground
from ..knowledge import KnowledgeBase
from ..records import Observation, Step, Task, ToolCall, Trajectory
from ..tools import EpisodeState, ToolBox
from ..usage import Usage, add_usage
from .chat import NORMAL_IMAGE, action_text, observation_image_name
from .conversation import Conversation, Reply
from .parse import Action, FormatError, PolicyError, parse_action
from .policy import Policy

MAX_TURNS = 10  # the paper's budget: tool calls plus the final answer
MAX_KEPT_REPLY = 4000  # characters of a malformed reply kept in the trajectory (bounded memory)


@dataclass
class Episode:
    """A finished episode: the trajectory (serialisable), the tools' final state and the live images."""

    trajectory: Trajectory
    state: EpisodeState
    conversation: Conversation | None = None


def category_kind(category: str, image: np.ndarray, kb: KnowledgeBase | None = None) -> str:
    """"object" or "texture": from the knowledge base, else "auto" (guessed from the image)."""
    cat = (kb or KnowledgeBase.default()).category(category)
    return cat.kind if cat is not None else "auto"


def new_state(task: Task, image: np.ndarray, kb: KnowledgeBase | None = None, product=None,
              normals: tuple = (), normal_masks: tuple = (), bank=None, memo=None) -> EpisodeState:
    """Fresh tool state for ``task`` on ``image``; tool randomness derives from the task seed.

    ``product``: the category's ProductModel (anomalyagent.product) or None; with one, the
    object mask and parts come from it, else from the foreground estimate. ``normals``
    (with their object masks ``normal_masks``, or () to estimate them) and ``bank`` (a
    bank.DefectBank) reach the editor: background plates for parts that move or go, and
    donor material for the transplant family. ``memo`` (render.memo.RenderMemo): what the
    editor may reuse between this sample's edits (a new one per episode when None).
    """
    from ..render.memo import RenderMemo

    extras = {"normals": tuple(normals), "normal_masks": tuple(normal_masks), "bank": bank,
              "memo": memo if memo is not None else RenderMemo()}
    if product is not None:
        fg, parts = product.locate(image)
        return EpisodeState(task=task, image=image, kind=product.kind, foreground=fg, rng=np.random.default_rng([task.seed, 1]),
                            parts=parts, product=product, **extras)
    kind = category_kind(task.category, image, kb)
    fg = foreground(image, kind)
    if kind == "auto":
        kind = "texture" if fg.all() else "object"
    return EpisodeState(task=task, image=image, kind=kind, foreground=fg, rng=np.random.default_rng([task.seed, 1]), **extras)


def as_reply(out: Any) -> Reply:
    """A policy's return value as a Reply: Reply, plain text, or (older policies) an Action."""
    if isinstance(out, Reply):
        return out
    if isinstance(out, str):
        return Reply(out)
    if isinstance(out, Action):
        try:
            return Reply(action_text(out))
        except (ValueError, TypeError) as exc:  # NaN/inf or non-JSON values in arguments
            raise FormatError(f"the action cannot be written as a tool call: {exc}") from None
    raise PolicyError(f"a policy must return a Reply or text, got {type(out).__name__}")


def _format_error(reply: str, exc: FormatError) -> tuple[str, Observation]:
    kept = reply if len(reply) <= MAX_KEPT_REPLY else reply[:MAX_KEPT_REPLY] + f"...[{len(reply) - MAX_KEPT_REPLY} characters cut]"
    text = (f"Error: {exc}. Write <think>...</think> then exactly one "
            '<tool_call>{"name": "TOOL", "arguments": {...}}</tool_call> or <answer>...</answer>.')
    return kept or "(empty reply)", Observation(text=text, error=True)


def run_episode(task: Task, image: np.ndarray, policy: Policy, tools: ToolBox, max_turns: int = MAX_TURNS,
                kb: KnowledgeBase | None = None, product=None, **context: Any) -> Episode:
    """Run one synthesis episode on the normal ``image`` and return its trajectory and state.

    ``context``: ``normals``, ``normal_masks``, ``bank`` and ``memo`` for the editor (``new_state``)."""
    state = new_state(task, image, kb, product, **context)
    trajectory = Trajectory(task=task)
    conversation = Conversation(trajectory, tools.schemas(), max_turns, images={NORMAL_IMAGE: image},
                                regions=dict(state.parts))
    reset = getattr(policy, "reset", None)
    if callable(reset):  # policies that keep per-episode state on themselves (single-threaded use)
        reset(task, image, tools)
    for turn in range(max_turns):
        start = time.perf_counter()
        try:
            reply = as_reply(policy.act(conversation))
        except FormatError as exc:  # a code policy produced an invalid action: same as a bad reply
            reply = Reply("", None)
            reply_error: FormatError | None = exc
        except PolicyError as exc:
            trajectory.stop_reason = f"policy_error: {exc}"
            break
        else:
            reply_error = None
        used = Usage(calls=1, seconds=time.perf_counter() - start)
        if reply.usage is not None:
            used.prompt_tokens, used.completion_tokens = reply.usage.prompt_tokens, reply.usage.completion_tokens
        add_usage(state.usage, "policy", used)
        step = Step(index=turn)
        try:
            if reply_error is not None:
                raise reply_error
            action = parse_action(reply.text)
        except FormatError as exc:
            step.reply, step.observation = _format_error(reply.text, exc)
            step.seconds = time.perf_counter() - start
            trajectory.steps.append(step)
            continue
        step.thought = action.thought
        if action.call is None:
            step.answer = action.answer or ""
            step.seconds = time.perf_counter() - start
            trajectory.steps.append(step)
            trajectory.stop_reason = "finished"
            break
        step.call = ToolCall(action.call.name, action.call.arguments, id=f"call_{turn}")
        step.observation = tools.execute(step.call, state)
        if step.observation.image is not None:  # the policy sees its edits (and the mask)
            step.observation.image_ref = observation_image_name(step)
            conversation.images[step.observation.image_ref] = step.observation.image
        step.seconds = time.perf_counter() - start
        trajectory.steps.append(step)
    else:
        trajectory.stop_reason = "max_turns"
    j = state.judgement
    trajectory.passed = bool(state.mask is not None and j is not None and j.passed)
    trajectory.score = float(j.score) if j is not None else 0.0
    return Episode(trajectory, state, conversation)
