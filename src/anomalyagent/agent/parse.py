"""Model text back into an action: ``<think>``, one ``<tool_call>`` JSON, or ``<answer>``.

Model output is untrusted, so parsing is linear-time and bounded: tags are found with
``str.find`` (no backtracking regex; 220 KB of repeated tags parses in milliseconds),
a reply over ``MAX_REPLY_CHARS`` or a call body over ``MAX_CALL_CHARS`` is refused, JSON
integers over 18 digits, NaN/Infinity, floats that overflow to inf and nesting deeper
than ``MAX_DEPTH`` are refused, and a ``<tool_call>`` quoted inside ``<think>`` is part
of the thought, never executed. Every refusal is a ``FormatError`` whose message the
loop shows to the policy as an error observation (the episode goes on).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ..records import ToolCall

MAX_REPLY_CHARS = 256_000  # a reply longer than this is refused whole (characters)
MAX_CALL_CHARS = 16_000  # the JSON body of one tool call (characters)
MAX_DEPTH = 6  # JSON nesting: {"name", "arguments": {"center": [x, y]}} needs 3
MAX_INT_DIGITS = 18  # fits int64; longer integers are refused before int() runs

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"


class PolicyError(RuntimeError):
    """The policy could not produce a reply at all (a model backend failed, for instance).

    Raised by a policy; ends the episode with ``stop_reason = "policy_error: ..."``.
    """


class FormatError(PolicyError):
    """A reply that is not a well-formed action; the loop turns it into an error observation."""


@dataclass
class Action:
    """A thought plus either a tool call or a final answer."""

    thought: str = ""
    call: ToolCall | None = None
    answer: str | None = None


def _reject_constant(name: str) -> Any:
    raise FormatError(f"tool call contains {name}; numbers must be finite")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise FormatError(f"tool call contains an integer of {len(text)} digits; at most {MAX_INT_DIGITS} are allowed")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > 64:
        raise FormatError(f"tool call contains a number written with {len(text)} characters; at most 64 are allowed")
    value = float(text)
    if not math.isfinite(value):
        raise FormatError(f"tool call contains {text[:20]}, which is not a finite number")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, iteratively (no recursion on hostile input)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            return level
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def _bracket_depth(text: str) -> int:
    """JSON nesting counted on the raw text in one pass, skipping string contents."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _loads(body: str) -> Any:
    """Untrusted JSON text -> value, within the limits above (FormatError otherwise)."""
    if len(body) > MAX_CALL_CHARS:
        raise FormatError(f"tool call is {len(body)} characters long; at most {MAX_CALL_CHARS} are allowed")
    # Checked before json.loads so a 10,000-deep nesting never reaches the recursive decoder.
    if _bracket_depth(body) > MAX_DEPTH:
        raise FormatError(f"tool call JSON is nested too deeply (at most {MAX_DEPTH} levels)")
    try:
        data = json.loads(body, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_reject_constant)
    except FormatError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise FormatError(f"tool call is not valid JSON: {str(exc)[:200]}") from None
    if _depth(data) > MAX_DEPTH:
        raise FormatError(f"tool call JSON is nested too deeply (at most {MAX_DEPTH} levels)")
    return data


def parse_json_call(body: str) -> ToolCall:
    """``{"name": str, "arguments": object}`` -> ToolCall, or FormatError. Arguments written
    as a JSON string (some models do) are decoded under the same limits."""
    data = _loads(body)
    if isinstance(data, dict) and isinstance(data.get("arguments"), str):
        data = {**data, "arguments": _loads(data["arguments"])}
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not isinstance(data.get("arguments", {}), dict):
        raise FormatError('tool call must be {"name": str, "arguments": object}')
    extra = set(data) - {"name", "arguments"}
    if extra:
        raise FormatError(f"tool call has unknown keys {sorted(extra)[:5]}; only name and arguments")
    if len(data["name"]) > 64:
        raise FormatError("tool name is longer than 64 characters")
    return ToolCall(data["name"], data.get("arguments", {}))


def split_thought(text: str) -> tuple[str, str]:
    """(thought, rest). The thought ends at the first ``</think>``; a leading ``<think>`` is
    optional (thinking templates put it in the prompt). Text inside it is never executed."""
    close = text.find(THINK_CLOSE)
    if close < 0:
        if text.find(THINK_OPEN) >= 0:
            raise FormatError("<think> is never closed; close it with </think> before the tool call or answer")
        return "", text
    head = text[:close]
    opened = head.find(THINK_OPEN)
    thought = head[opened + len(THINK_OPEN):] if opened >= 0 else head
    return thought.strip(), text[close + len(THINK_CLOSE):]


def _block(rest: str, open_tag: str, close_tag: str) -> str | None:
    """The single ``open ... close`` block in ``rest`` (None if absent); FormatError when unclosed or repeated."""
    start = rest.find(open_tag)
    if start < 0:
        return None
    end = rest.find(close_tag, start + len(open_tag))
    if end < 0:
        raise FormatError(f"{open_tag} is never closed with {close_tag}")
    if rest.find(open_tag, end) >= 0:
        raise FormatError(f"one {open_tag} per turn; the reply has several")
    return rest[start + len(open_tag):end]


def parse_action(text: str) -> Action:
    """An Action from a model's raw reply, or FormatError saying what is wrong with it."""
    if not isinstance(text, str):
        raise FormatError(f"a reply must be text, got {type(text).__name__}")
    if len(text) > MAX_REPLY_CHARS:
        raise FormatError(f"reply is {len(text)} characters long; at most {MAX_REPLY_CHARS} are allowed")
    thought, rest = split_thought(text)
    body = _block(rest, CALL_OPEN, CALL_CLOSE)
    answer = _block(rest, ANSWER_OPEN, ANSWER_CLOSE)
    if body is not None and answer is not None:
        raise FormatError("a turn is either one <tool_call> or one <answer>, not both")
    if body is not None:
        return Action(thought, parse_json_call(body.strip()))
    if answer is not None:
        return Action(thought, answer=answer.strip())
    raise FormatError("the reply has neither <tool_call>{...}</tool_call> nor <answer>...</answer> after </think>")
