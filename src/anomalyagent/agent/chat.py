"""Trajectories as chat messages: the ONE rendering used by live episodes and exported data.

The message format is what multimodal chat templates (Qwen3-VL's, via transformers /
TRL) take: a system prompt listing the tools, a user turn with the normal image, then
assistant turns whose text is ``<think>...</think>`` plus ``<tool_call>{json}</tool_call>``
(or ``<answer>...</answer>``), and ``tool`` turns carrying each tool's text and image.
Images are referenced by name (``{"type": "image", "image": "turn01_IG.png"}``): a live
episode keeps the pixels in ``Conversation.images`` under that name; an exporter maps
the names to file paths with ``image_ref``. A reply that could not be parsed is kept
verbatim (``Step.reply``) and answered by a tool turn with the error.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from ..records import Step, Trajectory
from .parse import Action, FormatError, PolicyError, parse_action  # noqa: F401  (re-exported: old import path)

SYSTEM_PROMPT = """You are an industrial anomaly synthesis agent. Given a normal image of a product or \
surface, its category and a defect type, you create a realistic defect on the image and its pixel mask \
by calling tools, one call per turn. Expected order: PG once, then IG, then QE; when QE fails, call KR \
(physical knowledge of the defect) and write a refined instruction for IG that follows the review; when \
QE passes, call MG once, then give the final answer. At most {max_turns} turns.

Each turn, think inside <think>...</think>, then either call one tool as
<tool_call>{{"name": "TOOL", "arguments": {{...}}}}</tool_call>
or finish with <answer>...</answer>.

Tools:
{tools}"""

USER_PROMPT = "Create a realistic '{defect}' defect on this {category} image and produce its mask."
NORMAL_IMAGE = "normal.png"  # the name of the episode's input image in messages


def system_prompt(tool_schemas: list[dict[str, Any]], max_turns: int = 10) -> str:
    tools = "\n".join(json.dumps(s, sort_keys=True) for s in tool_schemas)
    return SYSTEM_PROMPT.format(max_turns=max_turns, tools=tools)


def action_text(action: Action) -> str:
    """The text a model writes for ``action`` (what ``parse_action`` reads back exactly)."""
    think = f"<think>{action.thought}</think>\n" if action.thought else ""
    if action.call is not None:
        body = json.dumps({"name": action.call.name, "arguments": action.call.arguments}, sort_keys=True, allow_nan=False)
        return f"{think}<tool_call>{body}</tool_call>"
    return f"{think}<answer>{action.answer or ''}</answer>"


def assistant_text(step: Step) -> str:
    """The assistant text of ``step``: the raw reply when it was malformed, else its canonical form."""
    if step.reply:
        return step.reply
    return action_text(Action(step.thought, step.call, step.answer))


def observation_image_name(step: Step) -> str:
    """Name under which a live episode keeps a step's observation image."""
    tool = step.call.name if step.call is not None else "reply"
    return f"turn{step.index:02d}_{tool}.png"


def task_messages(trajectory: Trajectory, tool_schemas: list[dict[str, Any]], normal_ref: str,
                  max_turns: int) -> list[dict[str, Any]]:
    task = trajectory.task
    return [
        {"role": "system", "content": [{"type": "text", "text": system_prompt(tool_schemas, max_turns)}]},
        {"role": "user", "content": [
            {"type": "image", "image": normal_ref},
            {"type": "text", "text": USER_PROMPT.format(defect=task.defect_type.replace("_", " "),
                                                        category=task.category.replace("_", " "))},
        ]},
    ]


def step_messages(step: Step, ref: Callable[[str], str]) -> list[dict[str, Any]]:
    """The assistant message of ``step`` and, when something came back, its tool message."""
    messages: list[dict[str, Any]] = [{"role": "assistant", "content": [{"type": "text", "text": assistant_text(step)}]}]
    if step.observation is not None:
        content: list[dict[str, Any]] = []
        if step.observation.image_ref:
            content.append({"type": "image", "image": ref(step.observation.image_ref)})
        name = step.call.name if step.call is not None else "reply"
        content.append({"type": "text", "text": f"[{name}] {step.observation.text}"})
        messages.append({"role": "tool", "content": content})
    return messages


def to_messages(
    trajectory: Trajectory,
    tool_schemas: list[dict[str, Any]],
    image_ref: Callable[[str], str] | None = None,
    normal_ref: str = NORMAL_IMAGE,
    max_turns: int = 10,
) -> list[dict[str, Any]]:
    """Chat messages of a trajectory (live or finished).

    ``image_ref(name)`` maps an observation's image name (``Observation.image_ref``) to
    the reference the consumer uses (a dataset path, say); ``normal_ref`` is the normal
    image's name, mapped by ``image_ref`` too.
    """
    ref = image_ref or (lambda name: name)
    messages = task_messages(trajectory, tool_schemas, ref(normal_ref), max_turns)
    for step in trajectory.steps:
        messages.extend(step_messages(step, ref))
    return messages
