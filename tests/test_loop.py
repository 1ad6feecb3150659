import json

import numpy as np
import pytest

from anomalyagent.agent import (Action, PolicyError, RulePolicy, ScriptedPolicy, assistant_text, parse_action,
                                run_episode, to_messages)
from anomalyagent.records import Task, ToolCall
from anomalyagent.tools import default_toolbox

from conftest import object_image


@pytest.fixture(scope="module")
def tools():
    return default_toolbox()


@pytest.fixture
def image():
    return object_image(np.random.default_rng(5), 128)


def test_rule_policy_runs_the_expert_order(tools, image):
    ep = run_episode(Task("x.png", "hazelnut", "hole", seed=1), image, RulePolicy(), tools)
    names = ep.trajectory.tool_names
    assert names[:3] == ["PG", "IG", "QE"]
    assert ep.trajectory.stop_reason == "finished"
    assert len(ep.trajectory.steps) <= 10
    if ep.trajectory.passed:
        assert names[-1] == "MG" and ep.state.mask.any()
    qe = [i for i, n in enumerate(names) if n == "QE"]
    if len(qe) > 1:  # a failed QE is followed by KR (once) and a refined IG
        assert "KR" in names and names.count("KR") == 1 and names.count("PG") == 1


def test_same_seed_same_bytes(tools, image):
    a = run_episode(Task("x.png", "hazelnut", "crack", seed=9), image, RulePolicy(), tools)
    b = run_episode(Task("x.png", "hazelnut", "crack", seed=9), image, RulePolicy(), tools)
    assert a.trajectory.to_dict() | {"steps": None} == b.trajectory.to_dict() | {"steps": None}
    assert np.array_equal(a.state.edited, b.state.edited)
    assert [s.call.to_dict() if s.call else s.answer for s in a.trajectory.steps] == \
           [s.call.to_dict() if s.call else s.answer for s in b.trajectory.steps]


def test_bad_calls_never_crash_the_loop(tools, image):
    script = [
        Action("nonsense", ToolCall("DRAW", {})),
        Action("too early", ToolCall("MG", {})),
        Action("bad args", ToolCall("IG", {"instruction": "x", "size": -1})),
        Action("no plan", ToolCall("IG", {"instruction": "x"})),
        Action("plan", ToolCall("PG", {})),
        Action("edit", ToolCall("IG", {"instruction": "x"})),
    ]
    ep = run_episode(Task("x.png", "hazelnut", "hole"), image, ScriptedPolicy(script), tools)
    errors = [s.observation.error for s in ep.trajectory.steps if s.observation]
    assert errors == [True, True, True, True, False, False]
    assert ep.trajectory.stop_reason == "finished" and not ep.trajectory.passed


def test_turn_budget_is_enforced(tools, image):
    script = [Action("", ToolCall("KR", {}))] * 20
    ep = run_episode(Task("x.png", "hazelnut", "hole"), image, ScriptedPolicy(script), tools, max_turns=4)
    assert len(ep.trajectory.steps) == 4 and ep.trajectory.stop_reason == "max_turns"


def test_policy_error_stops_cleanly(tools, image):
    class Failing:
        def reset(self, *a):
            pass

        def act(self, trajectory):
            raise PolicyError("backend down")

    ep = run_episode(Task("x.png", "hazelnut", "hole"), image, Failing(), tools)
    assert ep.trajectory.stop_reason.startswith("policy_error") and not ep.trajectory.steps


def test_chat_messages_and_parse_roundtrip(tools, image):
    ep = run_episode(Task("x.png", "hazelnut", "hole", seed=2), image, RulePolicy(), tools)
    ep.trajectory.steps[1].observation.image_ref = "attempt_1.png"
    msgs = to_messages(ep.trajectory, tools.schemas(), image_ref=lambda p: f"imgs/{p}")
    assert [m["role"] for m in msgs[:3]] == ["system", "user", "assistant"]
    system = msgs[0]["content"][0]["text"]
    for name in ("PG", "IG", "QE", "KR", "MG"):
        assert f'"name": "{name}"' in system
    assert msgs[1]["content"][0] == {"type": "image", "image": "imgs/normal.png"}
    tool_msgs = [m for m in msgs if m["role"] == "tool"]
    assert {"type": "image", "image": "imgs/attempt_1.png"} in tool_msgs[1]["content"]
    for step in ep.trajectory.steps:
        action = parse_action(assistant_text(step))
        assert action.thought == step.thought
        if step.call:
            assert action.call.name == step.call.name and action.call.arguments == json.loads(json.dumps(step.call.arguments))
        else:
            assert action.answer == step.answer


@pytest.mark.parametrize("text", ["no tags here", "<tool_call>{not json}</tool_call>", '<tool_call>["PG"]</tool_call>',
                                  '<tool_call>{"name": 3}</tool_call>'])
def test_parse_rejects_untrusted_output(text):
    with pytest.raises(PolicyError):
        parse_action(text)
