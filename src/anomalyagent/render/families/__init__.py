"""Renderer families; each module registers itself with RENDERERS under its file name."""
from . import (crack, cut, deform, dent, discoloration, displace, fold, fray, hole, missing,  # noqa: F401
               particle, print, rust, scratch, split, stain, transplant, warp)
