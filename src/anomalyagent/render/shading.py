"""Reading the surface a defect lands on: local colour, grain, light direction, and
shading of a height field under that light.

Why: a defect looks painted on when its colour is a constant, its interior is flat and
its relief ignores the light. Families therefore take their colours from the local
surface (``local_mean``), keep or re-synthesise the surface's own high-frequency grain
(``grain``), and shade grooves, pits and bumps with a Lambertian model lit from the
direction the image itself is lit from (``light_direction``).

Images here are float32 (h, w, c) with c = 1 (grayscale) or 3 (RGB), grey levels 0-255.
"""
from __future__ import annotations

import math

import cv2
import numpy as np


def as_float(image: np.ndarray) -> np.ndarray:
    """(h, w, c) float32 copy of a (h, w) or (h, w, 3) uint8 image; c is 1 or 3."""
    f = image.astype(np.float32)
    return f[:, :, None] if f.ndim == 2 else f


def luminance(image_f: np.ndarray) -> np.ndarray:
    """(h, w) float32 luma (Rec. 601 weights) of a float (h, w, c) image."""
    if image_f.shape[2] == 1:
        return image_f[:, :, 0]
    return image_f[:, :, 0] * 0.299 + image_f[:, :, 1] * 0.587 + image_f[:, :, 2] * 0.114


LARGE_SIGMA = 16.0  # px; wider blurs run on a downscaled copy (cost O(pixels), not O(pixels x sigma))


def blur(array: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with ``sigma`` px that keeps a trailing channel axis of size 1.

    Above LARGE_SIGMA the array is area-downscaled by f = sigma / 4, blurred there and
    linearly upscaled; the box (f^2/12) and tent (f^2/6) variances are subtracted from
    the small blur so the total stays sigma^2. Smooth fields (local means) lose nothing.
    """
    if sigma <= 0.05:
        return array.astype(np.float32, copy=True)
    if sigma > LARGE_SIGMA and min(array.shape[:2]) > 4 * LARGE_SIGMA:
        h, w = array.shape[:2]
        f = sigma / 4.0
        small = cv2.resize(array, (max(2, round(w / f)), max(2, round(h / f))), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), float(np.sqrt(16.0 - 0.25)), borderType=cv2.BORDER_REFLECT)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        out = cv2.GaussianBlur(array, (0, 0), float(sigma), borderType=cv2.BORDER_REFLECT)
    if array.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    return out


def local_mean(image_f: np.ndarray, sigma: float) -> np.ndarray:
    """(h, w, c) float32 local surface colour: the image blurred by ``sigma`` px."""
    return blur(image_f, sigma)


def grain(image_f: np.ndarray, sigma: float) -> np.ndarray:
    """(h, w, c) float32 high-frequency residual (image minus its ``sigma`` blur): the
    surface's own texture and sensor noise, to be kept or re-inserted inside a defect."""
    return image_f - blur(image_f, sigma)


def light_direction(image: np.ndarray) -> tuple[float, float, float]:
    """Unit (lx, ly, lz) vector towards the light, estimated from the image.

    Shading makes surfaces facing the light brighter, so the mean gradient of the
    heavily blurred luminance points (roughly) towards the light. When the image gives
    no clear answer we fall back to light from the top left, the usual set-up of
    inspection rigs with a ring light slightly off axis. lz keeps the light above the
    surface (elevation ~ 50 degrees).
    """
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    scale = 64.0 / max(h, w)
    small = cv2.resize(gray, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small.astype(np.float32), (0, 0), 4.0)
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3)
    mx, my = float(gx.mean()), float(gy.mean())
    strength = math.hypot(mx, my) / (float(np.abs(gx).mean() + np.abs(gy).mean()) + 1e-6)
    if strength < 0.05:
        mx, my = -1.0, -1.0
    norm = math.hypot(mx, my) or 1.0
    lx, ly = mx / norm, my / norm
    elevation = math.radians(50.0)
    return lx * math.cos(elevation), ly * math.cos(elevation), math.sin(elevation)


def shade(height: np.ndarray, light: tuple[float, float, float]) -> np.ndarray:
    """(h, w) float32 relative brightness change of a height field under ``light``.

    ``height`` is in pixels (negative = into the surface). Lambertian: brightness is
    n . l with n the unit normal of z = height(x, y); the result is that divided by the
    flat surface's brightness, minus 1, so 0 means unchanged, -0.3 means 30 % darker.
    """
    gy, gx = np.gradient(height.astype(np.float32))
    lx, ly, lz = light
    dot = (-gx * lx - gy * ly + lz) / np.sqrt(gx * gx + gy * gy + 1.0)
    return (np.maximum(dot, 0.0) / max(lz, 1e-3) - 1.0).astype(np.float32)


def surface_contrast(image_f: np.ndarray) -> float:
    """Typical grey-level spread of the surface (std of luma, at least 4): the scale on
    which a change is "clearly visible" for this image."""
    return max(4.0, float(np.std(luminance(image_f))))
