"""Spec extraction: the DefectSpec that describes a real defect, and how well it fits.

Given a real anomaly, its pseudo-normal reconstruction and its mask, we measure what an
expert would write into the IG call that produced it:

- family: from the defect's name (knowledge-base lookup) and, separately, from the
  mask's shape (thin line, compact spot or broad area; see ``shape_family``);
- geometry in DefectSpec conventions (records.py, render/shapes.py): centre = centre
  of the mask's minimum-area rectangle as fractions of (W - 1, H - 1); size = that
  rectangle's longest side / min(H, W); angle = principal axis of the largest
  component, degrees counter-clockwise from +x as the viewer sees it; aspect = the
  largest component's rectangle elongation;
- appearance: colour relation (median Lab change inside the mask), edge sharpness
  (blend), texture (grain inside vs around), intensity (calibrated by rendering: the
  renderer's intensity whose output best matches the real colours).

``fit`` renders a spec on the reconstruction and compares with the real defect: mask
IoU (renderer alpha > 0.5 vs the real mask) and mean CIE76 delta-E inside the real mask
(next to the same error of not editing at all).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..change import delta_e, iou
from ..critic.views import grow, highpass, robust_std
from ..images import to_rgb
from ..knowledge.entry import KnowledgeEntry
from ..planning import instruction
from ..records import DefectSpec
from ..render import RENDERERS, render

INTENSITY_GRID = (0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.75, 0.9)  # calibration candidates (renderer units)
SIZE_SCALES = (0.7, 1.0, 1.4)  # calibration candidates: factors on the measured extent
LINE_FAMILIES = ("crack", "scratch", "cut", "fold")
SPOT_FAMILIES = ("hole", "particle", "dent")
AREA_FAMILIES = ("stain", "discoloration", "rust", "missing", "fray", "print", "deform")


@dataclass
class Measured:
    """Raw measurements behind an extracted spec (units in the field names' comments)."""

    extent: float  # longest side of the min-area rectangle / min(H, W)
    aspect: float  # elongation of the largest component (>= 1)
    thinness: float  # (extent in px)^2 / area: ~ length / width for a line, ~1.3 for a disc
    area_fraction: float  # mask pixels / image pixels
    lightness_shift: float  # median L* change inside the mask (anomaly - normal), L* units
    chroma_shift: tuple[float, float]  # median (a*, b*) change, Lab units (0, 0) for grey
    darker_share: float  # share of mask pixels that got darker
    edge_sharpness: float  # mean |grad of the change| on the border / contrast, 1/px
    grain_ratio: float  # grain inside / grain around (anomaly image)
    contrast: float  # 75th percentile of delta-E inside the mask
    shape_family: str  # family guessed from the shape alone

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else [round(x, 4) for x in v] if isinstance(v, tuple) else v)
                for k, v in self.__dict__.items()}


@dataclass
class Fit:
    """How a rendered spec matches the real defect: ``iou`` of masks; ``color_error``:
    mean delta-E inside the real mask, rendered vs real (pixel by pixel, so it also
    counts misplaced geometry); ``baseline_error``: the same for the unedited
    reconstruction; ``mean_color_error``: delta-E between the mean Lab colour of the
    rendered defect (alpha > 0.5) and of the real one (geometry-free);
    ``contrast_ratio``: rendered / real contrast (75th percentile delta-E to normal)."""

    iou: float
    color_error: float
    baseline_error: float
    mean_color_error: float = 0.0
    contrast_ratio: float = 1.0
    rendered_fraction: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in self.__dict__.items()}


@dataclass
class Extraction:
    spec: DefectSpec
    measured: Measured
    family_source: str  # "knowledge" (defect name) or "shape"
    fit: Fit | None = None
    calibration: dict[str, float] = field(default_factory=dict)  # intensity -> colour error


