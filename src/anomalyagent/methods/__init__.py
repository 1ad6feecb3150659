"""Synthesis methods behind one interface: the agent and the re-run baselines."""
from .base import METHODS, Method, MethodResult, NormalPool

__all__ = ["METHODS", "Method", "MethodResult", "NormalPool"]
