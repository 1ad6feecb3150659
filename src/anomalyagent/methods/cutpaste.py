"""CutPaste and CutPaste-scar: a patch of the image itself, jittered, pasted elsewhere.

Re-implemented from Li et al., "CutPaste: Self-Supervised Learning for Anomaly Detection
and Localization", CVPR 2021 (Sec. 3.1 and the supplement):
- CutPaste: a rectangle of area ratio U(0.02, 0.15) of the image and aspect ratio
  log-uniform in [0.3, 1/0.3] is cut at a random place, colour-jittered (brightness,
  contrast, saturation, hue 0.1) and pasted at another random place.
- CutPaste-scar: a thin rectangle of width U(2, 16) px and length U(10, 25) px (at 256 px;
  scaled with min(H, W) / 256 here), rotated by U(-45, 45) degrees, jittered, pasted.

The paper trains a classifier without masks; the evaluation protocol needs them, so the
mask is the pasted footprint where the pixels visibly changed (``baseline_ops``).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ..records import Task
from .base import METHODS, MethodResult, NormalPool
from .baseline_ops import color_jitter, draw_visible

MAX_TRIES = 10


def _paste(image: np.ndarray, patch: np.ndarray, footprint: np.ndarray, x: int, y: int) -> tuple[np.ndarray, np.ndarray]:
    """Copy ``patch`` where ``footprint`` (ph, pw) is True with its top-left at (x, y).

    Returns the new image and the (H, W) bool region covered.
    """
    ph, pw = footprint.shape
    out = image.copy()
    region = np.zeros(image.shape[:2], bool)
    region[y:y + ph, x:x + pw] = footprint
    target = out[y:y + ph, x:x + pw]
    target[footprint] = patch[footprint]
    return out, region


def cutpaste(image: np.ndarray, rng: np.random.Generator, area=(0.02, 0.15), aspect=(0.3, 1 / 0.3)) -> tuple[np.ndarray, np.ndarray]:
    """One CutPaste draw: (new image, (H, W) bool pasted region)."""
    h, w = image.shape[:2]
    a = rng.uniform(*area) * h * w
    r = math.exp(rng.uniform(math.log(aspect[0]), math.log(aspect[1])))
    pw = int(np.clip(round(math.sqrt(a * r)), 2, w - 1))
    ph = int(np.clip(round(math.sqrt(a / r)), 2, h - 1))
    sx, sy = int(rng.integers(0, w - pw + 1)), int(rng.integers(0, h - ph + 1))
    patch = color_jitter(image[sy:sy + ph, sx:sx + pw], rng)
    x, y = int(rng.integers(0, w - pw + 1)), int(rng.integers(0, h - ph + 1))
    return _paste(image, patch, np.ones((ph, pw), bool), x, y)


def cutpaste_scar(image: np.ndarray, rng: np.random.Generator, width=(2, 16), length=(10, 25)) -> tuple[np.ndarray, np.ndarray]:
    """One CutPaste-scar draw: a thin rotated strip, (new image, (H, W) bool region)."""
    h, w = image.shape[:2]
    scale = min(h, w) / 256.0
    sw = max(1, int(round(rng.uniform(*width) * scale)))
    sl = max(2, int(round(rng.uniform(*length) * scale)))
    sx, sy = int(rng.integers(0, w - sw + 1)), int(rng.integers(0, h - sl + 1))
    strip = color_jitter(image[sy:sy + sl, sx:sx + sw], rng)
    angle = float(rng.uniform(-45, 45))
    side = int(math.ceil(math.hypot(sw, sl))) + 2  # the rotated strip fits in side x side
    canvas = np.zeros((side, side) + image.shape[2:], np.uint8)
    shape = np.zeros((side, side), np.uint8)
    oy, ox = (side - sl) // 2, (side - sw) // 2
    canvas[oy:oy + sl, ox:ox + sw] = strip
    shape[oy:oy + sl, ox:ox + sw] = 255
    rot = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
    canvas = cv2.warpAffine(canvas, rot, (side, side), flags=cv2.INTER_LINEAR)
    footprint = cv2.warpAffine(shape, rot, (side, side), flags=cv2.INTER_LINEAR) > 127
    if side >= min(h, w):
        side = min(h, w) - 1
        canvas, footprint = canvas[:side, :side], footprint[:side, :side]
    x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
    return _paste(image, canvas, footprint, x, y)


class _CutPasteBase:
    name = "cutpaste"
    draw = staticmethod(cutpaste)

    def synthesize(self, image: np.ndarray, task: Task, rng: np.random.Generator, pool: NormalPool) -> MethodResult:
        out, mask = draw_visible(image, lambda: self.draw(image, rng), MAX_TRIES)
        return MethodResult(out, mask, passed=bool(mask.any()))


@METHODS.register("cutpaste")
class CutPasteMethod(_CutPasteBase):
    """CutPaste baseline: a jittered rectangle of the image pasted elsewhere."""

    name = "cutpaste"
    draw = staticmethod(cutpaste)


@METHODS.register("cutpaste_scar")
class CutPasteScarMethod(_CutPasteBase):
    """CutPaste-scar baseline: a thin rotated jittered strip pasted elsewhere."""

    name = "cutpaste_scar"
    draw = staticmethod(cutpaste_scar)
