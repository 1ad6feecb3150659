"""Pick the pseudo-normal image of a real anomaly: inpainting methods vs an exemplar.

Why several candidates: no method wins everywhere. Inpainting (telea, ns, biharmonic)
is exact at the border but smooth inside; the exemplar (reverse/exemplar.py) has the
surface's grain but depends on a registration. Each candidate gets a consistency
score, our own measurement of how much its filled region looks like its surroundings
(grain, border continuity, brightness), and the best one is used.

Separately, ``critic_flags`` asks the real QE critic whether the fill looks like a
defect: the critic judges the fill as an edit of the anomaly and we read only its terms
that look at the judged image alone, ``seam`` (a pasted border) and ``texture`` (a
painted, grainless or noisy patch); either failing (< 0.5) flags the reconstruction.
The score and the flag measure similar properties in different ways; the flag is the
number reported, the score only ranks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..critic.views import grow, highpass, lightness, robust_std
from ..reconstruct import default_dilation, dilate_mask, reconstruct_normal
from .exemplar import exemplar_reconstruct

INPAINT_METHODS = ("telea", "ns", "biharmonic")
METHODS = INPAINT_METHODS + ("exemplar",)
FLAG_TERMS = ("seam", "texture")


@dataclass
class Candidate:
    """One reconstruction: ``image`` (anomaly's shape, uint8), its ``consistency`` in
    [0, 1] (1 = indistinguishable from its surroundings) with the raw ``measures``, and
    ``info`` about how it was made (exemplar source, rotation, NCC)."""

    method: str
    image: np.ndarray
    consistency: float = 0.0
    measures: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def _log_closeness(ratio: float, halving: float = 2.0) -> float:
    """1 at ratio 1, 0.5 at a factor ``halving`` either way, 0 at its square."""
    return max(0.0, 1.0 - abs(math.log(max(ratio, 1e-6))) / (2.0 * math.log(halving)))


def consistency(image: np.ndarray, region: np.ndarray) -> tuple[float, dict[str, float]]:
    """How well the filled ``region`` ((H, W) bool) of ``image`` blends in, in [0, 1].

    Three measures on CIE L* (0-100), each against a ring around the region as wide as a
    quarter of the region's equivalent diameter (4-24 px):

    - ``grain``: robust std of the fine detail (L* minus its sigma-1.5 blur) inside /
      in the ring; 1 is right, a smooth fill is well under 1;
    - ``border``: mean gradient magnitude on the region's border / in the ring; a seam
      is over 1 (only excess counts);
    - ``step``: |median L* inside - median L* in the ring| in units of the ring's
      lightness spread (robust std + 1 L*); a patch of the wrong brightness is over 1.

    Score = the geometric mean of the three closeness values (each in [0, 1]).
    """
    lum = lightness(image)
    area = float(region.sum())
    ring_px = int(np.clip(0.5 * math.sqrt(area / math.pi), 4, 24))
    ring = grow(region, ring_px) & ~grow(region, 1)
    if ring.sum() < 8:
        ring = ~region
    core = region & ~grow(~region, 1)
    if core.sum() < 4:
        core = region
    grain = highpass(lum)
    g_ring = max(robust_std(grain[ring]), 0.3)
    g_ratio = max(robust_std(grain[core]), 1e-3) / g_ring
    gy = cv2.Sobel(cv2.GaussianBlur(lum, (0, 0), 1.0), cv2.CV_32F, 0, 1, ksize=3) / 8.0
    gx = cv2.Sobel(cv2.GaussianBlur(lum, (0, 0), 1.0), cv2.CV_32F, 1, 0, ksize=3) / 8.0
    mag = np.sqrt(gx * gx + gy * gy)
    border = grow(region, 1) & ~(region & ~grow(~region, 1))
    b_ratio = float(mag[border].mean()) / max(float(mag[ring].mean()), 1e-3)
    step = abs(float(np.median(lum[core])) - float(np.median(lum[ring]))) / (robust_std(lum[ring]) + 1.0)
    scores = (_log_closeness(g_ratio), _log_closeness(max(1.0, b_ratio)), max(0.0, 1.0 - step / 2.0))
    value = float(np.exp(np.mean(np.log(np.clip(scores, 1e-6, 1.0)))))
    return value, {"grain_ratio": round(g_ratio, 4), "border_ratio": round(b_ratio, 4), "step": round(step, 4)}


def candidates(anomaly: np.ndarray, mask: np.ndarray, normals: list[np.ndarray] | None, kind: str,
               methods: tuple[str, ...] = METHODS) -> tuple[list[Candidate], np.ndarray]:
    """Every requested reconstruction of ``anomaly`` with ``mask`` ((H, W) bool) removed,
    best consistency first, and the filled region ((H, W) bool, the mask dilated by
    ``reconstruct.default_dilation``). The exemplar needs ``normals`` (same category)."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown reconstruction method(s) {unknown}; known: {', '.join(METHODS)}")
    region = dilate_mask(mask, default_dilation(anomaly.shape))
    out: list[Candidate] = []
    for method in methods:
        if method == "exemplar":
            ex = exemplar_reconstruct(anomaly, region, normals or [], kind)
            if ex is None:
                continue
            cand = Candidate(method, ex.image, info={"source": ex.source, "rotation": ex.rotation,
                                                     "ncc": round(ex.ncc, 4), "ecc": ex.ecc})
        else:
            cand = Candidate(method, reconstruct_normal(anomaly, mask, method))
        cand.consistency, cand.measures = consistency(cand.image, region)
        out.append(cand)
    out.sort(key=lambda c: (-c.consistency, METHODS.index(c.method)))
    return out, region


def critic_flags(anomaly: np.ndarray, reconstruction: np.ndarray, region: np.ndarray, kind: str,
                 foreground: np.ndarray | None = None) -> tuple[bool, dict[str, float]]:
    """(flagged, the critic's terms) for a reconstruction (see the module docstring)."""
    from ..critic import judge

    j = judge(anomaly, reconstruction, region, kind=kind, foreground=foreground)
    flagged = any(j.terms.get(t, 1.0) < 0.5 for t in FLAG_TERMS)
    return flagged, dict(j.terms)