def _rect(points: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    (cx, cy), (rw, rh), _ = cv2.minAreaRect(points.astype(np.float32))
    return (cx, cy), (rw, rh)


def _largest(mask: np.ndarray) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def principal_angle(mask: np.ndarray) -> float:
    """Orientation of the mask's principal axis, degrees ccw from +x (viewer), in [0, 180)."""
    ys, xs = np.nonzero(mask)
    if ys.size < 3:
        return 0.0
    cov = np.cov(np.stack([xs - xs.mean(), ys - ys.mean()]).astype(np.float64))
    vals, vecs = np.linalg.eigh(cov)
    vx, vy = vecs[:, int(np.argmax(vals))]
    return float(math.degrees(math.atan2(-vy, vx)) % 180.0)


def shape_family(aspect: float, thinness: float, extent: float, darker: bool) -> str:
    """A family from the shape alone: thin lines, compact spots or broad areas.

    Thresholds: a mask at least 5x longer than wide (by its rectangle, or by
    extent^2 / area for a wandering line) is a line (crack when darker, scratch when
    lighter); a compact one (aspect < 2.5) under 12 % of the short side is a spot
    (hole); anything else is an area (stain)."""
    if aspect >= 5.0 or thinness >= 8.0:
        return "crack" if darker else "scratch"
    if aspect < 2.5 and extent < 0.12:
        return "hole"
    return "stain"


def measure(anomaly: np.ndarray, normal: np.ndarray, mask: np.ndarray) -> Measured:
    """Measure the defect under ``mask`` ((H, W) bool, non-empty) of ``anomaly`` against
    its reconstruction ``normal`` (same shape uint8)."""
    h, w = mask.shape
    pts = np.argwhere(mask)[:, ::-1]
    _, (rw, rh) = _rect(pts)
    extent = min(1.0, max(rw, rh, 1.0) / min(h, w))
    big = _largest(mask)
    _, (bw, bh) = _rect(np.argwhere(big)[:, ::-1])
    aspect = max(bw, bh, 1.0) / max(min(bw, bh), 1.0)
    lab_a = cv2.cvtColor(to_rgb(anomaly).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    lab_n = cv2.cvtColor(to_rgb(normal).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    change = lab_a - lab_n
    dl = change[:, :, 0][mask]
    chroma = (0.0, 0.0) if anomaly.ndim == 2 else (float(np.median(change[:, :, 1][mask])), float(np.median(change[:, :, 2][mask])))
    de = delta_e(normal, anomaly)
    contrast = float(np.percentile(de[mask], 75))
    border = grow(mask, 1) & ~(mask & ~grow(~mask, 1))
    gy, gx = np.gradient(cv2.GaussianBlur(de, (0, 0), 0.7))
    sharp = float(np.sqrt(gx * gx + gy * gy)[border].mean()) / max(contrast, 1e-3)
    grain = highpass(lab_a[:, :, 0])
    ring = grow(mask, 6) & ~grow(mask, 2)
    core = mask & ~grow(~mask, 1)
    inside = grain[core] if core.sum() >= 6 else grain[mask]
    g_ratio = robust_std(inside) / max(robust_std(grain[ring]) if ring.any() else 0.0, 0.3)
    darker_share = float((dl < 0).mean())
    thin = (extent * min(h, w)) ** 2 / max(float(mask.sum()), 1.0)
    fam = shape_family(aspect, thin, extent, darker_share >= 0.5)
    return Measured(extent, float(aspect), float(thin), float(mask.mean()), float(np.median(dl)), chroma, darker_share,
                    sharp, float(g_ratio), contrast, fam)


def color_relation(m: Measured) -> str:
    """records.COLOR_RELATIONS word for the measured change: a hue word when the chroma
    change exceeds the lightness change, "mixed" when neither sign holds 65 % of pixels."""
    da, db = m.chroma_shift
    if math.hypot(da, db) > abs(m.lightness_shift):
        return "reddish" if da > abs(db) else "brownish" if db > 0 else "hue"
    if 0.35 < m.darker_share < 0.65:
        return "mixed"
    return "darker" if m.darker_share >= 0.5 else "lighter"


def _params(entry: KnowledgeEntry | None, family: str, m: Measured, mask: np.ndarray) -> dict[str, Any]:
    """Family parameters: the knowledge base's prior midpoints, line width measured."""
    out: dict[str, Any] = {}
    priors = dict((entry.priors or {}).get("params", {})) if entry is not None and entry.family == family else {}
    for k, v in priors.items():
        if isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v):
            out[k] = round((float(v[0]) + float(v[1])) / 2.0, 4)
        else:
            out[k] = v
    if family in LINE_FAMILIES:
        length = max(m.extent * min(mask.shape), 1.0)
        out["width"] = round(float(np.clip(mask.sum() / length / min(mask.shape), 0.002, 0.1)), 4)
    return out


def extract(anomaly: np.ndarray, normal: np.ndarray, mask: np.ndarray, entry: KnowledgeEntry | None,
            category: str, defect: str, rng: np.random.Generator | None = None, calibrate: bool = True) -> Extraction:
    """The DefectSpec of the real defect (see the module docstring); with ``calibrate``
    the intensity is the grid value whose rendering (seeded from ``rng``) has the lowest
    colour error, and ``fit`` is measured for it."""
    if not mask.any():
        raise ValueError("empty mask: nothing to extract")
    m = measure(anomaly, normal, mask)
    known = entry is not None and entry.family in RENDERERS.names()
    family = entry.family if known else m.shape_family
    h, w = mask.shape
    (cx, cy), _ = _rect(np.argwhere(mask)[:, ::-1])
    spec = DefectSpec(
        family=family, defect_type=defect, category=category,
        center=(round(float(np.clip(cx / max(w - 1, 1), 0, 1)), 4), round(float(np.clip(cy / max(h - 1, 1), 0, 1)), 4)),
        size=round(float(np.clip(m.extent, 0.005, 1.0)), 4),
        angle=round(principal_angle(_largest(mask)), 1),
        aspect=round(float(np.clip(m.aspect, 1.0, 60.0)), 3),
        intensity=round(float(np.clip(m.contrast / 40.0, 0.05, 1.0)), 3),
        color=color_relation(m),
        texture="smooth" if m.grain_ratio < 0.6 else "grainy" if m.grain_ratio > 1.6 else "keep",
        blend="hard" if m.edge_sharpness > 0.35 else "feather",
        params=_params(entry, family, m, mask),
    )
    out = Extraction(spec.replace(instruction=instruction(spec, entry)), m, "knowledge" if known else "shape")
    if calibrate:
        seed = int((rng or np.random.default_rng(0)).integers(2**31))
        spec, out.calibration = calibrate_spec(normal, anomaly, mask, spec, seed)
        out.spec = spec.replace(instruction=instruction(spec, entry))
        out.fit = fit(normal, anomaly, mask, out.spec, seed)
    return out


def calibrate_spec(normal: np.ndarray, anomaly: np.ndarray, mask: np.ndarray, spec: DefectSpec,
                   seed: int) -> tuple[DefectSpec, dict[str, float]]:
    """Two renderer-specific corrections of the measured spec, by rendering it:
    the size factor (``SIZE_SCALES``) with the best mask IoU, then the intensity
    (``INTENSITY_GRID``) whose rendered contrast is closest (in log ratio) to the real
    one. Why contrast and not the pixel error: a line drawn two pixels off scores a
    lower pixel error the fainter it is, which would calibrate every thin defect to
    invisible. Returns the spec and what was tried (for the record)."""
    tried: dict[str, float] = {}
    best_iou, best_size = -1.0, spec.size
    for factor in SIZE_SCALES:
        size = round(float(np.clip(spec.size * factor, 0.005, 1.0)), 4)
        if f"size={size}" in tried:
            continue
        f = fit(normal, anomaly, mask, spec.replace(size=size), seed)
        tried[f"size={size}"] = round(f.iou, 4)
        if f.iou > best_iou + 1e-9:
            best_iou, best_size = f.iou, size
    spec = spec.replace(size=best_size)
    best_gap, best_value = float("inf"), spec.intensity
    for value in INTENSITY_GRID:
        f = fit(normal, anomaly, mask, spec.replace(intensity=value), seed)
        gap = abs(math.log(max(f.contrast_ratio, 1e-3)))
        tried[f"intensity={value}"] = round(f.contrast_ratio, 4)
        if gap < best_gap - 1e-9:
            best_gap, best_value = gap, value
    return spec.replace(intensity=best_value), tried


def fit(normal: np.ndarray, anomaly: np.ndarray, mask: np.ndarray, spec: DefectSpec, seed: int = 0) -> Fit:
    """Render ``spec`` on ``normal`` (renderer seeded with ``seed``) and compare it with
    the real ``anomaly`` under the real ``mask`` ((H, W) bool)."""
    edited, alpha = render(normal, spec, np.random.default_rng(seed))
    drawn = alpha > 0.5
    err = float(delta_e(edited, anomaly)[mask].mean())
    base = float(delta_e(normal, anomaly)[mask].mean())
    real_contrast = float(np.percentile(delta_e(normal, anomaly)[mask], 75))
    if not drawn.any():
        return Fit(iou(drawn, mask), err, base, float("nan"), 0.0, 0.0)
    drawn_contrast = float(np.percentile(delta_e(normal, edited)[drawn], 75))
    lab = lambda img, where: cv2.cvtColor(to_rgb(img).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)[where].mean(axis=0)
    mean_err = float(np.linalg.norm(lab(edited, drawn) - lab(anomaly, mask)))
    return Fit(iou(drawn, mask), err, base, mean_err, drawn_contrast / max(real_contrast, 1e-3), float(drawn.mean()))
