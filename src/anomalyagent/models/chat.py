"""Chat models behind the ``openai`` / ``transformers`` policies, the LLM planner and the MLLM judge.

A chat model turns our messages (``agent.chat.to_messages`` format: content blocks
``{"type": "text"}`` / ``{"type": "image", "image": NAME}``, roles system, user,
assistant, tool) plus the pixels behind each image name into one reply:
``complete(messages, images) -> (text, Usage)``. CHAT_MODELS maps a backend name to
its factory; both shipped backends are safe to call from several threads at once.
``cache`` is per-episode scratch a backend may use (encoded images).
"""
from __future__ import annotations

import json
import math
import threading
from typing import Any, Callable, Protocol

import numpy as np

from ..registry import Registry
from ..usage import Usage
from .openai_api import OpenAIClient, png_data_url


class ChatModel(Protocol):
    def complete(self, messages: list[dict[str, Any]], images: dict[str, np.ndarray],
                 cache: dict[str, str] | None = None) -> tuple[str, Usage]: ...


CHAT_MODELS: Registry[ChatModel] = Registry("chat model")


def _text(content: list[dict[str, Any]]) -> str:
    return "\n".join(b.get("text", "") for b in content if b.get("type") == "text")


def openai_messages(messages: list[dict[str, Any]], images: dict[str, np.ndarray], tool_role: str = "user",
                    cache: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Our messages in the OpenAI chat format, images inlined as PNG data URLs.

    ``tool_role="user"`` (default) sends tool turns as user turns wrapped in
    ``<tool_response>`` (what Qwen's template does with role "tool", and what every
    OpenAI-compatible server accepts, hosted ones included); ``"tool"`` keeps the role.
    ``cache`` maps image names to data URLs already encoded (reuse across turns).
    """
    cache = {} if cache is None else cache
    out = []
    for message in messages:
        role, blocks = message["role"], message["content"]
        if role in ("system", "assistant"):
            out.append({"role": role, "content": _text(blocks)})
            continue
        parts: list[dict[str, Any]] = []
        for block in blocks:
            if block.get("type") == "image":
                name = block["image"]
                if name not in cache:
                    if name not in images:
                        raise KeyError(f"message names image {name!r}, which the episode does not hold")
                    cache[name] = png_data_url(images[name])
                parts.append({"type": "image_url", "image_url": {"url": cache[name]}})
            else:
                text = block.get("text", "")
                if role == "tool" and tool_role == "user":
                    text = f"<tool_response>\n{text}\n</tool_response>"
                parts.append({"type": "text", "text": text})
        out.append({"role": "user" if role == "tool" and tool_role == "user" else role, "content": parts})
    return out


class ModelPool:
    """What the backends of ONE agent load, shared among them: ``get(key, build)`` builds
    once per key. ``build_agent`` makes one and hands it to every factory with a ``pool``
    argument, so a local model used as policy, PG writer and judge loads once."""

    def __init__(self) -> None:
        self._items: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, build: Callable[[], Any]) -> Any:
        name = json.dumps(key, sort_keys=True, default=str)
        with self._lock:
            if name not in self._items:
                self._items[name] = build()
            return self._items[name]

    def __len__(self) -> int:
        return len(self._items)


@CHAT_MODELS.register("openai")
class OpenAIChat:
    """Any OpenAI-compatible ``/chat/completions`` endpoint with image input.

    ``base_url``, ``model``, ``api_key_env``, ``timeout`` (s), ``retries``, ``backoff`` (s):
    see models.openai_api.OpenAIClient. ``max_tokens``, ``temperature``, ``top_p``:
    sampling. ``extra_body``: further request fields (e.g. vLLM's
    ``chat_template_kwargs``). ``tool_role``: see ``openai_messages``. ``pool``: unused
    (an HTTP client holds nothing worth sharing).
    """

    def __init__(self, base_url: str, model: str, api_key_env: str | None = None, timeout: float = 120.0,
                 retries: int = 3, backoff: float = 0.5, max_tokens: int = 2048, temperature: float = 0.0,
                 top_p: float = 1.0, tool_role: str = "user", extra_body: dict[str, Any] | None = None,
                 pool: Any = None) -> None:
        self.client = OpenAIClient(base_url, model, api_key_env, timeout, retries, backoff)
        if tool_role not in ("user", "tool"):
            raise ValueError(f"tool_role must be 'user' or 'tool', got {tool_role!r}")
        if not (isinstance(max_tokens, int) and 1 <= max_tokens <= 262_144):
            raise ValueError(f"max_tokens must be an integer in [1, 262144], got {max_tokens!r}")
        for name, value, high in (("temperature", temperature, 5.0), ("top_p", top_p, 1.0)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= high:
                raise ValueError(f"{name} must be in [0, {high}], got {value!r}")
        self.tool_role = tool_role
        self.params = {"max_tokens": max_tokens, "temperature": float(temperature), "top_p": float(top_p), **(extra_body or {})}

    def complete(self, messages: list[dict[str, Any]], images: dict[str, np.ndarray],
                 cache: dict[str, str] | None = None) -> tuple[str, Usage]:
        return self.client.chat(openai_messages(messages, images, self.tool_role, cache), **self.params)


@CHAT_MODELS.register("transformers")
def transformers_chat(pool: ModelPool | None = None, **options: Any) -> ChatModel:
    """A local vision-language model (models/transformers_chat.py; extra ``mllm``)."""
    from .transformers_chat import TransformersChat

    return TransformersChat(pool=pool, **options)
