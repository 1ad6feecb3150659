"""The message-centric episode contract: replies in, error observations, images in messages."""
import math

import numpy as np
import pytest

from anomalyagent.agent import Action, PolicyError, Reply, RulePolicy, ScriptedPolicy, run_episode, to_messages
from anomalyagent.records import Task, ToolCall, Trajectory
from anomalyagent.reverse.export import trl_messages
from anomalyagent.tools import default_toolbox

from conftest import object_image


@pytest.fixture(scope="module")
def tools():
    return default_toolbox()


@pytest.fixture
def image():
    return object_image(np.random.default_rng(5), 128)


class Recording:
    """Wraps a policy and keeps the messages and images it was shown each turn."""

    def __init__(self, inner):
        self.inner, self.seen = inner, []

    def act(self, conversation):
        self.seen.append((conversation.messages, dict(conversation.images)))
        return self.inner.act(conversation)


def test_malformed_replies_become_error_observations_and_the_episode_goes_on(tools, image):
    script = ["no tags at all", "<think>bad json</think><tool_call>{nope}</tool_call>",
              '<tool_call>{"name": "IG", "arguments": {"size": ' + "9" * 5000 + "}}</tool_call>",
              Action("plan", ToolCall("PG", {})), "<answer>stop</answer>"]
    ep = run_episode(Task("x.png", "hazelnut", "hole"), image, ScriptedPolicy(script), tools)
    steps = ep.trajectory.steps
    assert [s.observation.error if s.observation else None for s in steps] == [True, True, True, False, None]
    assert steps[0].reply == "no tags at all" and steps[0].call is None and "neither" in steps[0].observation.text
    assert "digits" in steps[2].observation.text and len(steps[2].reply) < 4100  # kept, but bounded
    assert ep.trajectory.stop_reason == "finished" and ep.trajectory.tool_names == ["PG"]
    messages = to_messages(ep.trajectory, tools.schemas())
    assert messages[2] == {"role": "assistant", "content": [{"type": "text", "text": "no tags at all"}]}
    assert messages[3]["role"] == "tool" and messages[3]["content"][0]["text"].startswith("[reply] Error:")
    again = Trajectory.from_dict(ep.trajectory.to_dict())
    assert to_messages(again, tools.schemas()) == messages


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_arguments_never_reach_a_tool(tools, image, value):
    script = [Action("", ToolCall("PG", {})), Action("", ToolCall("IG", {"instruction": "x", "angle": value})),
              Action("", ToolCall("IG", {"instruction": "x", "center": [value, 0.5]}))]
    ep = run_episode(Task("x.png", "hazelnut", "crack"), image, ScriptedPolicy(script), tools)
    assert [s.observation.error for s in ep.trajectory.steps[:3]] == [False, True, True]
    assert ep.state.attempts == 0 and ep.state.edited is None


def test_schema_validation_refuses_nan_sent_as_a_python_value(tools, image):
    from anomalyagent.agent.loop import new_state

    state = new_state(Task("x.png", "hazelnut", "crack"), image)
    tools.execute(ToolCall("PG", {}), state)
    obs = tools.execute(ToolCall("IG", {"instruction": "x", "size": math.nan}), state)
    assert obs.error and "finite" in obs.text and state.edited is None


def test_live_messages_carry_the_images_of_ig_observations(tools, image):
    policy = Recording(RulePolicy())
    ep = run_episode(Task("x.png", "hazelnut", "crack", seed=3), image, policy, tools)
    messages, images = policy.seen[-1]
    ig_steps = [s for s in ep.trajectory.steps if s.call is not None and s.call.name == "IG" and not s.observation.error]
    assert ig_steps
    for step in ig_steps:
        name = step.observation.image_ref
        assert name == f"turn{step.index:02d}_IG.png" and np.array_equal(images[name], step.observation.image)
        assert any({"type": "image", "image": name} in m["content"] for m in messages if m["role"] == "tool")
    assert np.array_equal(images["normal.png"], image)
    assert messages[1]["content"][0] == {"type": "image", "image": "normal.png"}


