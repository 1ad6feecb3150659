"""The agent: one loop, interchangeable policies, chat rendering of trajectories."""
from .chat import assistant_text, parse_action, system_prompt, to_messages
from .loop import MAX_TURNS, Episode, run_episode
from .policy import POLICIES, Action, Policy, PolicyError, RulePolicy, ScriptedPolicy

__all__ = [
    "MAX_TURNS", "Episode", "run_episode", "POLICIES", "Action", "Policy", "PolicyError", "RulePolicy",
    "ScriptedPolicy", "assistant_text", "parse_action", "system_prompt", "to_messages",
]
