"""Deliberately flawed versions of a real defect's spec: the imperfect earlier attempts.

A reverse-synthesised trajectory shows an expert recovering from mistakes: attempt 1 is
the real defect's spec with one or two flaws, the QE review names them, the next
attempt removes what the review named. Each flaw here is a pure function of the true
spec (and, for placement, the image's foreground and the given generator), together
with the advice (parameter, direction) pairs (critic/term.py PARAMETERS, critic/review.py)
whose appearance in a review counts as the critic having seen that flaw; a direction of
None accepts any direction.

- ``off_object``: the centre moved onto the background, clear of the part (objects);
  for edge-type defects on textures, moved to the middle of the crop;
- ``too_faint``: a twentieth of the intensity (at least 0.005);
- ``too_large``: three times the size (not applicable when that cannot grow by half);
- ``too_small``: a quarter of the size;
- ``wrong_family``: a family of another shape class (a line for a spot, an area for a
  line, ...), geometry kept;
- ``seam``: hard (binary) edges at full strength, the look of a pasted patch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from ..knowledge.entry import KnowledgeEntry
from ..records import DefectSpec
from ..render import RENDERERS
from .extract import AREA_FAMILIES, LINE_FAMILIES, SPOT_FAMILIES

EDGE_LOCATIONS = ("edge", "rim", "corner", "seam", "lead")


@dataclass
class FlawContext:
    """What placement-dependent flaws need: ``foreground`` (H, W) bool of the normal
    image, ``kind`` ("object"/"texture"), the knowledge ``entry`` (or None)."""

    foreground: np.ndarray
    kind: str
    entry: KnowledgeEntry | None


@dataclass(frozen=True)
class Flaw:
    """One way to get a defect wrong. ``addressed_by``: advice (parameter, direction)
    pairs that name it (direction None: any); ``fix``: how a thought describes undoing it."""

    name: str
    addressed_by: tuple[tuple[str, str | None], ...]
    fix: str
    apply: Callable[[DefectSpec, FlawContext, np.random.Generator], DefectSpec | None]


def _off_object(spec: DefectSpec, ctx: FlawContext, rng: np.random.Generator) -> DefectSpec | None:
    h, w = ctx.foreground.shape
    side = min(h, w)
    if ctx.kind == "texture" or ctx.foreground.all():
        location = ctx.entry.location if ctx.entry is not None else "anywhere"
        if location not in EDGE_LOCATIONS:
            return None  # a texture fills the frame: there is no "off" for a surface defect
        if min(spec.center[0], 1 - spec.center[0], spec.center[1], 1 - spec.center[1]) > 0.3:
            return None
        return spec.replace(center=(0.5, 0.5))
    back = np.pad(~ctx.foreground, 1, constant_values=True).astype(np.uint8)
    dist = cv2.distanceTransform(1 - np.pad(ctx.foreground, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    clear = (dist > 0.5 * spec.size * side + 2) & back[1:-1, 1:-1].astype(bool)
    border = max(2, int(0.05 * side))
    clear[:border], clear[-border:], clear[:, :border], clear[:, -border:] = False, False, False, False
    ys, xs = np.nonzero(clear)
    if ys.size == 0:
        return None
    i = int(rng.integers(ys.size))
    return spec.replace(center=(round(float(xs[i]) / max(w - 1, 1), 4), round(float(ys[i]) / max(h - 1, 1), 4)))


def _too_faint(spec: DefectSpec, ctx: FlawContext, rng: np.random.Generator) -> DefectSpec | None:
    if spec.intensity < 0.04:
        return None
    return spec.replace(intensity=round(max(0.005, spec.intensity / 20.0), 3))


def _too_large(spec: DefectSpec, ctx: FlawContext, rng: np.random.Generator) -> DefectSpec | None:
    size = round(min(1.0, spec.size * 3.0), 4)
    return None if size < 1.5 * spec.size else spec.replace(size=size)


def _too_small(spec: DefectSpec, ctx: FlawContext, rng: np.random.Generator) -> DefectSpec | None:
    size = round(spec.size / 4.0, 4)
    return None if size < 0.005 else spec.replace(size=size)


def _shape_class(family: str) -> tuple[str, ...]:
    for group in (LINE_FAMILIES, SPOT_FAMILIES, AREA_FAMILIES):
        if family in group:
            return group
    return ()


def _wrong_family(spec: DefectSpec, ctx: FlawContext, rng: np.random.Generator) -> DefectSpec | None:
    own = _shape_class(spec.family)
    known = set(RENDERERS.names())
    choices = [f for f in ("crack", "hole", "stain", "scratch", "discoloration") if f in known and f not in own]
    if not choices:
        return None
    return spec.replace(family=choices[int(rng.integers(len(choices)))], params={})


def _seam(spec: DefectSpec, ctx: FlawContext, rng: np.random.Generator) -> DefectSpec | None:
    if spec.blend == "hard" and spec.intensity >= 0.9:
        return None
    return spec.replace(blend="hard", intensity=round(max(spec.intensity, 0.9), 3))


FLAWS: dict[str, Flaw] = {f.name: f for f in (
    Flaw("off_object", (("location", None),), "move the defect back onto the part, where this defect occurs", _off_object),
    Flaw("too_faint", (("intensity", "increase"),), "make it clearly visible again", _too_faint),
    Flaw("too_large", (("size", "decrease"),), "shrink it to a realistic size", _too_large),
    Flaw("too_small", (("size", "increase"),), "enlarge it to a realistic size", _too_small),
    Flaw("wrong_family", (("aspect", None), ("color", None), ("texture", None), ("family", None)),
         "draw the right kind of defect for this name", _wrong_family),
    Flaw("seam", (("blend", None),), "blend its border softly into the surface", _seam),
)}


def apply_flaws(spec: DefectSpec, names: tuple[str, ...], ctx: FlawContext, rng: np.random.Generator) -> DefectSpec | None:
    """``spec`` with every flaw in ``names`` applied in order; None when one does not apply."""
    out = spec
    for name in names:
        out = FLAWS[name].apply(out, ctx, rng)
        if out is None:
            return None
    return out


def addressed(names: tuple[str, ...], advice: list[dict]) -> tuple[str, ...]:
    """The flaws in ``names`` that a QE ``advice`` list names (parameter and direction)."""
    said = {(a.get("parameter", ""), a.get("direction", "")) for a in advice}
    return tuple(n for n in names if any(p == sp and (d is None or d == sd) for p, d in FLAWS[n].addressed_by for sp, sd in said))
