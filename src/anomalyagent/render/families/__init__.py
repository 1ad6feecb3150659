"""Renderer families; each module registers itself with RENDERERS under its file name."""
from . import (crack, cut, deform, dent, discoloration, fold, fray, hole, missing, particle,  # noqa: F401
               print, rust, scratch, stain)
