"""Appearance terms: visibility, seam, texture consistency and colour relation.

Each is a pure function of the shared ``Views`` (critic/views.py); luminance and
differences are in CIE L* / delta-E units, grain is the high-pass detail (``highpass``).
"""
from __future__ import annotations

import cv2
import numpy as np

from .term import TermResult, band, log_ramp, ramp
from .views import Views, robust_std

MIN_PIXELS = 6  # fewer measurable pixels than this: the term abstains (value 1)


def defect_contrast(v: Views) -> float:
    """Typical change inside the mask (75th percentile of delta-E): the defect's contrast,
    robust to a mask that is a little larger than the defect."""
    return float(np.percentile(v.diff[v.mask], 75))


def visibility_term(v: Views) -> TermResult:
    """Contrast of the change against the image's own grain (contrast-to-noise ratio).

    Too faint (CNR under ~1.5: lost in the grain, Rose's criterion needs a few noise
    units) fails with "increase intensity"; absurdly strong (a change over 60 delta-E,
    i.e. more than half the lightness range) fails with "decrease intensity".
    """
    c = defect_contrast(v)
    cnr = c / v.noise
    faint = log_ramp(cnr, 1.0, 3.0)
    strong = ramp(c, 90.0, 60.0)
    result = TermResult("visibility", min(faint, strong), {"contrast": c, "noise": v.noise, "cnr": cnr})
    if faint < 0.5:
        result.parameter, result.direction = "intensity", "increase"
        result.text = f"The defect is too faint ({cnr:.1f}x the image noise); increase its intensity."
    elif strong < 0.5:
        result.parameter, result.direction = "intensity", "decrease"
        result.text = f"The defect is implausibly strong ({c:.0f} delta-E); decrease its intensity."
    return result


def texture_ratio(v: Views) -> float:
    """Grain inside the defect (away from its boundary) over grain around it (ratio)."""
    inside = v.grain[v.core]
    if inside.size < MIN_PIXELS:
        return 1.0
    return robust_std(inside) / v.noise


def texture_term(v: Views) -> TermResult:
    """Texture consistency: a patch much smoother (painted, flat, upsampled) or much
    noisier than its surroundings fails."""
    r = texture_ratio(v)
    value = band(r, 0.15, 0.45, 3.0, 8.0)
    result = TermResult("texture", value, {"grain_ratio": r})
    if value < 0.5:
        result.parameter = "texture"
        if r < 1.0:
            result.direction = "increase"
            result.text = f"The defect is too smooth ({r:.2f}x the surrounding grain); keep or add the surface texture."
        else:
            result.direction = "decrease"
            result.text = f"The defect is too noisy ({r:.1f}x the surrounding grain); reduce its texture."
    return result


def _outward_normals(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (ny, nx) pointing away from the mask, from a smoothed signed distance."""
    m8 = mask.view(np.uint8)
    out = cv2.distanceTransform(1 - m8, cv2.DIST_L2, 3)
    inn = cv2.distanceTransform(m8, cv2.DIST_L2, 3)
    sd = cv2.GaussianBlur(np.minimum(out, 64.0) - np.minimum(inn, 64.0), (0, 0), 1.0)  # no inf when a side is empty
    gy, gx = np.gradient(sd)
    norm = np.sqrt(gx * gx + gy * gy) + 1e-6
    return gy / norm, gx / norm


def seam_measures(v: Views) -> dict[str, float]:
    """Across-boundary lightness steps on the mask boundary vs the same directional
    steps in the surrounding ring (the image's natural edges in that direction).

    ``step``: RMS of the across-boundary gradient on the boundary bands over its RMS in
    the ring; ``incoherent``: the same for the part of the step that changes sign along
    the boundary (texture broken by a paste, not a defect's consistent edge).
    """
    ny, nx = _outward_normals(v.mask)
    smooth = cv2.GaussianBlur(v.edited, (0, 0), 1.0)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    across = gy * ny + gx * nx
    edge = v.inner | v.outer
    b, r = across[edge], across[v.ring]
    if b.size < MIN_PIXELS or r.size < MIN_PIXELS:
        return {"step": 1.0, "incoherent": 1.0}
    natural = float(np.sqrt(np.mean(r * r))) + 0.05
    return {
        "step": float(np.sqrt(np.mean(b * b))) / natural,
        "incoherent": float(np.std(b)) / natural,
    }


def seam_term(v: Views) -> TermResult:
    """Seam: a pasted border breaks the texture along the mask boundary, so the
    across-boundary steps vary in sign and exceed the image's natural steps."""
    m = seam_measures(v)
    value = log_ramp(m["incoherent"], 4.0, 2.0)
    result = TermResult("seam", value, m)
    if value < 0.5:
        result.parameter, result.direction = "blend", "soften"
        result.text = "The defect's border is a visible seam; blend it softly into the surface (feather)."
    return result


def color_term(v: Views, relation: str | None) -> TermResult:
    """Colour relation: the sign of the lightness change against the knowledge base's
    ``relation`` ("darker"/"lighter"; other relations are not checked here)."""
    signed = v.signed[v.mask]
    shift = float(np.median(signed))
    measured = {"lightness_shift": shift}
    if relation not in ("darker", "lighter"):
        return TermResult("color", 1.0, measured)
    s = shift / v.noise if relation == "lighter" else -shift / v.noise
    value = ramp(s, -1.0, 0.0)
    result = TermResult("color", value, measured)
    if value < 0.5:
        result.parameter, result.direction = "color", relation
        result.text = f"This defect is usually {relation} than the surface; make it {relation}."
    return result
