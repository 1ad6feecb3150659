"""Small image operations shared by the re-run baselines (Perlin, CutPaste, NSA).

Why a shared "honest mask": the original papers label the whole pasted or thresholded
region as defect, even where the paste left the pixels unchanged (a patch copied onto a
similar patch, a Perlin blob filled with a texture of the same grey). A detector trained
on such labels is taught to call normal-looking pixels defective. Here a mask pixel is a
pixel of the region whose value visibly changed.

Images are (H, W) grayscale or (H, W, 3) RGB uint8; grayscale stays grayscale.
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from ..images import to_gray, to_rgb

# A change of more than this many grey levels (largest channel) counts as visible; JPEG
# noise on the shared data is about 1-2 levels.
VISIBLE_DELTA = 5.0
MIN_DEFECT_FRACTION = 2e-4  # masks smaller than this share of the image are retried


def like(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``source`` resized to ``target``'s (H, W) and converted to its channel count."""
    h, w = target.shape[:2]
    if source.shape[:2] != (h, w):
        interp = cv2.INTER_AREA if source.shape[0] > h else cv2.INTER_LINEAR
        source = cv2.resize(source, (w, h), interpolation=interp)
    return to_gray(source) if target.ndim == 2 else to_rgb(source)


def change_magnitude(before: np.ndarray, after: np.ndarray, smooth: float = 0.0) -> np.ndarray:
    """(H, W) float32 absolute change (largest channel), Gaussian-smoothed when ``smooth`` > 0 (sigma, px)."""
    diff = np.abs(before.astype(np.float32) - after.astype(np.float32))
    if diff.ndim == 3:
        diff = diff.max(axis=2)
    return cv2.GaussianBlur(diff, (0, 0), smooth) if smooth > 0 else diff


def honest_mask(before: np.ndarray, after: np.ndarray, region: np.ndarray, delta: float = VISIBLE_DELTA,
                smooth: float = 0.0) -> np.ndarray:
    """(H, W) bool: pixels of ``region`` whose value changed by more than ``delta`` levels.

    ``smooth`` > 0 judges the change at the scale of a few pixels (see ``change_magnitude``):
    a Poisson blend changes a patch by a smooth amount that a fine-grained source texture
    pushes above and below ``delta`` pixel by pixel, and a per-pixel threshold turns that
    into salt-and-pepper labels. Components of fewer than 4 pixels are dropped.
    """
    diff = change_magnitude(before, after, smooth)
    mask = (region & (diff > delta)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    keep = np.r_[False, stats[1:, cv2.CC_STAT_AREA] >= 4] if count > 1 else np.zeros(1, bool)
    return keep[labels]


def finish(before: np.ndarray, after: np.ndarray, region: np.ndarray, smooth: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(image, mask) with the invariant every baseline keeps: outside the mask the image
    equals ``before`` exactly, inside it the change (smoothed by ``smooth``) exceeds
    VISIBLE_DELTA. Changes left outside the mask (invisible ones) are reverted.
    """
    mask = honest_mask(before, after, region, smooth=smooth)
    keep = mask[..., None] if before.ndim == 3 else mask
    return np.where(keep, after, before).astype(np.uint8), mask


def big_enough(mask: np.ndarray) -> bool:
    return int(mask.sum()) >= max(16, int(MIN_DEFECT_FRACTION * mask.size))


def draw_visible(image: np.ndarray, draw: Callable[[], tuple[np.ndarray, np.ndarray]],
                 tries: int = 10, smooth: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Call ``draw() -> (edited, region)`` until the honest mask is big enough (``tries`` at most).

    Returns (image, mask) as ``finish`` does; when no try changed anything visibly, the
    image comes back unchanged with an empty mask (never an unlabeled change).
    """
    out, mask = image.copy(), np.zeros(image.shape[:2], bool)
    for _ in range(tries):
        out, mask = finish(image, *draw(), smooth=smooth)
        if big_enough(mask):
            break
    if not mask.any():
        out = image.copy()
    return out, mask


def color_jitter(image: np.ndarray, rng: np.random.Generator, brightness: float = 0.1, contrast: float = 0.1,
                 saturation: float = 0.1, hue: float = 0.1) -> np.ndarray:
    """torchvision-style ColorJitter on uint8: factors drawn from [1 - s, 1 + s], hue shift in [-h, h] turns.

    Grayscale images only get brightness and contrast.
    """
    out = image.astype(np.float32)
    out *= rng.uniform(1 - brightness, 1 + brightness)
    mean = float(to_gray(np.clip(out, 0, 255).astype(np.uint8)).mean())
    out = (out - mean) * rng.uniform(1 - contrast, 1 + contrast) + mean
    out = np.clip(out, 0, 255).astype(np.uint8)
    if out.ndim == 3:
        gray = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32)[..., None]
        out = np.clip((out - gray) * rng.uniform(1 - saturation, 1 + saturation) + gray, 0, 255).astype(np.uint8)
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
        shift = int(round(rng.uniform(-hue, hue) * 180))
        hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + shift) % 180).astype(np.uint8)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return out


def random_point(allowed: np.ndarray, rng: np.random.Generator, margin: tuple[int, int] = (0, 0)) -> tuple[int, int] | None:
    """A random (x, y) where ``allowed`` is True, at least ``margin`` (mx, my) px from the border."""
    h, w = allowed.shape
    mx, my = margin
    if 2 * mx >= w or 2 * my >= h:
        return None
    inner = np.zeros_like(allowed)
    inner[my:h - my, mx:w - mx] = allowed[my:h - my, mx:w - mx]
    ys, xs = np.nonzero(inner)
    if len(xs) == 0:
        return None
    i = int(rng.integers(len(xs)))
    return int(xs[i]), int(ys[i])
