"""Pseudo-normal images: remove a real defect by filling its (dilated) mask.

Why: real anomaly images come without their defect-free twin, but the critic, the
mask generator and reverse synthesis all compare a normal image with an edited one.
Filling the defect region from its surroundings gives a stand-in normal image whose
pixels outside the filled region are exactly the anomaly image's.

Methods are registered by name in ``RECONSTRUCTORS`` (one function each, signature
``fn(image, region) -> image``); ``reconstruct_normal`` is the entry point:

- ``telea``: OpenCV fast marching (Telea 2004); smooth, fast, blurs large regions;
- ``ns``: OpenCV Navier-Stokes; continues isophotes (edges) into the region;
- ``biharmonic``: scikit-image biharmonic fill; smoothest, slowest (computed on the
  region's bounding box only).

All of them fill with smooth content: the region loses its grain. Benchmarks that use a
reconstruction as the "normal" image must keep that in mind (the critic measures grain
on the edited image, not on the difference).
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from .registry import Registry

Reconstructor = Callable[[np.ndarray, np.ndarray], np.ndarray]
RECONSTRUCTORS: Registry[np.ndarray] = Registry("reconstruction method")


def default_dilation(shape: tuple[int, ...]) -> int:
    """Pixels the mask is grown by: 2% of the shorter side, at least 3 px.

    Annotated masks hug the defect loosely or tightly depending on the annotator; the
    defect's halo (a shadow, a bright rim) must not leak into the reconstruction.
    """
    return max(3, int(round(0.02 * min(shape[:2]))))


def dilate_mask(mask: np.ndarray, pixels: int) -> np.ndarray:
    """(H, W) bool mask grown by ``pixels`` (elliptic structuring element)."""
    if pixels <= 0:
        return mask.astype(bool)
    k = 2 * pixels + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def _opencv(image: np.ndarray, region: np.ndarray, flag: int) -> np.ndarray:
    radius = max(3, int(round(0.015 * min(image.shape[:2]))))
    return cv2.inpaint(image, region.astype(np.uint8) * 255, radius, flag)


@RECONSTRUCTORS.register("telea")
def inpaint_telea(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Fill ``region`` by fast marching from its border (OpenCV INPAINT_TELEA)."""
    return _opencv(image, region, cv2.INPAINT_TELEA)


@RECONSTRUCTORS.register("ns")
def inpaint_ns(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Fill ``region`` by continuing isophotes (OpenCV INPAINT_NS)."""
    return _opencv(image, region, cv2.INPAINT_NS)


@RECONSTRUCTORS.register("biharmonic")
def inpaint_biharmonic(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Fill ``region`` with the biharmonic continuation of its border (scikit-image).

    Solved on the bounding box of the region plus a margin: the solution depends only
    on the pixels next to the region, and the full image would cost seconds.
    """
    from skimage.restoration import inpaint_biharmonic as _fill

    h, w = region.shape
    ys, xs = np.nonzero(region)
    m = 4
    y0, y1 = max(0, ys.min() - m), min(h, ys.max() + m + 1)
    x0, x1 = max(0, xs.min() - m), min(w, xs.max() + m + 1)
    crop = image[y0:y1, x0:x1].astype(np.float64) / 255.0
    filled = _fill(crop, region[y0:y1, x0:x1], channel_axis=-1 if image.ndim == 3 else None)
    out = image.copy()
    out[y0:y1, x0:x1] = np.clip(np.round(filled * 255.0), 0, 255).astype(np.uint8)
    return out


def reconstruct_normal(
    image: np.ndarray,
    mask: np.ndarray,
    method: str = "telea",
    dilate: int | None = None,
) -> np.ndarray:
    """A pseudo-normal version of ``image`` with the defect under ``mask`` removed.

    image: (H, W) or (H, W, 3) uint8; mask: (H, W) bool (True on the defect).
    ``dilate``: pixels to grow the mask by before filling (default: ``default_dilation``).
    Returns an array of the image's shape and dtype; pixels outside the grown mask are
    unchanged. An empty mask returns a copy of the image.
    """
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, 3) uint8, got {image.dtype} {image.shape}")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask {mask.shape} does not match image {image.shape[:2]}")
    if not mask.any():
        return image.copy()
    region = dilate_mask(mask, default_dilation(image.shape) if dilate is None else int(dilate))
    if region.all():
        raise ValueError("the mask covers the whole image: nothing to reconstruct from")
    out = RECONSTRUCTORS.get(method)(np.ascontiguousarray(image), region)
    out[~region] = image[~region]  # guarantee: untouched outside the filled region
    return out
