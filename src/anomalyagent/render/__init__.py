"""Procedural defect renderers, one family per module, registered by name."""
from .base import RENDERERS, Param, Renderer, render

# Importing a family module registers it.
from . import families  # noqa: F401,E402

__all__ = ["RENDERERS", "Param", "Renderer", "render"]
