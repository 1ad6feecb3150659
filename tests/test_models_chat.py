"""Our messages in the OpenAI format, and server answers back into reply text."""
import base64

import numpy as np
import pytest

from anomalyagent.agent import parse_action
from anomalyagent.models.chat import openai_messages
from anomalyagent.models.openai_api import ModelError, OpenAIClient, decode_image


MESSAGES = [
    {"role": "system", "content": [{"type": "text", "text": "sys"}]},
    {"role": "user", "content": [{"type": "image", "image": "normal.png"}, {"type": "text", "text": "task"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "<tool_call>{}</tool_call>"}]},
    {"role": "tool", "content": [{"type": "image", "image": "turn01_IG.png"}, {"type": "text", "text": "[IG] edited"}]},
]
IMAGES = {"normal.png": np.zeros((8, 8, 3), np.uint8), "turn01_IG.png": np.full((8, 8), 200, np.uint8)}


def test_tool_turns_become_user_turns_with_inline_images():
    cache = {}
    out = openai_messages(MESSAGES, IMAGES, cache=cache)
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert out[0]["content"] == "sys" and out[2]["content"] == "<tool_call>{}</tool_call>"
    assert out[3]["content"][1] == {"type": "text", "text": "<tool_response>\n[IG] edited\n</tool_response>"}
    url = out[3]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert np.array_equal(decode_image(base64.b64decode(url.split(",", 1)[1]))[..., 0], IMAGES["turn01_IG.png"])
    assert set(cache) == {"normal.png", "turn01_IG.png"}
    again = openai_messages(MESSAGES, {}, cache=cache)  # cached: pixels not needed again
    assert again == out
    keep = openai_messages(MESSAGES, IMAGES, tool_role="tool")
    assert keep[3]["role"] == "tool" and keep[3]["content"][1]["text"] == "[IG] edited"
    with pytest.raises(KeyError, match="does not hold"):
        openai_messages(MESSAGES, {})


def answer(message, usage=None):
    return {"choices": [{"message": message}], "usage": usage or {}}


@pytest.mark.parametrize("message,expected_call,expected_thought", [
    ({"content": "<tool_call>{\"name\": \"PG\", \"arguments\": {}}</tool_call>", "reasoning_content": "hmm"}, "PG", "hmm"),
    ({"content": None, "tool_calls": [{"function": {"name": "QE", "arguments": "{}"}}]}, "QE", ""),
    ({"content": [{"type": "text", "text": "ok</think><tool_call>{\"name\": \"KR\"}</tool_call>"}]}, "KR", "ok"),
])
def test_server_answers_become_reply_text(monkeypatch, message, expected_call, expected_thought):
    client = OpenAIClient("http://127.0.0.1:9/v1", "m")
    monkeypatch.setattr(client, "post", lambda route, body, content_type="": answer(message, {"prompt_tokens": 7}))
    text, usage = client.chat([])
    action = parse_action(text)
    assert action.call.name == expected_call and action.thought == expected_thought and usage.prompt_tokens == 7


@pytest.mark.parametrize("data,message", [
    ({"choices": []}, "without choices"),
    ({"choices": [{"message": {"content": 5}}]}, "not text"),
])
def test_unusable_chat_answers_are_model_errors(monkeypatch, data, message):
    client = OpenAIClient("http://127.0.0.1:9/v1", "m")
    monkeypatch.setattr(client, "post", lambda *a, **k: data)
    with pytest.raises(ModelError, match=message):
        client.chat([])


def test_hostile_usage_numbers_are_ignored(monkeypatch):
    client = OpenAIClient("http://127.0.0.1:9/v1", "m")
    monkeypatch.setattr(client, "post", lambda *a, **k: answer({"content": "x"}, {"prompt_tokens": -3, "completion_tokens": 1e300}))
    assert client.chat([])[1].prompt_tokens == 0 and client.chat([])[1].completion_tokens == 0
