"""The llm planner and mllm judge: replies read defensively (numbers finite, clamped, bounded)."""
import time

import numpy as np
import pytest

from anomalyagent.agent.loop import new_state
from anomalyagent.config import AgentConfig, build_toolbox
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.models.scripted_server import Responder, Server
from anomalyagent.records import Task, ToolCall
from anomalyagent.synthetic import object_image
from anomalyagent.tools.model_tools import read_scores


@pytest.mark.parametrize("text,expected", [
    ('{"location": 4, "quality": 3, "review": "ok"}', (4.0, 3.0, "ok")),
    ('<think>{"location": 0}</think> Scores: {"location": 9, "quality": -2, "review": "x"}', (5.0, 0.0, "x")),
    ('```json\n{"location": "4/5", "quality": "2.5", "review": ["a", "b"]}\n```', (4.0, 2.5, '["a", "b"]')),
    ('{"quality": 1} then {"location": 1, "quality": 1}', (1.0, 1.0, "")),
])
def test_read_scores_clamps_and_finds_the_object(text, expected):
    assert read_scores(text) == expected


@pytest.mark.parametrize("text,message", [
    ('{"location": NaN, "quality": 3}', "not a score"),
    ('{"location": Infinity, "quality": 3}', "not a score"),
    ('{"location": 1e999, "quality": 3}', "finite"),
    ('{"location": "high", "quality": 3}', "not a number"),
    ('{"location": true, "quality": 3}', "finite number"),
    ("no json at all", "no JSON object"),
    ("{" * 100_000, "no JSON object"),
])
def test_read_scores_refuses_unusable_replies(text, message):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        read_scores(text)
    assert time.perf_counter() - start < 0.5


def _tools(url: str, **judge):
    config = AgentConfig.from_dict({"tools": {"PG": {"name": "llm", "base_url": url, "model": "m"},
                                              "QE": {"name": "mllm", "base_url": url, "model": "m", **judge}}})
    return build_toolbox(config, KnowledgeBase.default())


def test_llm_pg_writes_the_instruction_and_mllm_qe_judges_with_both_images():
    responder = Responder(judge_scores=(2.0, 2.5))
    image = object_image(np.random.default_rng(0), 64)
    with Server(responder) as url:
        tools = _tools(url)
        state = new_state(Task("x.png", "hazelnut", "crack", seed=1), image)
        pg = tools.execute(ToolCall("PG", {}), state)
        assert not pg.error and pg.payload["spec"]["instruction"].startswith("Add a thin dark crack")
        assert state.usage["PG"].calls == 1 and state.usage["PG"].completion_tokens == 20
        tools.execute(ToolCall("IG", {"instruction": pg.payload["spec"]["instruction"]}), state)
        qe = tools.execute(ToolCall("QE", {}), state)
        assert not qe.error and qe.payload["score"] == 4.5 and qe.payload["passed"] is False  # 4.5 is not > 5
        assert "plausible crack" in qe.text
    prompt = [r for r in responder.requests if r["role"] == "PG"][0]["messages"][0]["content"][0]["text"]
    assert "hazelnut" in prompt and "Knowledge about this defect" in prompt
    assert [r["images"] for r in responder.requests if r["role"] == "QE"] == [2]


def test_a_failing_backend_is_an_error_observation():
    with Server(Responder(fail=10)) as url:
        config = AgentConfig.from_dict({"tools": {"PG": {"name": "llm", "base_url": url, "model": "m", "retries": 0}}})
        tools = build_toolbox(config, KnowledgeBase.default())
        state = new_state(Task("x.png", "hazelnut", "crack"), object_image(np.random.default_rng(0), 64))
        obs = tools.execute(ToolCall("PG", {}), state)
    assert obs.error and "PG backend failed" in obs.text and not state.planned
