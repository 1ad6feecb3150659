"""Renderer families; each module registers itself with RENDERERS under its file name."""
from . import crack, hole, scratch, stain  # noqa: F401
