"""parse_action against hostile model output: errors, never crashes, linear time."""
import json
import time

import pytest

from anomalyagent.agent import Action, FormatError, action_text, parse_action
from anomalyagent.records import ToolCall


def test_roundtrip_of_a_well_formed_call_and_answer():
    action = Action("plan first", ToolCall("IG", {"instruction": "a crack", "center": [0.25, 0.5], "size": 0.125}))
    parsed = parse_action(action_text(action))
    assert parsed.thought == "plan first" and parsed.call.to_dict() == action.call.to_dict()
    assert parse_action("<think>x</think><answer> done </answer>").answer == "done"


def test_thinking_without_an_opening_tag_is_the_thought():
    # Qwen3 thinking templates put <think> in the prompt; the reply starts inside it.
    parsed = parse_action('reasoning here</think>\n<tool_call>{"name": "PG", "arguments": {}}</tool_call>')
    assert parsed.thought == "reasoning here" and parsed.call.name == "PG"


def test_a_tool_call_quoted_inside_think_is_not_executed():
    text = '<think>I could call <tool_call>{"name": "MG", "arguments": {}}</tool_call> but no.</think><answer>stop</answer>'
    parsed = parse_action(text)
    assert parsed.call is None and parsed.answer == "stop" and "MG" in parsed.thought
    with pytest.raises(FormatError, match="neither"):
        parse_action('<think>only quoted: <tool_call>{"name": "PG", "arguments": {}}</tool_call></think>')


@pytest.mark.parametrize("body,message", [
    ('{"name": "IG", "arguments": {"size": ' + "9" * 5000 + "}}", "digits"),
    ('{"name": "IG", "arguments": {"size": NaN}}', "NaN"),
    ('{"name": "IG", "arguments": {"size": Infinity}}', "Infinity"),
    ('{"name": "IG", "arguments": {"size": -Infinity}}', "Infinity"),
    ('{"name": "IG", "arguments": {"size": 1e999}}', "not a finite number"),
    ('{"name": "IG", "arguments": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
    ('{"name": "IG", "arguments": {"a": ' + '{"a": ' * 50 + "1" + "}" * 50 + "}}", "nested too deeply"),
    ("{not json}", "not valid JSON"),
    ('["PG"]', "must be"),
    ('{"name": 3}', "must be"),
    ('{"name": "PG", "arguments": {}, "extra": 1}', "unknown keys"),
    ('{"name": "PG", "arguments": {"x": "' + "a" * 20000 + '"}}', "characters long"),
])
def test_hostile_call_bodies_are_format_errors(body, message):
    with pytest.raises(FormatError, match=message):
        parse_action(f"<tool_call>{body}</tool_call>")


@pytest.mark.parametrize("text,message", [
    ("no tags here", "neither"),
    ("<think>never closed", "never closed"),
    ("<tool_call>{}", "never closed"),
    ('<tool_call>{"name": "PG"}</tool_call><tool_call>{"name": "PG"}</tool_call>', "several"),
    ('<tool_call>{"name": "PG"}</tool_call><answer>x</answer>', "not both"),
    ("x" * 300_000, "characters long"),
])
def test_malformed_replies_are_format_errors(text, message):
    with pytest.raises(FormatError, match=message):
        parse_action(text)


@pytest.mark.parametrize("unit", ["<think>", "</think>", "<tool_call>", "<think><tool_call>", "<answer>", "</tool_call><tool_call>"])
def test_220_kb_of_repeated_tags_parses_in_linear_time(unit):
    text = unit * (220_000 // len(unit))
    start = time.perf_counter()
    try:
        parse_action(text)
    except FormatError:
        pass
    assert time.perf_counter() - start < 0.25  # the old regex took ~15 s on this input


def test_numbers_come_back_exactly():
    arguments = {"instruction": "x", "angle": -37.123456789012345, "center": [0.1, 0.30000000000000004]}
    parsed = parse_action(f"<tool_call>{json.dumps({'name': 'IG', 'arguments': arguments})}</tool_call>")
    assert parsed.call.arguments == arguments


def test_arguments_written_as_a_json_string_are_decoded_under_the_same_limits():
    parsed = parse_action('<tool_call>{"name": "IG", "arguments": "{\\"instruction\\": \\"x\\", \\"size\\": 0.2}"}</tool_call>')
    assert parsed.call.arguments == {"instruction": "x", "size": 0.2}
    with pytest.raises(FormatError, match="NaN"):
        parse_action('<tool_call>{"name": "IG", "arguments": "{\\"size\\": NaN}"}</tool_call>')
    with pytest.raises(FormatError, match="must be"):
        parse_action('<tool_call>{"name": "IG", "arguments": "[1]"}</tool_call>')
