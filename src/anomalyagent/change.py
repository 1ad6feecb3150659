"""Change detection between a normal image and its edited version (the MG tool's core).

Works for any editor: procedural renderers leave untouched pixels identical, diffusion
editors re-encode the whole image, so the threshold adapts to the global noise floor.

Steps: perceptual difference (CIE76 delta-E in Lab; 1 unit ~ a just-noticeable step)
-> noise floor from the median/MAD of the difference -> a pixel is changed when its
difference exceeds both the floor and half of the local maximum difference (so the mask
follows the 50% contour of a soft edit, as the renderer's alpha > 0.5 does) ->
morphology -> keep the components near the planned region.
"""
from __future__ import annotations

import cv2
import numpy as np

from .images import to_rgb


def robust_std(values: np.ndarray) -> float:
    """Standard deviation estimated from the median absolute deviation (outlier-proof)."""
    if values.size < 2:
        return 0.0
    med = float(np.median(values))
    return 1.4826 * float(np.median(np.abs(values - med)))


def channel_norm(d: np.ndarray) -> np.ndarray:
    """Euclidean norm over the last axis (C < 8 channels): the same bits as
    ``np.linalg.norm(d, axis=-1)``, which sums the squares in the same order (d0² + d1²) + ...
    but through a strided reduction per pixel that costs several times this."""
    if d.shape[-1] >= 8:  # numpy sums 8 or more with 8 accumulators: another order
        return np.linalg.norm(d, axis=-1)
    out = d[..., 0] * d[..., 0]
    for c in range(1, d.shape[-1]):
        out += d[..., c] * d[..., c]
    return np.sqrt(out, out=out)


