"""Policies backed by a chat model: ``openai`` (an OpenAI-compatible server) and
``transformers`` (a local vision-language model).

The policy is thin on purpose: it hands the episode's messages and images to the model
and returns its reply; parsing, error observations and the turn budget are the loop's.
A backend failure after its retries (server down, out of memory) is a ``PolicyError``
and ends the episode; a reply that is not a valid action is an error observation.
"""
from __future__ import annotations

from typing import Any

from ..models.chat import CHAT_MODELS, ChatModel
from ..models.openai_api import ModelError
from .conversation import Conversation, Reply
from .parse import PolicyError
from .policy import POLICIES


class ChatPolicy:
    """Asks ``model`` for each turn's reply; encoded images are cached per episode."""

    def __init__(self, model: ChatModel) -> None:
        self.model = model

    def act(self, conversation: Conversation) -> Reply:
        cache = conversation.memory.setdefault("image_urls", {})
        try:
            text, usage = self.model.complete(conversation.messages, conversation.images, cache=cache)
        except ModelError as exc:
            raise PolicyError(str(exc)) from None
        return Reply(text, usage)


@POLICIES.register("openai")
def openai_policy(pool: Any = None, **options: Any) -> ChatPolicy:
    """Options: base_url, model, api_key_env, timeout, retries, backoff, max_tokens,
    temperature, top_p, tool_role, extra_body (models.chat.OpenAIChat)."""
    return ChatPolicy(CHAT_MODELS.create("openai", pool=pool, **options))


@POLICIES.register("transformers")
def transformers_policy(pool: Any = None, **options: Any) -> ChatPolicy:
    """Options: model, device, dtype, max_new_tokens, temperature, chat_template
    (models.transformers_chat.TransformersChat). ``pool``: given by build_agent."""
    return ChatPolicy(CHAT_MODELS.create("transformers", pool=pool, **options))
