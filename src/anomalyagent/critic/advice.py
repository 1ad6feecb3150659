"""Which parameter change a failing term asks for, and how big a step: the advice mapping.

Why a module of its own: a term measures a property (critic/appearance.py, shape.py); the
advice says what change of the edit's parameters moves that property back, and that
depends on what made the edit. An advice that does not move its own term makes the
policy's "refinement" a new random draw (benchmarks/bench_advice.py measures, per
advice, how often the change it names improves the term that gave it).

Three mappings live here:

- ``unchanged_term``: the verdict when change detection finds nothing. Either nothing
  visible changed (advise more intensity; for a warp of a plain region, a place with
  structure to bend), or the change spreads over most of the frame:
  change detection's noise floor is the median of the difference image (change.py), so
  an edit covering half the image or more reads as a global shift, not a defect, and no
  amount of intensity makes it one. Then the size must come down, by ``scale``.
- ``adapt``: a texture term failing for lack of pixel-scale detail says "draw it
  smaller, not scaled up" for edits that scale material (a bank defect pasted at the
  spec's size) and "add the surface's fine grain" for edits drawn at the image's
  resolution (every procedural family: their interiors are smooth by construction, and
  a smaller one is as smooth).
- ``scale`` (an advice item's optional key): the factor a size (or aspect) should be
  multiplied by to reach the range the term accepts, so one refinement can cross a
  four-fold miss that a fixed 1.5x step cannot.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from ..change import delta_e
from .appearance import seam_value
from .term import TermResult

# Edits that scale existing material to the spec's size (a bank defect resampled): for
# them "lacks pixel-scale detail" means "enlarged", and a smaller size is the fix.
SCALING_FAMILIES = ("transplant",)
# Families that move the image's own geometry (warp it) rather than paint over it: where
# they act on a plain region the moved material looks like what it covered.
GEOMETRY_FAMILIES = ("deform", "warp", "displace", "split")
# A change of at least this delta-E counts towards the spread: change detection's noise
# floor is the median (+ 6 MAD) of the difference image, and every changed pixel, however
# faint, moves that median once half of the image has changed (0.5: a quarter of a
# just-noticeable difference, above the rounding of an 8-bit edit's feathered tail).
SPREAD_DE = 0.5
# Share of the image changed from which change detection reads the edit as a global shift.
SPREAD_TOO_WIDE = 0.45
SPREAD_TARGET = 0.25  # share of the image the advised smaller edit should cover
SCALE_RANGE = (0.25, 4.0)  # the most one refinement may shrink or grow a size


def clip_scale(factor: float) -> float:
    """``factor`` rounded and limited to SCALE_RANGE (1.0 when not a finite positive number)."""
    if not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor <= 0:
        return 1.0
    return round(float(min(SCALE_RANGE[1], max(SCALE_RANGE[0], factor))), 3)


def changed_spread(normal: np.ndarray, edited: np.ndarray, level: float = SPREAD_DE) -> tuple[float, bool]:
    """(share, spans): the share (0-1) of the image whose colour changed by at least
    ``level`` delta-E, and whether those pixels reach two opposite image borders (a band
    across the frame, whose length the frame caps)."""
    if normal.shape != edited.shape or normal.size == 0:
        return 0.0, False
    changed = delta_e(normal, edited) >= level
    spans = bool((changed[:, 0].any() and changed[:, -1].any()) or (changed[0].any() and changed[-1].any()))
    return float(changed.mean()), spans


def unchanged_term(share: float = 0.0, spans: bool = False, family: str | None = None) -> TermResult:
    """The visibility term (value 0) of an edit in which change detection found nothing.

    ``share``, ``spans``: ``changed_spread`` of the edit (0, False when the images are
    identical or the caller gave an empty mask); ``family``: the renderer family when
    known. From SPREAD_TOO_WIDE on the advice is "decrease size" with a ``scale`` that
    brings the change to about SPREAD_TARGET of the image: the area goes with the square
    of the size, but only with the size itself for a change that spans the frame (a
    band: only its width shrinks, the frame caps its length). A geometry family (a warp)
    that changed next to nothing moved plain material over plain material: "move to the
    edge", where the part's outline shows the bend (a probe over benchmarks/bench_advice.py's
    eight-category cases: intensity up made 18 % of them visible, a place on the edge 59 %;
    the bench itself: 68 %). Otherwise "increase intensity"."""
    measured = {"changed_share": share}
    if share >= SPREAD_TOO_WIDE:
        t = TermResult("visibility", 0.0, measured, "size", "decrease",
                       f"The edit changes {share:.0%} of the image, so it reads as a change of the whole picture, "
                       "not a defect on it; make it much smaller.")
        t.scale = clip_scale(SPREAD_TARGET / share if spans else math.sqrt(SPREAD_TARGET / share))
        return t
    if family in GEOMETRY_FAMILIES and share > 0.0:
        return TermResult("visibility", 0.0, measured, "location", "move_to_edge",
                          "The deformation moved plain surface over plain surface, so nothing visible changed; "
                          "place it across the part's edge, where its outline shows the bend.")
    return TermResult("visibility", 0.0, measured, "intensity", "increase",
                      "Nothing visible changed; increase the defect's intensity (and check its size).")


def adapt(terms: Iterable[TermResult], spec: Any = None) -> list[TermResult]:
    """``terms`` with two advices mapped to what made the edit (module docstring); ``spec``
    is the edit's DefectSpec, None when unknown (then both stay as the terms gave them).

    - texture, lacking pixel-scale detail: "increase texture" (add grain) unless the family
      scales material (SCALING_FAMILIES: "decrease size", it may have been enlarged) or
      the finish already is the grainiest (nothing left to add: "decrease size" stays);
    - seam, failing on incoherence alone (a texture surface; its sharpness passes): the
      border steps change sign like the surface's grain because the defect's inside
      carries that grain on, so it reads as a patch of surface cut in; texture "smooth"
      (an inside without grain makes the border one consistent step), not a softer blend,
      which leaves the sign changes (benchmarks/bench_advice.py, eight-category set:
      keep -> smooth improved the seam term in 96 % of such cases, mostly neu_seg
      scratches; Poisson improved 56 % of them in a probe).
      A hard cut-out stays "soften the blend" (feathering it is the first fix: 94 %),
      and so does a finish that is already the smoothest.
    - seam of a geometry family (a part bent or moved) that is not hard: its border is
      the moved part's own outline, pasted as sharp as it was drawn, and a Poisson
      blend keeps the gradients it pastes (feather -> poisson improved 3 of 12 warp and
      displace seams); a smooth finish takes the moved material's pixel-scale step out,
      as a camera's point spread would: texture "smooth" as well."""
    out = list(terms)
    family = getattr(spec, "family", None)
    if not family:
        return out
    for t in out:
        if (t.name == "texture" and (t.parameter, t.direction) == ("size", "decrease") and family not in SCALING_FAMILIES
                and getattr(spec, "texture", "keep") != "grainy"):
            t.parameter, t.direction = "texture", "increase"
            t.text = ("The defect lacks pixel-scale detail (its inside is smoother at the finest scale than "
                      "anything the camera records); give it the surface's fine grain (texture).")
        elif (t.name == "seam" and t.parameter == "blend" and getattr(spec, "blend", "") != "hard"
              and getattr(spec, "texture", "keep") != "smooth"
              and (family in GEOMETRY_FAMILIES
                   or (t.measured.get("texture", 0.0) > 0 and seam_sharp_part(t.measured.get("excess", 1.0)) >= 0.5))):
            t.parameter, t.direction = "texture", "smooth"
            t.text = ("The defect's border steps change sign like the surface's grain, so it reads as a patch of "
                      "surface cut in; give it a smooth inside (no grain) so its border is one consistent step.")
    return out


def seam_sharp_part(excess: float) -> float:
    """The sharpness half of the seam value (critic/appearance.py ``seam_value``)."""
    return seam_value(excess, 0.0, 1.0, texture=False)


def advice_scale(item: dict[str, Any]) -> float | None:
    """The ``scale`` of an advice item when it is a usable factor (finite, positive, on the
    side of 1 its direction says), else None (untrusted input: advice may come from a model)."""
    value = item.get("scale")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        return None
    direction = item.get("direction", "")
    if (direction == "increase" and value <= 1.0) or (direction == "decrease" and value >= 1.0):
        return None
    return clip_scale(float(value))