def delta_e(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W) float32 CIE76 colour difference between two images of the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim == 2:  # grayscale: L* difference only
        la = cv2.cvtColor(cv2.cvtColor(a, cv2.COLOR_GRAY2RGB), cv2.COLOR_RGB2LAB)[:, :, 0].astype(np.float32)
        lb = cv2.cvtColor(cv2.cvtColor(b, cv2.COLOR_GRAY2RGB), cv2.COLOR_RGB2LAB)[:, :, 0].astype(np.float32)
        return np.abs(la - lb) * (100.0 / 255.0)
    la = cv2.cvtColor(to_rgb(a).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    lb = cv2.cvtColor(to_rgb(b).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return channel_norm(la - lb)


def noise_floor(diff: np.ndarray, minimum: float = 2.0) -> float:
    """Difference level that unchanged pixels stay under: median + 6 MAD, at least ``minimum``."""
    sample = diff[::2, ::2].ravel()
    med = float(np.median(sample))
    mad = float(np.median(np.abs(sample - med)))
    return max(minimum, med + 6.0 * 1.4826 * mad)


def _median_with(values: np.ndarray, extra: float, count: int) -> float:
    """Median of ``values`` together with ``count`` copies of ``extra`` (none materialised)."""
    ordered = np.sort(values, axis=None)
    at = int(np.searchsorted(ordered, extra))
    n = ordered.size + count

    def kth(k: int) -> float:
        if k < at:
            return float(ordered[k])
        if k < at + count:
            return float(extra)
        return float(ordered[k - count])

    return kth((n - 1) // 2) if n % 2 else 0.5 * (kth(n // 2 - 1) + kth(n // 2))


def _floor_with_zeros(crop: np.ndarray, total: int, minimum: float = 2.0) -> float:
    """``noise_floor`` of an image made of ``crop`` and ``total - crop.size`` zeros.

    Pixels outside the crop are byte-identical (difference 0), so their share of the
    median and MAD is known without building the full-size array.
    """
    values = crop[::2, ::2].ravel()
    zeros = max(0, (total - crop.size) // 4)  # noise_floor's 1-in-4 subsample, outside the crop
    med = _median_with(values, 0.0, zeros)
    mad = _median_with(np.abs(values - med), med, zeros)  # a zero deviates from the median by med
    return max(minimum, med + 6.0 * 1.4826 * mad)


SMALL_DISC = 4.0  # px: up to this radius a kernel dilation is much cheaper than a distance transform


def disc_kernel(radius: float) -> np.ndarray:
    """(2n+1, 2n+1) uint8: the offsets whose Euclidean length, as the float32 distance
    transform computes it, is <= ``radius`` + 0.5 (the same comparison as below)."""
    n = int(radius + 0.5)
    d = np.arange(-n, n + 1)
    sq = (d[:, None] ** 2 + d[None, :] ** 2).astype(np.float32)
    return (np.sqrt(sq) <= np.float32(radius + 0.5)).astype(np.uint8)


def dilate_disc(mask: np.ndarray, radius: float) -> np.ndarray:
    """(H, W) bool: ``mask`` grown by a Euclidean disc of ``radius`` px, in O(pixels).

    Same result (up to the rim of the digital disc) as ``cv2.dilate`` with an ellipse
    kernel of size 2r+1, whose cost grows with r: a distance transform does not. Up to
    ``SMALL_DISC`` px the exact disc is a kernel (same pixels as the distance transform,
    about 1 ms less at 256x256, where the change mask's closing has a radius of 1 px; larger
    kernels would make the cost grow with the radius again).
    """
    if radius <= 0 or not mask.any():
        return mask.copy()
    if radius <= SMALL_DISC:
        return cv2.dilate(np.ascontiguousarray(mask).view(np.uint8), disc_kernel(radius)).view(bool)
    dist = cv2.distanceTransform((~mask).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return dist <= radius + 0.5  # +0.5: the digital disc OpenCV's ellipse kernel draws


def erode_disc(mask: np.ndarray, radius: float) -> np.ndarray:
    """(H, W) bool: ``mask`` eroded by a Euclidean disc of ``radius`` px.

    Pixels outside the array count as inside the mask (as ``cv2.erode``'s default border
    does), so a closing does not eat a defect that touches the image edge.
    """
    if radius <= 0:
        return mask.copy()
    if radius <= SMALL_DISC:  # cv2.erode's default border is the maximum: outside counts as inside
        return cv2.erode(np.ascontiguousarray(mask).view(np.uint8), disc_kernel(radius)).view(bool)
    padded = np.pad(mask, 1, constant_values=True).view(np.uint8)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    return dist > radius + 0.5


def local_max(values: np.ndarray, window: int, cells: int = 8) -> np.ndarray:
    """(H, W) float32 maximum of ``values`` over about a ``window`` x ``window`` neighbourhood.

    Max-pools by ``cell = window // cells`` first, so the dilation that follows uses a
    kernel of about ``cells`` px whatever the image size: O(pixels). The pooled maximum
    covers a slightly larger neighbourhood than ``window`` (at most one cell more).
    """
    h, w = values.shape
    cell = max(1, window // cells)
    if cell == 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (window, window))
        return cv2.dilate(values, kernel)
    ph, pw = -(-h // cell), -(-w // cell)
    padded = np.full((ph * cell, pw * cell), -np.inf, np.float32)
    padded[:h, :w] = values
    pooled = padded.reshape(ph, cell, pw, cell).max(axis=(1, 3))
    k = max(3, (window // cell) | 1)
    pooled = cv2.dilate(pooled, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return np.repeat(np.repeat(pooled, cell, axis=0), cell, axis=1)[:h, :w]


def change_mask(
    normal: np.ndarray,
    edited: np.ndarray,
    hint: tuple[float, float] | None = None,
    hint_radius: float = 0.35,
    min_area_fraction: float = 2e-5,
) -> np.ndarray:
    """(H, W) bool mask of what changed from ``normal`` to ``edited``.

    ``hint`` is the planned centre (x, y) as fractions of width/height; components whose
    nearest pixel is farther than ``hint_radius`` * min(H, W) from it are dropped (an
    editor's stray changes elsewhere are not the defect). Without a hint all changed
    components are kept.
    """
    h, w = normal.shape[:2]
    if normal.shape != edited.shape:
        raise ValueError(f"images differ in shape: {normal.shape} vs {edited.shape}")
    # Colour difference only where some byte differs (identical pixels have delta-E 0):
    # a procedural edit touches a few percent of the image, a generative one all of it.
    flat = cv2.absdiff(normal, edited).reshape(h, -1)  # (H, W*C) uint8; reductions along contiguous rows are fast
    rows = np.flatnonzero(flat.max(axis=1))
    cols = np.flatnonzero(flat.max(axis=0).reshape(w, -1).max(axis=1))
    if rows.size == 0:
        return np.zeros((h, w), bool)
    y0, y1 = max(0, int(rows[0]) - 2), min(h, int(rows[-1]) + 3)
    x0, x1 = max(0, int(cols[0]) - 2), min(w, int(cols[-1]) + 3)
    crop = cv2.GaussianBlur(delta_e(normal[y0:y1, x0:x1], edited[y0:y1, x0:x1]), (3, 3), 0,
                            borderType=cv2.BORDER_CONSTANT)
    floor = _floor_with_zeros(crop, h * w)
    crop_candidates = crop > floor
    if not crop_candidates.any():
        return np.zeros((h, w), bool)
    diff = np.zeros((h, w), np.float32)
    diff[y0:y1, x0:x1] = crop
    candidates = np.zeros((h, w), bool)
    candidates[y0:y1, x0:x1] = crop_candidates
    win = max(5, int(round(min(h, w) * 0.03)) | 1)
    k = max(3, int(round(min(h, w) / 256.0 * 3)) | 1)
    # Region of interest: everything that changed, plus the reach of the window and closing.
    ys, xs = np.nonzero(crop_candidates)
    ys, xs = ys + y0, xs + x0
    pad = win + k + 2
    y0, y1 = max(0, int(ys.min()) - pad), min(h, int(ys.max()) + pad + 1)
    x0, x1 = max(0, int(xs.min()) - pad), min(w, int(xs.max()) + pad + 1)
    roi = np.ascontiguousarray(diff[y0:y1, x0:x1])
    changed = candidates[y0:y1, x0:x1] & (roi >= 0.5 * local_max(roi, win))
    closed = erode_disc(dilate_disc(changed, k // 2), k // 2)  # closing with a disc of diameter k
    count, labels, stats, _ = cv2.connectedComponentsWithStats(closed.view(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros((h, w), bool)
    min_area = max(2, int(min_area_fraction * h * w))
    keep = np.zeros(count, bool)
    for i in range(1, count):
        if stats[i, cv2.CC_STAT_AREA] < min_area:
            continue
        if hint is None:
            keep[i] = True
            continue
        ys, xs = np.nonzero(labels[stats[i, 1]:stats[i, 1] + stats[i, 3], stats[i, 0]:stats[i, 0] + stats[i, 2]] == i)
        dx = (xs + stats[i, 0] + x0) - hint[0] * (w - 1)
        dy = (ys + stats[i, 1] + y0) - hint[1] * (h - 1)
        keep[i] = float(np.sqrt(dx * dx + dy * dy).min()) <= hint_radius * min(h, w)
    if not keep.any():  # nothing near the plan: keep the strongest component
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep[1 + int(np.argmax(areas))] = True
    mask = np.zeros((h, w), bool)
    mask[y0:y1, x0:x1] = keep[labels]
    return mask


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def solid(mask: np.ndarray, closing: float = 0.12) -> np.ndarray:
    """``mask`` with its gaps closed and its holes filled: the mask of an edit that moved
    material (a part bent, shifted or turned). Change detection marks only the pixels that
    differ, so where the part's old and new places overlap in like colours (a black case
    over a black case) it leaves holes, while the true mask covers both places whole.
    ``closing``: kernel diameter as a fraction of the square root of the mask's area."""
    mask = np.asarray(mask, bool)
    area = int(mask.sum())
    if area == 0:
        return mask.copy()
    k = max(3, int(round(closing * np.sqrt(area))) | 1)
    ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    pad = k  # padded so closing never glues the mask to the frame edge
    m = cv2.copyMakeBorder(mask.astype(np.uint8), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, ker)
    flood = m.copy()
    cv2.floodFill(flood, np.zeros((m.shape[0] + 2, m.shape[1] + 2), np.uint8), (0, 0), 1)
    filled = (m > 0) | (flood == 0)  # pixels the outside flood never reached are holes
    return filled[pad:-pad, pad:-pad]