def test_exported_trajectory_renders_exactly_like_the_live_episode(tools, image):
    policy = Recording(RulePolicy())
    ep = run_episode(Task("x.png", "hazelnut", "scratch", seed=4), image, policy, tools)
    live, _ = policy.seen[-1]  # what the policy saw before its final reply
    stored = Trajectory.from_dict(ep.trajectory.to_dict())  # as written to disk
    exported = to_messages(stored, tools.schemas())
    assert exported[:-1] == live and exported[-1]["role"] == "assistant"
    # an exporter maps image names to files; the structure stays the same
    paths = to_messages(stored, tools.schemas(), image_ref=lambda name: f"imgs/{name}")
    chat, images = trl_messages(paths)
    assert images == ["imgs/normal.png"] and len(chat) == len(exported)
    assert [m["role"] for m in chat] == [m["role"] for m in exported]


def test_policy_error_stops_cleanly_and_reply_objects_work(tools, image):
    class Failing:
        def act(self, conversation):
            raise PolicyError("backend down")

    ep = run_episode(Task("x.png", "hazelnut", "hole"), image, Failing(), tools)
    assert ep.trajectory.stop_reason == "policy_error: backend down" and not ep.trajectory.steps

    class Texting:
        def act(self, conversation):
            return Reply("<answer>done</answer>") if conversation.steps else '<tool_call>{"name": "PG", "arguments": {}}</tool_call>'

    ep = run_episode(Task("x.png", "hazelnut", "hole"), image, Texting(), tools)
    assert ep.trajectory.tool_names == ["PG"] and ep.trajectory.stop_reason == "finished"
    assert ep.state.usage["policy"].calls == 2 and ep.state.usage["PG"].calls == 1


def test_one_policy_serves_concurrent_episodes(tools, image):
    from concurrent.futures import ThreadPoolExecutor

    policy = RulePolicy()
    tasks = [Task("x.png", "hazelnut", "crack", seed=s) for s in range(6)]
    alone = [run_episode(t, image, policy, tools).trajectory.to_dict() for t in tasks]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda t: run_episode(t, image, policy, tools).trajectory.to_dict(), tasks))
    strip = lambda d: [{k: v for k, v in s.items() if k != "seconds"} for s in d["steps"]]
    assert [strip(d) for d in alone] == [strip(d) for d in together]


def test_scripted_policy_without_a_script_answers_at_once(tools, image):
    ep = run_episode(Task("x.png", "hazelnut", "hole"), image, ScriptedPolicy(), tools, max_turns=3)
    assert ep.trajectory.stop_reason == "finished" and ep.trajectory.steps[0].answer == "script finished"


def test_the_sft_export_of_a_live_episode_is_the_live_conversation(tools, image, tmp_path):
    """Export a live episode with the reverse-synthesis exporter: chat.jsonl holds exactly the
    messages the policy saw (images mapped to files with the same pixels), plus its final reply."""
    import json

    from anomalyagent.images import read_image
    from anomalyagent.reverse.batch import AnomalyResult
    from anomalyagent.reverse.export import Exporter
    from anomalyagent.reverse.trajectory import Built

    policy = Recording(RulePolicy())
    ep = run_episode(Task("x.png", "hazelnut", "crack", seed=3), image, policy, tools)
    assert ep.trajectory.passed
    live, live_images = policy.seen[-1]
    ig = [s.index for s in ep.trajectory.steps if s.call is not None and s.call.name == "IG"][-1]
    result = AnomalyResult("hazelnut", "crack", "real/000.png", "real/000_mask.png", 0, False, method="telea",
                           trajectories=[Built(Trajectory.from_dict(ep.trajectory.to_dict()), n=1, kr=False,
                                               revealed_step=ig)],
                           anomaly=ep.state.edited, mask=ep.state.mask, normal=image)
    for built in result.trajectories:  # the exporter writes observation images it is given
        for step, live_step in zip(built.trajectory.steps, ep.trajectory.steps):
            if step.observation is not None:
                step.observation.image = live_step.observation.image
    exporter = Exporter(tmp_path)
    exporter.add(result)
    exporter.close()
    line = json.loads((tmp_path / "chat.jsonl").read_text().splitlines()[0])
    folder = "images/hazelnut/crack/000"
    names = {"normal.png": f"{folder}/normal.png"}
    for step in ep.trajectory.steps:
        if step.observation is not None and step.observation.image_ref:
            names[step.observation.image_ref] = (f"{folder}/anomaly.png" if step.index == ig else f"{folder}/mask.png"
                                                 if step.call.name == "MG" else f"{folder}/n1_step{step.index}.png")
    mapped = to_messages(Trajectory(ep.trajectory.task, ep.trajectory.steps[:-1]), tools.schemas(),
                         image_ref=lambda name: names[name])
    assert [m["role"] for m in mapped] == [m["role"] for m in live]
    expected, images = trl_messages(mapped)
    assert line["messages"][:-1] == expected and line["images"] == images == [f"{folder}/normal.png"]
    assert line["messages"][-1]["role"] == "assistant" and "<answer>" in line["messages"][-1]["content"][0]["text"]
    for name, path in names.items():  # the files hold the pixels the policy was shown
        assert np.array_equal(read_image(tmp_path / path), live_images[name]), name


