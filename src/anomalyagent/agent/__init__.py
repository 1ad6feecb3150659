"""The agent: one loop, interchangeable policies, one chat rendering of trajectories."""
from .chat import action_text, assistant_text, system_prompt, to_messages
from .conversation import Conversation, Reply
from .loop import MAX_TURNS, Episode, run_episode
from .parse import Action, FormatError, PolicyError, parse_action
from .policy import POLICIES, Policy, RulePolicy, ScriptedPolicy
from . import model_policy  # noqa: F401,E402  (registers the openai and transformers policies)

__all__ = [
    "MAX_TURNS", "Episode", "run_episode", "POLICIES", "Action", "Policy", "PolicyError", "FormatError", "RulePolicy",
    "ScriptedPolicy", "Conversation", "Reply", "action_text", "assistant_text", "parse_action", "system_prompt",
    "to_messages",
]
