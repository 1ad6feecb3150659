"""The transformers policy on a tiny random Qwen3-VL built offline (no hub access)."""
import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("torch")

from anomalyagent.agent import RulePolicy, run_episode, to_messages  # noqa: E402
from anomalyagent.config import AgentConfig, build_agent  # noqa: E402
from anomalyagent.models.chat import CHAT_MODELS  # noqa: E402
from anomalyagent.records import Task  # noqa: E402
from anomalyagent.synthetic import object_image  # noqa: E402
from anomalyagent.tools import default_toolbox  # noqa: E402


@pytest.fixture(scope="module")
def chat(tiny_vlm):
    return CHAT_MODELS.create("transformers", model=str(tiny_vlm), max_new_tokens=12)


def test_transformers_policy_runs_complete_episodes_and_bad_replies_become_observations(tiny_vlm):
    config = AgentConfig.from_dict({"policy": {"name": "transformers", "model": str(tiny_vlm), "max_new_tokens": 8},
                                    "max_turns": 3, "retries": 0})
    agent = build_agent(config)
    image = object_image(np.random.default_rng(0), 64)
    episode = agent.run(Task("x.png", "hazelnut", "crack", seed=0), image)
    steps = episode.trajectory.steps
    # a random model writes no valid action: every turn is an error observation and the episode goes on to its budget
    assert episode.trajectory.stop_reason == "max_turns" and len(steps) == 3
    assert all(s.call is None and s.observation.error for s in steps)
    assert episode.state.usage["policy"].calls == 3 and episode.state.usage["policy"].prompt_tokens > 0
    assert episode.state.usage["policy"].completion_tokens <= 3 * 8
    again = agent.run(Task("x.png", "hazelnut", "crack", seed=0), image)  # greedy: same replies
    assert [s.reply for s in again.trajectory.steps] == [s.reply for s in steps]


def test_the_model_is_shown_the_images_of_tool_observations(chat):
    tools = default_toolbox()
    image = object_image(np.random.default_rng(1), 64)
    ep = run_episode(Task("x.png", "hazelnut", "hole", seed=1), image, RulePolicy(), tools)
    messages = to_messages(ep.trajectory, tools.schemas())
    images = {"normal.png": image, **{s.observation.image_ref: s.observation.image for s in ep.trajectory.steps
                                      if s.observation is not None and s.observation.image_ref}}
    rendered = chat.processor.apply_chat_template(chat._messages(messages, images), tokenize=False)
    assert rendered.count("<|vision_start|>") == len(images) >= 3  # normal, every IG edit, the MG mask
    assert "<tool_response>" in rendered and "<tool_call>" in rendered
    text, usage = chat.complete(messages, images)
    assert isinstance(text, str) and usage.prompt_tokens > 100 and usage.completion_tokens <= 12


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises((OSError, ValueError)):
        CHAT_MODELS.create("transformers", model=str(tmp_path / "nope"))


def test_one_local_model_serves_policy_pg_and_qe_with_one_copy_of_the_weights(tiny_vlm):
    local = {"backend": "transformers", "model": str(tiny_vlm), "max_new_tokens": 4}
    config = AgentConfig.from_dict({"policy": {"name": "transformers", "model": str(tiny_vlm), "max_new_tokens": 8},
                                    "tools": {"PG": {"name": "llm", **local}, "QE": {"name": "mllm", **local}}})
    agent = build_agent(config)
    policy_model = agent.policy.model
    pg_model = agent.tools.tools["PG"].plan.model
    qe_model = agent.tools.tools["QE"].judge.model
    assert policy_model.model is pg_model.model is qe_model.model  # loaded once
    assert policy_model.generation["max_new_tokens"] == 8 and pg_model.generation["max_new_tokens"] == 4


@pytest.mark.slow
def test_a_valid_reply_of_the_local_model_is_executed(tiny_vlm):
    """Overfit the tiny model (a copy in memory) on one first turn, then run an episode with
    it as the policy: its PG call runs; its repeats are error observations; the episode goes on."""
    import torch

    from anomalyagent.agent import Conversation
    from anomalyagent.agent.chat import NORMAL_IMAGE
    from anomalyagent.agent.model_policy import ChatPolicy
    from anomalyagent.records import Trajectory

    torch.manual_seed(0)
    chat = CHAT_MODELS.create("transformers", model=str(tiny_vlm), max_new_tokens=24)
    tools = default_toolbox()
    image = object_image(np.random.default_rng(0), 64)
    task = Task("x.png", "hazelnut", "crack")
    first = Conversation(Trajectory(task), tools.schemas(), 3, images={NORMAL_IMAGE: image})
    messages = chat._messages(first.messages, first.images)
    target = '<tool_call>{"name": "PG", "arguments": {}}</tool_call>'
    prompt = chat.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    n = chat.processor(text=[prompt], images=[messages[1]["content"][0]["image"]], return_tensors="pt")["input_ids"].shape[1]
    full = chat.processor(text=[prompt + target + "<|im_end|>"], images=[messages[1]["content"][0]["image"]],
                          return_tensors="pt")
    labels = full["input_ids"].clone()
    labels[:, :n] = -100
    optimizer = torch.optim.AdamW(chat.model.parameters(), lr=3e-3)
    chat.model.train()
    for _ in range(60):
        loss = chat.model(**full, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    chat.model.eval()
    episode = run_episode(task, image, ChatPolicy(chat), tools, max_turns=3)
    steps = episode.trajectory.steps
    assert steps[0].call is not None and steps[0].call.name == "PG" and not steps[0].observation.error
    assert episode.state.planned and len(steps) == 3 and episode.trajectory.stop_reason == "max_turns"
    assert all(s.observation.error for s in steps[1:])  # e.g. PG again: "PG was already called"