def test_older_policies_with_reset_and_actions_still_work(tools, image):
    """The previous contract (reset(task, image, tools); act(trajectory) -> Action) runs through
    the same parse path: the Action is rendered as text and parsed back."""
    class Legacy:
        def reset(self, task, image, tools):
            self.task, self.calls = task, 0

        def act(self, trajectory):
            self.calls += 1
            if not trajectory.steps:
                return Action("plan", ToolCall("PG", {}))
            return Action("stop", answer=f"done {trajectory.task.defect_type}")

    policy = Legacy()
    ep = run_episode(Task("x.png", "hazelnut", "hole"), image, policy, tools)
    assert ep.trajectory.tool_names == ["PG"] and ep.trajectory.steps[-1].answer == "done hole" and policy.calls == 2


def test_a_code_policy_action_with_nan_is_an_error_observation_naming_the_cause(tools, image):
    ep = run_episode(Task("x.png", "hazelnut", "hole"), image,
                     ScriptedPolicy([Action("", ToolCall("IG", {"instruction": "x", "size": math.nan}))]), tools)
    first = ep.trajectory.steps[0]
    assert first.observation.error and "Out of range float values are not JSON compliant" in first.observation.text


def test_rule_policy_moves_a_part_defect_along_its_part_when_the_review_asks(image):
    """Location advice on a spec planned on a part (a transistor lead): with the product
    model's masks (``Conversation.regions``) the rules place it again on that part; the
    centre never stays where the review said it should not be."""
    from anomalyagent.agent.chat import NORMAL_IMAGE
    from anomalyagent.agent.conversation import Conversation
    from anomalyagent.knowledge import KnowledgeBase
    from anomalyagent.records import DefectSpec, Observation, Step

    h, w = image.shape[:2]
    obj = np.zeros((h, w), bool)
    obj[20:110, 30:100] = True
    body = obj.copy()
    body[70:, :] = False
    lead = np.zeros_like(obj)
    lead[70:110, 45:49] = True
    lead[70:110, 80:84] = True
    labels = np.zeros((h, w), np.int32)
    labels[70:110, 45:49], labels[70:110, 80:84] = 1, 2
    regions = {"object": obj, "body": body, "lead": lead, "lead_labels": labels}
    entry = KnowledgeBase.default().lookup("transistor", "bent_lead").entry
    planned = DefectSpec("warp", "bent_lead", "transistor", center=(64 / 127, 40 / 127), size=0.1,
                         params={"part": "lead"})  # on the body, off both leads
    steps = [
        Step(0, call=ToolCall("PG", {}), observation=Observation("plan", payload={"spec": planned.to_dict()})),
        Step(1, call=ToolCall("IG", {}), observation=Observation("edit", payload={"spec": planned.to_dict()})),
        Step(2, call=ToolCall("QE", {}), observation=Observation("review", payload={
            "passed": False, "score": 3.0, "advice": [{"parameter": "location", "direction": "move_onto_object",
                                                       "text": "put it on the lead"}]})),
        Step(3, call=ToolCall("KR", {}), observation=Observation("entry", payload={"entry": entry.to_dict()})),
    ]
    traj = Trajectory(Task("t.png", "transistor", "bent_lead", seed=3), steps)
    conversation = Conversation(traj, [], 10, images={NORMAL_IMAGE: image}, regions=regions)
    action = RulePolicy().decide(conversation)
    assert action.call is not None and action.call.name == "IG"
    x, y = action.call.arguments["center"]
    assert lead[round(y * (h - 1)), round(x * (w - 1))]
