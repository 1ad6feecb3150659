"""The embedded learned policy: a small network over frozen image and text encoders.

``features`` (what it reads), ``space`` (what it can do), ``model`` (the network),
``policy`` (the adapter to the agent loop, registered as ``--policy learned``). The
training code lives in ``anomalyagent.train``; this package never imports it.
"""
from .policy import POLICY_FILE, TEXT_CACHE_FILE, Encoders, LearnedPolicy, Turn, WeightsError, load_policy, save_policy
from .space import HEADS, IG_HEADS, TOOLS, ActionSpace

__all__ = ["ActionSpace", "Encoders", "HEADS", "IG_HEADS", "LearnedPolicy", "POLICY_FILE", "TEXT_CACHE_FILE", "TOOLS",
           "Turn", "WeightsError", "load_policy", "save_policy"]
