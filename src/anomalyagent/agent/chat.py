"""Trajectories as chat messages, and model text back into actions.

The message format is what multimodal chat templates (Qwen3-VL's, via transformers /
TRL) take: a system prompt listing the tools, a user turn with the normal image, then
assistant turns whose text is ``<think>...</think>`` plus ``<tool_call>{json}</tool_call>``
(or ``<answer>...</answer>``), and ``tool`` turns carrying each tool's text and image.
Images are referenced by path (``{"type": "image", "image": "relative/path.png"}``).
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable

from ..records import Step, ToolCall, Trajectory
from .policy import Action, PolicyError

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

_THINK = re.compile(r"<think>(.*?)</think>", re.S)
_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.S)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)


def system_prompt(tool_schemas: list[dict[str, Any]], max_turns: int = 10) -> str:
    tools = "\n".join(json.dumps(s, sort_keys=True) for s in tool_schemas)
    return SYSTEM_PROMPT.format(max_turns=max_turns, tools=tools)


def assistant_text(step: Step) -> str:
    """The text a model would have generated for ``step``."""
    think = f"<think>{step.thought}</think>\n" if step.thought else ""
    if step.call is not None:
        body = json.dumps({"name": step.call.name, "arguments": step.call.arguments}, sort_keys=True)
        return f"{think}<tool_call>{body}</tool_call>"
    return f"{think}<answer>{step.answer or ''}</answer>"


def to_messages(
    trajectory: Trajectory,
    tool_schemas: list[dict[str, Any]],
    image_ref: Callable[[str], str] | None = None,
    normal_ref: str = "normal.png",
    max_turns: int = 10,
) -> list[dict[str, Any]]:
    """Chat messages of a trajectory.

    ``image_ref(name)`` maps an observation's stored image (``Observation.image_ref``) to
    the path the dataset uses; ``normal_ref`` is the normal image's path.
    """
    ref = image_ref or (lambda name: name)
    task = trajectory.task
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": [{"type": "text", "text": system_prompt(tool_schemas, max_turns)}]},
        {"role": "user", "content": [
            {"type": "image", "image": ref(normal_ref)},
            {"type": "text", "text": USER_PROMPT.format(defect=task.defect_type.replace("_", " "), category=task.category.replace("_", " "))},
        ]},
    ]
    for step in trajectory.steps:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": assistant_text(step)}]})
        if step.call is not None and step.observation is not None:
            content: list[dict[str, Any]] = []
            if step.observation.image_ref:
                content.append({"type": "image", "image": ref(step.observation.image_ref)})
            content.append({"type": "text", "text": f"[{step.call.name}] {step.observation.text}"})
            messages.append({"role": "tool", "content": content})
    return messages


def parse_action(text: str) -> Action:
    """An Action from a model's raw text; PolicyError when it has neither call nor answer.

    Model output is untrusted: only a JSON object with a string ``name`` and an object
    ``arguments`` is accepted; the ToolBox validates the arguments themselves.
    """
    think = _THINK.search(text)
    thought = think.group(1).strip() if think else ""
    call = _CALL.search(text)
    if call:
        try:
            data = json.loads(call.group(1).strip())
        except json.JSONDecodeError as exc:
            raise PolicyError(f"tool call is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not isinstance(data.get("arguments", {}), dict):
            raise PolicyError("tool call must be {\"name\": str, \"arguments\": object}")
        return Action(thought, ToolCall(data["name"], data.get("arguments", {})))
    answer = _ANSWER.search(text)
    if answer:
        return Action(thought, answer=answer.group(1).strip())
    raise PolicyError("model output has neither <tool_call> nor <answer>")
