"""What every critic term looks at, computed once per judgement.

Why a shared record: the terms read the same crops (luminance of both images, the
perceptual difference, the bands around the mask boundary); computing them once keeps a
judgement under ~10 ms at 256x256. Everything is cropped to the mask's bounding box plus
a context margin, so the cost follows the defect's size, not the image's.

Units: luminance is CIE L* (0-100, one unit ~ one just-noticeable step of lightness);
``diff`` is CIE76 delta-E between edited and normal (same units). Masks are (h, w) bool
over the crop.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..change import channel_norm, dilate_disc, erode_disc, robust_std

# L* of each 8-bit grey level (sRGB transfer + CIE cube root); grey images skip cvtColor.
_GREY_TO_L = cv2.cvtColor(np.arange(256, dtype=np.uint8).reshape(1, 256, 1).repeat(3, 2), cv2.COLOR_RGB2LAB)[0, :, 0]
_GREY_TO_L = (_GREY_TO_L.astype(np.float32) * (100.0 / 255.0))

NOISE_FLOOR = 0.5  # L* units: below this the image is flatter than 8-bit quantisation makes measurable


def _kernel(pixels: int) -> np.ndarray:
    k = 2 * max(1, pixels) + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))


LARGE_RADIUS = 8  # px; above it a distance transform (O(pixels)) replaces the kernel (O(pixels x radius))


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """(h, w) bool mask dilated by ``pixels`` (0 returns it unchanged)."""
    if pixels > LARGE_RADIUS:
        return dilate_disc(mask, pixels)
    return mask if pixels <= 0 else cv2.dilate(mask.view(np.uint8), _kernel(pixels)).astype(bool)


def shrink(mask: np.ndarray, pixels: int) -> np.ndarray:
    """(h, w) bool mask eroded by ``pixels``; pixels outside the crop count as inside."""
    if pixels <= 0:
        return mask
    if pixels > LARGE_RADIUS:
        return erode_disc(mask, pixels)
    return cv2.erode(mask.view(np.uint8), _kernel(pixels), borderType=cv2.BORDER_REPLICATE).astype(bool)


def highpass(lum: np.ndarray) -> np.ndarray:
    """Fine-scale detail (grain): luminance minus its Gaussian blur (sigma 1.5 px)."""
    return lum - cv2.GaussianBlur(lum, (0, 0), 1.5)


def lightness(image: np.ndarray) -> np.ndarray:
    """(h, w) float32 CIE L* of a uint8 grey or RGB image."""
    if image.ndim == 2:
        return _GREY_TO_L[image]
    return cv2.cvtColor(image.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2LAB)[:, :, 0]


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2LAB)


@dataclass
class Views:
    """Crops and derived maps shared by the critic terms (see the module docstring).

    ``grain``: the edited crop's fine detail (``highpass``, L* units).
    ``inner``/``outer``: bands of ``band`` px just inside/outside the mask boundary;
    ``core``: the mask minus its inner band; ``ring``: the surroundings, ``ring_px``
    wide, outside the outer band. ``noise``: robust std of the edited image's grain in
    the ring (L* units, >= NOISE_FLOOR). ``box`` = (y0, y1, x0, x1) of the crop in the
    full image of shape ``shape`` (H, W).
    """

    normal: np.ndarray
    edited: np.ndarray
    diff: np.ndarray
    grain: np.ndarray
    mask: np.ndarray
    inner: np.ndarray
    outer: np.ndarray
    core: np.ndarray
    ring: np.ndarray
    noise: float
    box: tuple[int, int, int, int]
    shape: tuple[int, int]
    band: int
    ring_px: int

    @property
    def signed(self) -> np.ndarray:
        """(h, w) float32 edited minus normal lightness (negative = darker)."""
        return self.edited - self.normal


def context_px(mask: np.ndarray) -> int:
    """Ring width around a defect: a quarter of its equivalent diameter, 6-24 px at 256."""
    area = float(mask.sum())
    scale = min(mask.shape) / 256.0
    return int(round(float(np.clip(0.25 * 2.0 * np.sqrt(area / np.pi), 6.0 * scale, 24.0 * scale)))) + 1


def make_views(normal: np.ndarray, edited: np.ndarray, mask: np.ndarray) -> Views:
    """Build the shared crops for a non-empty ``mask`` (H, W) bool over same-shape images."""
    if normal.shape != edited.shape:
        raise ValueError(f"normal {normal.shape} and edited {edited.shape} differ in shape")
    if mask.shape != normal.shape[:2]:
        raise ValueError(f"mask {mask.shape} does not match the images {normal.shape[:2]}")
    h, w = mask.shape
    band = max(1, int(round(min(h, w) / 128.0)))
    ring_px = context_px(mask)
    ys, xs = np.nonzero(mask)
    pad = band + ring_px + 2
    y0, y1 = max(0, int(ys.min()) - pad), min(h, int(ys.max()) + pad + 1)
    x0, x1 = max(0, int(xs.min()) - pad), min(w, int(xs.max()) + pad + 1)
    n = np.ascontiguousarray(normal[y0:y1, x0:x1])
    e = np.ascontiguousarray(edited[y0:y1, x0:x1])
    m = np.ascontiguousarray(mask[y0:y1, x0:x1])
    if n.ndim == 2:
        ln, le = _GREY_TO_L[n], _GREY_TO_L[e]
        diff = np.abs(le - ln)
    else:
        lab_n, lab_e = _lab(n), _lab(e)
        ln, le = lab_n[:, :, 0], lab_e[:, :, 0]
        diff = channel_norm(lab_e - lab_n)  # the bits of np.sqrt(((lab_e - lab_n) ** 2).sum(axis=2)), faster
    core = shrink(m, band)
    outer_edge = grow(m, band)
    ring = grow(m, band + ring_px) & ~outer_edge
    if not ring.any():  # the mask fills the crop: use whatever is not masked
        ring = ~m
    grain = highpass(le)
    around = grain[ring]
    noise = max(NOISE_FLOOR, robust_std(around)) if around.size >= 8 else NOISE_FLOOR
    return Views(
        normal=ln, edited=le, diff=diff.astype(np.float32), grain=grain, mask=m, inner=m & ~core,
        outer=outer_edge & ~m, core=core, ring=ring, noise=noise,
        box=(y0, y1, x0, x1), shape=(h, w), band=band, ring_px=ring_px,
    )
