"""What a structural edit knows about the image beyond its pixels: the object, its parts,
other normal images of the category, and a defect bank; and which pixels form the part
to move or remove (``select_part``). What lies behind a moved part is render/background.py.

All masks are (H, W) bool; images are (H, W) or (H, W, 3) uint8 like the renderers'.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..change import channel_norm
from .shading import as_float


@dataclass
class Scene:
    """Context a family may use; every field is optional.

    ``foreground``: (H, W) bool object mask (``state.foreground`` in an episode);
    ``part``: (H, W) bool mask of the part to edit when a product model knows it;
    ``parts``: named part masks ({"lead": mask, ...}) a spec can select with
    ``params.part``; ``normals``: other normal images of the category (same shape or
    resizable), used as background plates, with their object masks in ``normal_masks``
    when a product model knows them; ``bank``: a defect bank (bank.DefectBank);
    ``memo``: a render.memo.RenderMemo that one sample's edits share (registrations of the
    normals, background plates); it changes no output, only how often they are computed.
    """

    foreground: np.ndarray | None = None
    part: np.ndarray | None = None
    parts: dict[str, np.ndarray] = field(default_factory=dict)
    normals: tuple[np.ndarray, ...] = ()
    bank: Any = None
    normal_masks: tuple[np.ndarray, ...] = ()  # object masks of ``normals`` (estimated when absent)
    memo: Any = None  # render.memo.RenderMemo kept across one sample's edits (speed only), or None

    def part_for(self, name: str | None) -> np.ndarray | None:
        """The named part's mask when known, else the generic ``part`` mask."""
        if name and name in self.parts:
            return self.parts[name]
        return self.part


def gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def distinct_object(fg: np.ndarray | None) -> bool:
    """True when ``fg`` marks an object on a background (covers 2-90 % of the image).
    A bool mask's share is its count / size (the float64 value ``mean`` gives, ~10x
    faster at 256 px; the structural families ask several times an edit)."""
    if fg is not None and fg.dtype == bool and fg.size:
        return 0.02 < np.count_nonzero(fg) / fg.size < 0.9
    return fg is not None and fg.shape and 0.02 < float(fg.mean()) < 0.9


def local_part(image: np.ndarray, cx: float, cy: float, radius: float, fg: np.ndarray | None) -> np.ndarray:
    """(H, W) bool: the part under (cx, cy) px, found from colour when no product model
    is given.

    Inside a disc of ``radius`` px, a pixel belongs to the part when its (lightly
    blurred) colour is closer to the colour at the centre than to the colour of the
    disc's rim (the surroundings), restricted to ``fg`` when it marks an object; the
    connected component holding the centre is kept. On a uniform texture this gives an
    irregular patch around the centre, which is what "the part" means there.
    """
    h, w = image.shape[:2]
    r = max(3.0, radius)
    x0, x1 = int(max(0, cx - r)), int(min(w, cx + r + 1))
    y0, y1 = int(max(0, cy - r)), int(min(h, cy + r + 1))
    crop = cv2.GaussianBlur(as_float(image[y0:y1, x0:x1]), (0, 0), max(0.8, 0.03 * r))
    crop = crop[:, :, None] if crop.ndim == 2 else crop
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    d = np.hypot(xx - cx, yy - cy)
    disc = d <= r
    rim = disc & (d > 0.8 * r)
    core = d <= max(1.5, 0.15 * r)
    out = np.zeros((h, w), bool)
    if not rim.any() or not core.any():
        out[y0:y1, x0:x1] = disc
        return out
    r_col = np.median(crop[rim], axis=0)
    dr = channel_norm(crop - r_col)
    # Snap the seed to the most distinct pixel near the centre when the centre itself looks
    # like the surroundings (a planned centre beside a thin lead rather than on it).
    near = d <= max(2.0, 0.35 * r)
    if float(np.median(dr[core])) < 12.0 and float(dr[near].max()) > 24.0:
        iy, ix = np.unravel_index(int(np.argmax(np.where(near, dr, -1.0))), dr.shape)
        cx, cy = float(ix + x0), float(iy + y0)
        core = np.hypot(xx - cx, yy - cy) <= max(1.5, 0.08 * r)
    c_col = np.median(crop[core], axis=0)
    dc = channel_norm(crop - c_col)
    part = disc & (dc < dr)
    if float(np.linalg.norm(c_col - r_col)) < 12.0:  # the centre looks like its surroundings
        part = disc & (d <= 0.6 * r)
    if fg is not None and distinct_object(fg):
        part &= fg[y0:y1, x0:x1]
    # Cut thin bridges (a part touching a look-alike neighbour) before picking the seed's component.
    k = max(3, int(0.06 * r) | 1)
    opened = cv2.morphologyEx(part.astype(np.uint8), cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    if opened.any():
        part = opened.astype(bool)
    n, labels = cv2.connectedComponents(part.astype(np.uint8), connectivity=8)
    cyi, cxi = int(round(cy)) - y0, int(round(cx)) - x0
    cyi, cxi = min(max(cyi, 0), labels.shape[0] - 1), min(max(cxi, 0), labels.shape[1] - 1)
    lab = labels[cyi, cxi]
    if lab == 0 and n > 1:  # centre fell on a gap: the largest component near it
        counts = np.bincount(labels[core].ravel(), minlength=n)
        counts[0] = 0
        lab = int(counts.argmax()) if counts.max() > 0 else int(np.bincount(labels.ravel())[1:].argmax() + 1)
    sel = labels == lab if lab else part
    if sel.sum() < 4:
        sel = disc & (d <= 0.6 * r)
    out[y0:y1, x0:x1] = cv2.morphologyEx(sel.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)).astype(bool)
    return out


def select_part(image: np.ndarray, spec_center: tuple[float, float], radius: float, scene: Scene | None,
                name: str | None = None) -> np.ndarray:
    """(H, W) bool part to edit near ``spec_center`` (fractions): the connected component
    of the scene's part mask nearest to the centre (within 2 ``radius``), else the
    colour-based ``local_part``."""
    h, w = image.shape[:2]
    cx, cy = spec_center[0] * (w - 1), spec_center[1] * (h - 1)
    mask = scene.part_for(name) if scene is not None else None
    if mask is not None and mask.shape == (h, w) and mask.any():
        n, labels, stats, cents = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        if n > 1:
            dist = np.hypot(cents[1:, 0] - cx, cents[1:, 1] - cy)
            # distance to the component's pixels, not its centroid: a long lead counts where it is
            best, best_d = 0, math.inf
            for i in np.argsort(dist)[:6]:
                ys, xs = np.nonzero(labels == i + 1)
                dd = float(np.min(np.hypot(xs - cx, ys - cy)))
                if dd < best_d:
                    best, best_d = i + 1, dd
            if best and best_d <= 2.0 * radius + 2.0:
                return labels == best
    fg = scene.foreground if scene is not None else None
    return local_part(image, cx, cy, radius, fg)
