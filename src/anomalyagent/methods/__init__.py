"""Synthesis methods behind one interface: the agent and the re-run baselines."""
from .base import METHODS, Method, MethodResult, NormalPool
from . import agent  # noqa: F401,E402  (registers "agent")

__all__ = ["METHODS", "Method", "MethodResult", "NormalPool"]
