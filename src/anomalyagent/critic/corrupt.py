"""Corruptions of a good defect: the bad edits the critic must rank below real ones.

Why in the package: the calibration benchmark (benchmarks/bench_critic.py) and the
critic's tests apply the same corruptions, to real anomalies and to synthetic fixtures.
Each takes the pair (normal, edited) and the defect's (H, W) bool mask and returns a new
(edited, mask): the mask is what a change detector would report for the corrupted edit.
Randomness comes only from the ``rng`` argument.

- ``fade``: the change scaled to ``factor`` (20 %) of its contrast;
- ``flat_blob``: the defect replaced by its own mean colour, no grain;
- ``scale_up``: the defect enlarged ``factor`` (4x) about its middle (upsampled, so
  also blurrier than the image);
- ``move``: the defect translated to where ``target`` (H, W) bool allows it: the
  background for objects, away from the border for edge defects on textures;
- ``hard_seam``: a patch around the defect (the mask grown by a margin) whose background
  comes from elsewhere in the image, pasted with a binary edge: the CutPaste border.
"""
from __future__ import annotations

import cv2
import numpy as np


def _blend(base: np.ndarray, layer: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None] if base.ndim == 3 else alpha
    out = base.astype(np.float32) * (1.0 - a) + layer.astype(np.float32) * a
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _soft(mask: np.ndarray) -> np.ndarray:
    """Anti-aliased alpha of a binary mask (1 px feather), so moves add no seam of their own."""
    return cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0.7)


def fade(normal: np.ndarray, edited: np.ndarray, mask: np.ndarray, factor: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """The edit at ``factor`` of its strength: normal + factor * (edited - normal)."""
    out = normal.astype(np.float32) + factor * (edited.astype(np.float32) - normal.astype(np.float32))
    return np.clip(np.round(out), 0, 255).astype(np.uint8), mask.copy()


def flat_blob(normal: np.ndarray, edited: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every defect pixel set to the defect's mean colour (a flat, grainless blob)."""
    out = edited.copy()
    out[mask] = np.round(edited[mask].reshape(int(mask.sum()), -1).mean(axis=0)).astype(np.uint8).squeeze()
    return out, mask.copy()


def scale_up(normal: np.ndarray, edited: np.ndarray, mask: np.ndarray, factor: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """The defect (its pixels and mask) enlarged ``factor`` times about the mask pixel
    nearest its centroid (a pixel on the defect, so a thin or broken mask stays in frame)."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    i = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
    cy, cx = float(ys[i]), float(xs[i])
    warp = np.array([[factor, 0.0, cx * (1 - factor)], [0.0, factor, cy * (1 - factor)]], np.float32)
    layer = cv2.warpAffine(edited, warp, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    big = cv2.warpAffine(mask.astype(np.float32), warp, (w, h), flags=cv2.INTER_LINEAR) > 0.5
    return _blend(normal, layer, _soft(big)), big


def best_shift(mask: np.ndarray, target: np.ndarray, rng: np.random.Generator, step: int = 4) -> tuple[int, int]:
    """(dy, dx) moving the mask (kept inside the frame) to cover most of ``target``.

    Ties (within 2 % of the best coverage) are broken with ``rng``.
    """
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    kernel = mask[y0:y1, x0:x1].astype(np.float32)
    # cover[y, x]: target pixels under the mask's box placed with its top-left at (y, x)
    cover = cv2.filter2D(target.astype(np.float32), -1, kernel, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    cover = cover[: h - (y1 - y0) + 1: step, : w - (x1 - x0) + 1: step]
    best = float(cover.max())
    cand = np.argwhere(cover >= best - 0.02 * kernel.sum())
    ty, tx = cand[int(rng.integers(len(cand)))] * step
    return int(ty - y0), int(tx - x0)


def shift(array: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``array`` translated by (dy, dx) pixels, reflecting at the frame."""
    h, w = array.shape[:2]
    warp = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32)
    if array.dtype == bool:
        return cv2.warpAffine(array.astype(np.uint8), warp, (w, h), flags=cv2.INTER_NEAREST) > 0
    return cv2.warpAffine(array, warp, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)


def move(normal: np.ndarray, edited: np.ndarray, mask: np.ndarray, target: np.ndarray,
         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The defect's pixels carried, with a 1 px feather, to where ``target`` is most True."""
    dy, dx = best_shift(mask, target, rng)
    moved = shift(mask, dy, dx)
    return _blend(normal, shift(edited, dy, dx), _soft(moved)), moved


def hard_seam(normal: np.ndarray, edited: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
              margin: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A CutPaste-style patch: inside the mask grown by ``margin`` px, the background is
    the normal image shifted by a random offset (so its texture and shading do not
    continue the surroundings) and the defect's change is added on top; the patch is
    pasted with a binary edge. Returns (edited, patch mask)."""
    h, w = mask.shape
    area = float(mask.sum())
    if margin is None:
        margin = max(3, int(round(0.3 * np.sqrt(area / np.pi))), int(round(min(h, w) / 64)))
    k = 2 * margin + 1
    patch = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))).astype(bool)
    ys, xs = np.nonzero(patch)
    extent = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
    dist = max(int(round(min(h, w) / 16)), int(round(0.5 * extent)))
    angle = rng.uniform(0.0, 2.0 * np.pi)
    dy, dx = int(round(dist * np.sin(angle))), int(round(dist * np.cos(angle)))
    source = shift(normal, dy, dx).astype(np.float32)
    change = edited.astype(np.float32) - normal.astype(np.float32)
    pasted = np.clip(np.round(source + change), 0, 255).astype(np.uint8)
    out = normal.copy()
    out[patch] = pasted[patch]
    return out, patch
