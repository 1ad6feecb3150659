"""Change detection between a normal image and its edited version (the MG tool's core).

Works for any editor: procedural renderers leave untouched pixels identical, diffusion
editors re-encode the whole image, so the threshold adapts to the global noise floor.

Steps: perceptual difference (CIE76 delta-E in Lab; 1 unit ~ a just-noticeable step)
-> noise floor from the median/MAD of the difference -> a pixel is changed when its
difference exceeds both the floor and half of the local maximum difference (so the mask
follows the 50% contour of a soft edit, as the renderer's alpha > 0.5 does) ->
morphology -> keep the components near the planned region.
"""
from __future__ import annotations

import cv2
import numpy as np

from .images import to_rgb


def delta_e(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W) float32 CIE76 colour difference between two images of the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim == 2:  # grayscale: L* difference only
        la = cv2.cvtColor(cv2.cvtColor(a, cv2.COLOR_GRAY2RGB), cv2.COLOR_RGB2LAB)[:, :, 0].astype(np.float32)
        lb = cv2.cvtColor(cv2.cvtColor(b, cv2.COLOR_GRAY2RGB), cv2.COLOR_RGB2LAB)[:, :, 0].astype(np.float32)
        return np.abs(la - lb) * (100.0 / 255.0)
    la = cv2.cvtColor(to_rgb(a).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    lb = cv2.cvtColor(to_rgb(b).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return np.linalg.norm(la - lb, axis=2)


def noise_floor(diff: np.ndarray, minimum: float = 2.0) -> float:
    """Difference level that unchanged pixels stay under: median + 6 MAD, at least ``minimum``."""
    sample = diff[::2, ::2].ravel()
    med = float(np.median(sample))
    mad = float(np.median(np.abs(sample - med)))
    return max(minimum, med + 6.0 * 1.4826 * mad)


def change_mask(
    normal: np.ndarray,
    edited: np.ndarray,
    hint: tuple[float, float] | None = None,
    hint_radius: float = 0.35,
    min_area_fraction: float = 2e-5,
) -> np.ndarray:
    """(H, W) bool mask of what changed from ``normal`` to ``edited``.

    ``hint`` is the planned centre (x, y) as fractions of width/height; components whose
    nearest pixel is farther than ``hint_radius`` * min(H, W) from it are dropped (an
    editor's stray changes elsewhere are not the defect). Without a hint all changed
    components are kept.
    """
    h, w = normal.shape[:2]
    diff = delta_e(normal, edited)
    diff = cv2.GaussianBlur(diff, (3, 3), 0)
    floor = noise_floor(diff)
    if float(diff.max()) <= floor:
        return np.zeros((h, w), bool)
    win = max(5, int(round(min(h, w) * 0.03)) | 1)
    local_max = cv2.dilate(diff, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (win, win)))
    changed = (diff > floor) & (diff >= 0.5 * local_max)
    mask = changed.astype(np.uint8)
    k = max(3, int(round(min(h, w) / 256.0 * 3)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return np.zeros((h, w), bool)
    min_area = max(2, int(min_area_fraction * h * w))
    keep = np.zeros(count, bool)
    for i in range(1, count):
        if stats[i, cv2.CC_STAT_AREA] < min_area:
            continue
        if hint is None:
            keep[i] = True
            continue
        ys, xs = np.nonzero(labels[stats[i, 1]:stats[i, 1] + stats[i, 3], stats[i, 0]:stats[i, 0] + stats[i, 2]] == i)
        dx = (xs + stats[i, 0]) - hint[0] * (w - 1)
        dy = (ys + stats[i, 1]) - hint[1] * (h - 1)
        keep[i] = float(np.sqrt(dx * dx + dy * dy).min()) <= hint_radius * min(h, w)
    if not keep.any():  # nothing near the plan: keep the strongest component
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep[1 + int(np.argmax(areas))] = True
    return keep[labels]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)
