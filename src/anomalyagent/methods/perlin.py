"""DRAEM-style synthesis: a thresholded Perlin-noise mask filled with a foreign texture.

Re-implemented from Zavrtanik et al., "DRAEM", ICCV 2021 (Sec. 3.3): Perlin noise with
random scales 2^[0, 6) per axis is rotated, thresholded at 0.5, and the region is filled
with an augmented texture blended with opacity 1 - beta, beta ~ U(0, 0.8):

    out = image * (1 - M) + (1 - beta) * texture * M + beta * image * M

DRAEM draws its textures from DTD; nothing downloads here, so the texture is another
normal image of the same category, heavily augmented (three random operations out of
DRAEM's list: gamma, brightness, sharpen, hue, solarize, posterize, invert, autocontrast,
equalize, rotate). Differences from the paper: the mask is honest (only pixels that
visibly changed, see ``baseline_ops``), and an empty draw is retried, since every sample
of the synthetic set must contain a defect.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ..records import Task
from .base import METHODS, MethodResult, NormalPool
from .baseline_ops import draw_visible, like

NOISE_SIDE = 256  # noise is drawn on a 256 x 256 grid (DRAEM's size) and resized
MAX_TRIES = 10


def perlin_noise(shape: tuple[int, int], res: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """(H, W) float gradient noise in about [-1, 1] with ``res`` (ry, rx) lattice cells.

    H and W must be multiples of ry and rx. Same construction as DRAEM's
    ``rand_perlin_2d_np`` (quintic fade, random unit gradients at lattice corners).
    """
    h, w = shape
    ry, rx = res
    if h % ry or w % rx:
        raise ValueError(f"shape {shape} must be a multiple of res {res}")
    dy, dx = h // ry, w // rx
    gy, gx = np.meshgrid((np.arange(h) % dy) / dy, (np.arange(w) % dx) / dx, indexing="ij")
    angles = rng.uniform(0, 2 * math.pi, (ry + 1, rx + 1))
    grads = np.stack([np.cos(angles), np.sin(angles)], axis=-1)  # (ry+1, rx+1, 2)

    def corner(oy: int, ox: int) -> np.ndarray:
        g = np.repeat(np.repeat(grads[oy:oy + ry, ox:ox + rx], dy, axis=0), dx, axis=1)
        return (gy - oy) * g[..., 0] + (gx - ox) * g[..., 1]

    def fade(t: np.ndarray) -> np.ndarray:
        return 6 * t ** 5 - 15 * t ** 4 + 10 * t ** 3

    ty, tx = fade(gy), fade(gx)
    top = corner(0, 0) + tx * (corner(0, 1) - corner(0, 0))
    bottom = corner(1, 0) + tx * (corner(1, 1) - corner(1, 0))
    return math.sqrt(2) * (top + ty * (bottom - top))


def perlin_mask(shape: tuple[int, int], rng: np.random.Generator, min_scale: int = 0, max_scale: int = 6,
                threshold: float = 0.5) -> np.ndarray:
    """(H, W) bool: rotated Perlin noise with scales 2^[min_scale, max_scale) above ``threshold``."""
    res = (2 ** int(rng.integers(min_scale, max_scale)), 2 ** int(rng.integers(min_scale, max_scale)))
    noise = perlin_noise((NOISE_SIDE, NOISE_SIDE), res, rng).astype(np.float32)
    angle = float(rng.uniform(-90, 90))
    rot = cv2.getRotationMatrix2D((NOISE_SIDE / 2, NOISE_SIDE / 2), angle, 1.0)
    noise = cv2.warpAffine(noise, rot, (NOISE_SIDE, NOISE_SIDE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    noise = cv2.resize(noise, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return noise > threshold


def _op(image: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
    """One of DRAEM's texture augmentations on uint8 (grayscale or RGB)."""
    if name == "gamma":
        lut = (255.0 * (np.arange(256) / 255.0) ** rng.uniform(0.5, 2.0)).astype(np.uint8)
        return lut[image]
    if name == "brightness":
        return np.clip(image.astype(np.float32) * rng.uniform(0.8, 1.2) + rng.uniform(-30, 30), 0, 255).astype(np.uint8)
    if name == "sharpen":
        blur = cv2.GaussianBlur(image, (0, 0), 1.5)
        return cv2.addWeighted(image, 2.0, blur, -1.0, 0)
    if name == "hue":
        if image.ndim == 2:
            return image
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + int(rng.integers(-50, 51))) % 180).astype(np.uint8)
        hsv[..., 1] = np.clip(hsv[..., 1].astype(np.float32) * rng.uniform(0.5, 1.5), 0, 255).astype(np.uint8)
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if name == "solarize":
        t = int(rng.integers(32, 128))
        return np.where(image >= t, 255 - image, image).astype(np.uint8)
    if name == "posterize":
        bits = int(rng.integers(4, 9))
        return (image & np.uint8((0xFF << (8 - bits)) & 0xFF)).astype(np.uint8)
    if name == "invert":
        return (255 - image).astype(np.uint8)
    if name == "autocontrast":
        lo, hi = np.percentile(image, (1, 99))
        return np.clip((image.astype(np.float32) - lo) * (255.0 / max(hi - lo, 1.0)), 0, 255).astype(np.uint8)
    if name == "equalize":
        if image.ndim == 2:
            return cv2.equalizeHist(image)
        ycc = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)
        ycc[..., 0] = cv2.equalizeHist(ycc[..., 0])
        return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
    if name == "rotate":
        h, w = image.shape[:2]
        rot = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-45, 45)), 1.0)
        return cv2.warpAffine(image, rot, (w, h), borderMode=cv2.BORDER_REFLECT)
    raise ValueError(f"unknown augmentation {name!r}")


AUGMENTATIONS = ("gamma", "brightness", "sharpen", "hue", "solarize", "posterize", "invert", "autocontrast", "equalize", "rotate")


def augment_texture(texture: np.ndarray, rng: np.random.Generator, count: int = 3) -> np.ndarray:
    """``count`` distinct random DRAEM augmentations applied in random order."""
    for i in rng.choice(len(AUGMENTATIONS), size=count, replace=False):
        texture = _op(texture, AUGMENTATIONS[int(i)], rng)
    return texture


@METHODS.register("perlin")
class PerlinMethod:
    """DRAEM-style baseline: Perlin-noise mask filled with an augmented foreign texture."""

    name = "perlin"

    def __init__(self, beta_max: float = 0.8) -> None:
        self.beta_max = beta_max

    def synthesize(self, image: np.ndarray, task: Task, rng: np.random.Generator, pool: NormalPool) -> MethodResult:
        betas: list[float] = []

        def draw() -> tuple[np.ndarray, np.ndarray]:
            source = pool.sample(rng, exclude=task.image_path) if len(pool) else None
            texture = augment_texture(like(source if source is not None else image, image), rng)
            region = perlin_mask(image.shape[:2], rng)
            betas.append(float(rng.uniform(0.0, self.beta_max)))
            m = region[..., None] if image.ndim == 3 else region
            blend = (1.0 - betas[-1]) * texture.astype(np.float32) + betas[-1] * image.astype(np.float32)
            return np.where(m, np.clip(np.rint(blend), 0, 255), image).astype(np.uint8), region

        out, mask = draw_visible(image, draw, MAX_TRIES)
        return MethodResult(out, mask, passed=bool(mask.any()), info={"beta": round(betas[-1], 4)})
