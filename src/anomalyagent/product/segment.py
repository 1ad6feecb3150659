"""Build-time object masks of the normal images (slow and careful; ``locate`` is the fast path).

What the normal set tells: the frame border of every image shows background (a cloth,
a tray, a perforated board), so border pixels across all images form a bank of what
background looks like, in multi-scale colour (features.py). A pixel far from every
bank entry is novel: object. Novelty seeds GrabCut, which snaps the outline to the
image's own edges; ``parts.split_parts`` then drops background pieces GrabCut glued to
the outline (a board hole touching the case). When even the centre of the frame looks
like the border in most images the category is a texture: the object is the frame.

Working side: images are resized so that min(H, W) = ``WORK_SIDE`` px.
"""
from __future__ import annotations

import cv2
import numpy as np

from .features import knn_distance
from .parts import disk, open_body, split_parts

WORK_SIDE = 256
BORDER = 1 / 20  # width of the border band, as a fraction of the working side
BANK_SIZE = 2000
TEXTURE_NOVEL_SHARE = 0.04
CORE_DEPTH = 0.08  # hard object seeds this far (fraction of the side) inside the novel region  # below this share of novel centre pixels (median image) -> texture


def to_work(image: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """``image`` resized so that its shorter side is ``side`` px (aspect kept)."""
    h, w = image.shape[:2]
    scale = side / float(min(h, w))
    if abs(scale - 1.0) < 1e-6:
        return image
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def border_band(shape: tuple[int, int], width: int) -> np.ndarray:
    h, w = shape
    band = np.zeros((h, w), bool)
    band[:width], band[-width:], band[:, :width], band[:, -width:] = True, True, True, True
    return band


def background_bank(features: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """(bank (M, F) standardised, scale (F,), reference distance): border pixels of all images.

    The reference is the 99th percentile of bank points' own k-NN distance (leave-one-out),
    so novelty is measured in units of the background's own variety.
    """
    rows = []
    for f in features:
        band = border_band(f.shape[:2], max(2, round(BORDER * min(f.shape[:2]))))
        rows.append(f[band])
    allrows = np.concatenate(rows)
    pick = rng.choice(len(allrows), min(BANK_SIZE, len(allrows)), replace=False)
    bank = allrows[pick]
    scale = bank.std(0) + 1e-3
    bank = bank / scale
    return bank, scale, bank_reference(bank, rng)


def bank_reference(bank: np.ndarray, rng: np.random.Generator, channels: slice = slice(None)) -> float:
    """99th percentile of bank points' own k-NN distance (leave-one-out) in ``channels``."""
    probe = bank[rng.choice(len(bank), min(1000, len(bank)), replace=False)][:, channels]
    own = knn_distance(probe, bank[:, channels], k=6)  # includes itself at distance 0: 6 -> 5 others
    return float(np.percentile(own * 6 / 5, 99)) + 1e-6


def novelty(feature: np.ndarray, bank: np.ndarray, scale: np.ndarray, ref: float,
            channels: slice = slice(None)) -> np.ndarray:
    """(H, W) float32 novelty in background-spread units, computed at quarter resolution.

    ``channels`` picks feature channels (default all; ``slice(0, 3)``: the pixel's own colour
    only, the "fine" novelty that no neighbouring object can raise).
    """
    h, w = feature.shape[:2]
    size = (max(4, w // 4), max(4, h // 4))
    feat = feature[..., channels]
    small = np.stack([cv2.resize(feat[..., i], size, interpolation=cv2.INTER_AREA) for i in range(feat.shape[2])], 2)
    d = knn_distance(small.reshape(-1, small.shape[2]) / scale[channels], bank[:, channels]).reshape(small.shape[:2]) / ref
    return cv2.resize(d, (w, h), interpolation=cv2.INTER_LINEAR)


def is_texture(novel_maps: list[np.ndarray]) -> bool:
    """True when the centre of the frame is mostly like the border in the median image."""
    shares = []
    for d in novel_maps:
        h, w = d.shape
        centre = d[h // 4: 3 * h // 4, w // 4: 3 * w // 4]
        shares.append(float((centre > 2.0).mean()))
    return float(np.median(shares)) < TEXTURE_NOVEL_SHARE


def object_from_novelty(image: np.ndarray, novel: np.ndarray, radius: int, fine: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool object mask of one normal image: novelty seeds -> GrabCut -> parts clean-up.

    ``fine``: novelty of the pixel's own colour; when given, hard object seeds also need
    fine > 1 (background between close parts, novel only by context, stays probable).
    """
    h, w = novel.shape
    seeds = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    probable = novel > 1.3
    if fine is not None:  # context alone (a background gap between close parts) is not enough
        probable &= fine > 1.0
    seeds[probable] = cv2.GC_PR_FGD
    # Hard object seeds only deep inside the novel region: the context features (sigma 10 px)
    # make the background next to an object novel too, up to about 2 sigma out.
    core = cv2.erode((novel > 3.0).astype(np.uint8), disk(CORE_DEPTH * min(h, w)))
    if fine is not None:
        core &= (fine > 1.0).astype(np.uint8)
    seeds[core > 0] = cv2.GC_FGD
    seeds[novel < 0.8] = cv2.GC_BGD
    if not (seeds == cv2.GC_FGD).any() or not (seeds == cv2.GC_BGD).any():
        obj = novel > 1.3
    else:
        rgb = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(0)  # GrabCut's k-means draws from OpenCV's global RNG: same input, same mask
        cv2.grabCut(np.ascontiguousarray(rgb[..., ::-1]), seeds, None, bgd, fgd, 3, cv2.GC_INIT_WITH_MASK)
        obj = (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)
    if fine is not None:  # outside the compact body keep only pixels whose own colour is unusual:
        # GrabCut glues background-coloured gaps and shadows to thin parts (leads)
        body = cv2.dilate(open_body(obj.astype(np.uint8), radius), disk(2)) > 0
        obj &= body | (fine > 1.0)
    return split_parts(obj, radius).get("object", obj)
