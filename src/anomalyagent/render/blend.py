"""Colour of a defect relative to its surface, compositing, and the visibility alpha.

Two rules every family follows through this module:

1. Colours come from the image. ``recolor`` moves the *local* surface colour (a blur
   of the image) darker, lighter or towards a hue, then re-inserts the surface's own
   grain scaled to the new brightness, so texture survives inside the defect and the
   size of the change is nearly uniform across a striped or grainy surface.
2. The alpha says what visibly changed. ``finish`` composites the edit, then measures
   the perceptual change (CIE76 delta-E, the metric of ``change.delta_e``) and sets
   alpha = delta-E / max(local maximum delta-E, a visibility floor). So alpha > 0.5
   exactly where a pixel changed by more than half of the defect's own local strength
   (the rule the MG tool's change detection applies), pixels that did not change get
   alpha 0, and a defect too faint to see gets a low alpha instead of a full mask.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..change import delta_e, local_max
from .shading import as_float, blur, luminance
from .shapes import Box

# Per-channel colour (RGB, relative to the surface's luma) that rust-like and
# brown-organic defects move towards; grey images use the luma change only.
HUES = {
    "reddish": np.array([1.35, 0.62, 0.38], np.float32),
    "brownish": np.array([1.12, 0.85, 0.6], np.float32),
}
WARM_NEUTRAL = np.array([1.08, 1.0, 0.8], np.float32)  # luma 0.997: pale beige
VISIBLE_DE = 3.0  # delta-E below which a change counts as faint (JND ~ 2.3; ~4 grey levels at mid-grey)


def luma_shift(color: str, strength, luma: np.ndarray) -> np.ndarray:
    """(h, w) float32 signed change of grey level for a luminance relation.

    darker: towards black by ``strength`` of the distance, but at least 18 levels per
    unit strength so defects on dark surfaces stay visible; lighter: towards white
    likewise. ``strength`` in [0, 1].
    """
    s = np.clip(np.asarray(strength, np.float32), 0.0, 1.0)  # a number or an (h, w) map
    if color == "lighter":
        return s * np.maximum(0.85 * (255.0 - luma), 18.0)
    return -s * np.maximum(0.85 * luma, 18.0)


def recolor(image_f: np.ndarray, local_f: np.ndarray, color: str, strength: float, rng: np.random.Generator,
            grain_gain: float = 1.0) -> np.ndarray:
    """(h, w, c) float32 target: the surface moved by ``color`` with ``strength`` in [0, 1].

    ``image_f`` and ``local_f`` (its blur, the surface colour) are (h, w, c). The grain
    (image - local) is carried over, scaled by the brightness ratio (dark material shows
    less texture) and by ``grain_gain`` (family.TEXTURE_GAIN: a smooth film hides some
    of it, a granular deposit adds). Hue relations on a grey image fall back to a
    luminance change.
    """
    c = image_f.shape[2]
    luma = luminance(local_f)
    relation = color
    if relation == "mixed":
        relation = ("darker", "brownish", "reddish")[int(rng.integers(0, 3))]
    if relation == "hue":
        relation = "reddish" if c == 3 and rng.random() < 0.5 else ("darker" if rng.random() < 0.6 else "lighter")
    if c == 1 and relation in HUES:
        relation = "darker"
    if relation in HUES:
        s = float(np.clip(strength, 0.0, 1.0))
        hue = HUES[relation]
        dark = 1.0 - 0.35 * s  # oxides and organic deposits absorb: a little darker too
        tinted = luma[:, :, None] * hue[None, None, :] * dark
        new_local = local_f + s * (tinted - local_f)
    elif relation == "lighter" and c == 3:
        # Lighter: bleached, shaved or bare material also loses saturation; adding light
        # along the hue (or even neutrally) turns a brown surface pink, so the new colour
        # is the new brightness times the surface's hue pulled towards a warm neutral
        # (bare wood, shell, paper and primer are pale and yellowish, never pink).
        s = float(np.clip(strength, 0.0, 1.0))
        hue = local_f / np.maximum(luma, 1.0)[:, :, None]
        new_luma = luma + luma_shift("lighter", s, luma)
        d = 0.65 * min(1.0, 2.0 * s)  # desaturation grows with the change, luma is kept
        new_local = new_luma[:, :, None] * ((1.0 - d) * hue + d * WARM_NEUTRAL)
    else:
        shift = luma_shift(relation, strength, luma)
        # Darker: shift along the surface's own colour so the hue is kept ("darker brown").
        direction = local_f / np.maximum(luma, 1.0)[:, :, None] if c == 3 else np.ones_like(local_f)
        new_local = local_f + shift[:, :, None] * direction
    new_local = np.clip(new_local, 0.0, 255.0)
    ratio = np.clip((luminance(new_local) + 8.0) / (luma + 8.0), 0.25, 1.5)[:, :, None]
    return new_local + (image_f - local_f) * (ratio * float(grain_gain))


def visibility_alpha(before: np.ndarray, after: np.ndarray, window: int, floor: float = VISIBLE_DE) -> np.ndarray:
    """(h, w) float32 alpha in [0, 1]: delta-E relative to its local maximum.

    ``window`` (odd, px) is the neighbourhood of the local maximum, as in
    ``change.change_mask``. The delta-E is lightly blurred (3x3) so grain inside a
    defect does not make the alpha speckled, but the blurred value is kept within a
    factor of 2 of the pixel's own change: an unchanged pixel stays at 0, and a pixel
    that changed by d units gets between d/2 and 2d over the reference.
    """
    raw = delta_e(before, after).astype(np.float32)
    smooth = cv2.GaussianBlur(raw, (3, 3), 0)
    # local_max: the same ellipse dilation for windows under 16 px, a max-pooled one (O(pixels)) above
    reference = np.maximum(local_max(smooth, window), floor)
    level = np.clip(smooth, 0.5 * raw, 2.0 * raw)
    return np.clip(level / reference, 0.0, 1.0).astype(np.float32)


def window_for(shape: tuple[int, ...]) -> int:
    """Local-maximum window (odd px) for an image of ``shape``: 3 % of min(H, W), >= 5."""
    return max(5, int(round(min(shape[:2]) * 0.03)) | 1)


def finish(image: np.ndarray, box: Box, target_f: np.ndarray, weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Composite a crop edit into the image and measure its alpha.

    ``target_f`` (h, w, c) float32 is the fully defective look over ``box``; ``weight``
    (h, w) in [0, 1] is how much of it to apply (None = all). Pixels with weight < 0.01
    keep their exact input values. Returns (edited uint8 like ``image``, alpha (H, W)
    float32 in [0, 1]) for the whole image.
    """
    ys, xs = box.slices
    crop = image[ys, xs]
    crop_f = as_float(crop)
    if weight is None:
        mixed = target_f
        keep = None
    else:
        wgt = np.clip(weight, 0.0, 1.0)[:, :, None]
        mixed = crop_f + wgt * (target_f - crop_f)
        keep = weight < 0.01
    new = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
    new = new[:, :, 0] if image.ndim == 2 else new
    if keep is not None:
        new[keep] = crop[keep]
    edited = image.copy()
    edited[ys, xs] = new
    win = window_for(image.shape)
    pad = win // 2 + 2
    h, w = image.shape[:2]
    y0, y1 = max(0, box.y0 - pad), min(h, box.y1 + pad)
    x0, x1 = max(0, box.x0 - pad), min(w, box.x1 + pad)
    alpha = np.zeros((h, w), np.float32)
    alpha[y0:y1, x0:x1] = visibility_alpha(image[y0:y1, x0:x1], edited[y0:y1, x0:x1], win)
    return edited, alpha


def soften(alpha_like: np.ndarray, sigma: float) -> np.ndarray:
    """Blur a (h, w) map by ``sigma`` px (a feathered transition for masks and weights)."""
    return blur(alpha_like.astype(np.float32), sigma)
