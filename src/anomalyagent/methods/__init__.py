"""Synthesis methods behind one interface: the agent and the re-run baselines."""
from .base import METHODS, Method, MethodResult, NormalPool
from . import agent  # noqa: F401,E402  (registers "agent")
from . import cutpaste, nsa, perlin  # noqa: F401,E402  (register the re-run baselines)

__all__ = ["METHODS", "Method", "MethodResult", "NormalPool"]
