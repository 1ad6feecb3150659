"""NSA: a patch of another normal image, rescaled and Poisson-blended into this one.

Re-implemented from Schlüter et al., "Natural Synthetic Anomalies for Self-Supervised
Anomaly Detection and Localization", ECCV 2022: a rectangle of another normal image of
the same category (sides U(0.05, 0.4) of the image's, resized by U(0.75, 1.33)) is moved
to a random place and blended by Poisson image editing (``cv2.seamlessClone``), so its
edges disappear and only its texture and shape stay different. For object categories
both the source and the destination centre lie on the object (foreground estimate), as
NSA does for objects; textures are all foreground.

NSA labels pixels by a smooth function of the intensity change; the evaluation protocol
needs a binary mask, so the mask is the blended footprint where the pixels visibly
changed (``baseline_ops.honest_mask``): where the blend did not change the image, there
is no defect to find. The change is judged after a Gaussian smoothing (sigma MASK_SMOOTH
px), as NSA's own labels come from a smoothed difference: per pixel, the fine grain of
the source patch turns the blend's smooth change into salt-and-pepper labels.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..foreground import foreground
from ..records import Task
from .base import METHODS, MethodResult, NormalPool
from .baseline_ops import draw_visible, like, random_point

MAX_TRIES = 10
# cv2.seamlessClone needs a mask interior of at least 3 px per side (the outer ring of the
# clone mask is zeroed below): a 4-px patch (5 % of a 100-px NEU tile, shrunk by the 0.75
# scale) fails with "!fixedSize()". Sides are kept >= MIN_SIDE px before and after scaling.
MIN_SIDE = 6
MASK_SMOOTH = 1.5  # px, sigma of the smoothing of the change before thresholding
CLONE_MODES = {"normal": cv2.NORMAL_CLONE, "mixed": cv2.MIXED_CLONE}


def poisson_patch(image: np.ndarray, source: np.ndarray, rng: np.random.Generator, fg_image: np.ndarray,
                  fg_source: np.ndarray, side=(0.05, 0.4), scale=(0.75, 1.33), mode: str = "normal") -> tuple[np.ndarray, np.ndarray]:
    """One NSA draw: (blended image, (H, W) bool blended footprint); empty footprint on failure.

    ``image`` and ``source`` have the same shape; ``fg_*`` are their (H, W) bool foregrounds.
    """
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE + 6:
        raise ValueError(f"NSA needs images of at least {MIN_SIDE + 6} px per side, got {w}x{h}")
    pw = min(w - 4, max(MIN_SIDE, int(round(rng.uniform(*side) * w))))
    ph = min(h - 4, max(MIN_SIDE, int(round(rng.uniform(*side) * h))))
    src_centre = random_point(fg_source, rng, (pw // 2 + 1, ph // 2 + 1))
    if src_centre is None:
        return image, np.zeros((h, w), bool)
    sx, sy = src_centre[0] - pw // 2, src_centre[1] - ph // 2
    patch = source[sy:sy + ph, sx:sx + pw]
    f = rng.uniform(*scale)
    pw2 = int(np.clip(round(pw * f), MIN_SIDE, w - 6))
    ph2 = int(np.clip(round(ph * f), MIN_SIDE, h - 6))
    patch = cv2.resize(patch, (pw2, ph2), interpolation=cv2.INTER_LINEAR)
    centre = random_point(fg_image, rng, (pw2 // 2 + 3, ph2 // 2 + 3))
    if centre is None:
        return image, np.zeros((h, w), bool)
    clone_mask = np.full((ph2, pw2), 255, np.uint8)
    clone_mask[[0, -1], :] = 0
    clone_mask[:, [0, -1]] = 0
    rgb_patch = cv2.cvtColor(patch, cv2.COLOR_GRAY2RGB) if patch.ndim == 2 else patch
    rgb_image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image
    # seamlessClone works in BGR order but treats channels independently: RGB in, RGB out.
    blended = cv2.seamlessClone(np.ascontiguousarray(rgb_patch), np.ascontiguousarray(rgb_image), clone_mask,
                                (int(centre[0]), int(centre[1])), CLONE_MODES[mode])
    out = blended[..., 0].copy() if image.ndim == 2 else blended
    x0, y0 = centre[0] - pw2 // 2, centre[1] - ph2 // 2
    region = np.zeros((h, w), bool)
    region[max(0, y0):y0 + ph2, max(0, x0):x0 + pw2] = True
    return out, region


@METHODS.register("nsa")
class NSAMethod:
    """NSA baseline: Poisson-blended patch from another normal image of the category."""

    name = "nsa"

    def __init__(self, mode: str = "normal", kind: str = "auto") -> None:
        if mode not in CLONE_MODES:
            raise ValueError(f"mode {mode!r} must be one of {', '.join(CLONE_MODES)}")
        self.mode = mode
        self.kind = kind  # foreground kind: "object", "texture" or "auto"

    def synthesize(self, image: np.ndarray, task: Task, rng: np.random.Generator, pool: NormalPool) -> MethodResult:
        fg_image = foreground(image, self.kind)

        def draw() -> tuple[np.ndarray, np.ndarray]:
            source = pool.sample(rng, exclude=task.image_path) if len(pool) else None
            source = like(source if source is not None else image[::-1, ::-1], image)
            return poisson_patch(image, source, rng, fg_image, foreground(source, self.kind), mode=self.mode)

        out, mask = draw_visible(image, draw, MAX_TRIES, smooth=MASK_SMOOTH)
        return MethodResult(out, mask, passed=bool(mask.any()))
