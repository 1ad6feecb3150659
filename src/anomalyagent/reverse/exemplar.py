"""Exemplar reconstruction: borrow the defect region's pixels from a real normal image.

Why: inpainting (``anomalyagent.reconstruct``) fills a defect from its border, so the
filled region is smooth and loses the surface's grain, which a critic sees as a painted
patch. A normal training image of the same category has the right grain; registered to
the anomaly around the defect, its pixels can take the defect's place.

Steps, for an anomaly (H, W[, 3]) uint8 and its filled region (H, W) bool:

1. window: the region's bounding box plus a context margin (the pixels that decide
   where the exemplar fits);
2. search (registration, coarse): masked normalised cross-correlation of the window's
   context (the region itself is masked out: it holds the defect) over every normal
   image, at a reduced scale, for a set of rotations (objects lie in any orientation;
   textures keep their grinding direction, so only 0 and 180 degrees);
3. refinement: ECC (Evangelidis & Psarakis 2008, ``cv2.findTransformECC``, Euclidean
   motion) of the matched exemplar crop to the anomaly window, with the region masked
   out of the anomaly; when ECC does not converge the coarse match is kept;
4. blend: the registered exemplar replaces the region and the mismatch along the
   region's border is spread over the region by membrane interpolation (the boundary
   difference inpainted into the region), the same result as Poisson cloning with the
   exemplar's gradients: no seam, the exemplar's grain, the anomaly's shading.

Pure functions; no randomness (ties are broken by order).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from ..images import to_gray

log = logging.getLogger(__name__)

SEARCH_SIDE = 96  # px: longest image side during the coarse search
OBJECT_ROTATIONS = tuple(range(0, 360, 30))  # degrees; ECC refines the remaining +-15
TEXTURE_ROTATIONS = (0, 180)


@dataclass
class Exemplar:
    """A registered exemplar: ``image`` is the blended reconstruction (anomaly's shape and
    dtype); ``source`` the index of the normal image used; ``rotation`` degrees;
    ``ncc`` the context correlation after registration (-1..1); ``ecc`` whether ECC
    refined the alignment."""

    image: np.ndarray
    source: int
    rotation: float
    ncc: float
    ecc: bool


def context_window(region: np.ndarray, margin: int | None = None) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the region's bounding box grown by ``margin`` px (default: half
    its longer side, at least 8 px), clipped to the image."""
    h, w = region.shape
    ys, xs = np.nonzero(region)
    if margin is None:
        margin = max(8, int(round(0.5 * max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1))))
    return (max(0, int(ys.min()) - margin), min(h, int(ys.max()) + margin + 1),
            max(0, int(xs.min()) - margin), min(w, int(xs.max()) + margin + 1))


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """``image`` rotated about its centre by ``degrees`` (ccw), on a canvas that keeps it whole."""
    if degrees % 360 == 0:
        return image
    if degrees % 360 == 180:
        return image[::-1, ::-1].copy()
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), degrees, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(round(h * sin + w * cos)), int(round(h * cos + w * sin))
    m[0, 2] += nw / 2.0 - w / 2.0
    m[1, 2] += nh / 2.0 - h / 2.0
    return cv2.warpAffine(image, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _match(search: np.ndarray, template: np.ndarray, weight: np.ndarray) -> tuple[float, tuple[int, int]]:
    """Best masked NCC of ``template`` (weight 0 = ignored) in ``search``: (score, (y, x))."""
    if search.shape[0] < template.shape[0] or search.shape[1] < template.shape[1]:
        return -1.0, (0, 0)
    if float(template[weight > 0].std()) < 1e-3:  # flat context: correlation is undefined
        return -1.0, (0, 0)
    res = cv2.matchTemplate(search, template, cv2.TM_CCOEFF_NORMED, mask=weight)
    res = np.nan_to_num(res, nan=-1.0, posinf=-1.0, neginf=-1.0)
    y, x = np.unravel_index(int(np.argmax(res)), res.shape)
    return float(res[y, x]), (int(y), int(x))


def _ecc(template: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray | None:
    """2x3 Euclidean warp taking ``template`` (exemplar crop) coordinates to ``target``
    (anomaly window) coordinates, ignoring target pixels where ``weight`` is 0; None when
    ECC does not converge."""
    warp = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-4)
    try:
        _, warp = cv2.findTransformECC(template, target, warp, cv2.MOTION_EUCLIDEAN, criteria, weight, 3)
    except cv2.error:
        return None
    if not np.all(np.isfinite(warp)) or np.abs(warp[:, 2]).max() > 0.25 * max(template.shape):
        return None
    return warp


def _ncc(a: np.ndarray, b: np.ndarray, keep: np.ndarray) -> float:
    x, y = a[keep].astype(np.float64), b[keep].astype(np.float64)
    x, y = x - x.mean(), y - y.mean()
    den = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / den) if den > 0 else -1.0


def membrane_blend(base: np.ndarray, patch: np.ndarray, region: np.ndarray) -> np.ndarray:
    """``patch`` inside ``region``, corrected by the harmonic-like interpolation of the
    border mismatch (base - patch), so the result is continuous with ``base`` at the
    region's border. base/patch: same-shape uint8; region: (h, w) bool."""
    b = base.astype(np.float32)
    p = patch.astype(np.float32)
    diff = b - p
    region8 = region.astype(np.uint8) * 255
    radius = max(3, int(round(0.015 * min(region.shape))))
    channels = [diff] if diff.ndim == 2 else [diff[:, :, c] for c in range(diff.shape[2])]
    filled = [cv2.inpaint(np.ascontiguousarray(c), region8, radius, cv2.INPAINT_TELEA) for c in channels]
    corr = filled[0] if diff.ndim == 2 else np.stack(filled, axis=2)
    out = b.copy()
    out[region] = p[region] + corr[region]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def exemplar_reconstruct(
    anomaly: np.ndarray,
    region: np.ndarray,
    normals: list[np.ndarray],
    kind: str = "object",
    top: int = 3,
) -> Exemplar | None:
    """Fill ``region`` of ``anomaly`` from the best-registered image of ``normals``.

    anomaly: (H, W) or (H, W, 3) uint8; region: (H, W) bool (the dilated defect mask);
    normals: normal images of the same category (any sizes; grey ones are used as they
    are, colour ones must match the anomaly's channels); kind: "object" or "texture"
    (which rotations to search). Returns None when no normal image can hold the window
    or the context is flat.
    """
    if not region.any() or not normals:
        return None
    y0, y1, x0, x1 = context_window(region)
    win = anomaly[y0:y1, x0:x1]
    win_region = region[y0:y1, x0:x1]
    context = (~win_region).astype(np.float32)
    if context.sum() < 16:
        return None
    wg = to_gray(win).astype(np.float32)
    rotations = OBJECT_ROTATIONS if kind == "object" else TEXTURE_ROTATIONS
    scale = min(1.0, SEARCH_SIDE / max(anomaly.shape[:2]))
    small = lambda img: cv2.resize(img, (max(4, round(img.shape[1] * scale)), max(4, round(img.shape[0] * scale))),
                                   interpolation=cv2.INTER_AREA) if scale < 1 else img
    t_small, c_small = small(wg), (small(context) > 0.99).astype(np.float32)
    coarse: list[tuple[float, int, float]] = []
    for i, normal in enumerate(normals):
        if normal.ndim != anomaly.ndim:
            continue
        ng = small(to_gray(normal).astype(np.float32))
        for rot in rotations:
            score, _ = _match(_rotate(ng, rot), t_small, c_small)
            coarse.append((score, i, float(rot)))
    coarse.sort(key=lambda c: (-c[0], c[1], c[2]))
    best: Exemplar | None = None
    for score, i, rot in coarse[:top]:
        if score <= -1.0:
            break
        rotated = _rotate(normals[i], rot)
        s, (ty, tx) = _match(to_gray(rotated).astype(np.float32), wg, context)
        if s <= -1.0:
            continue
        crop = rotated[ty:ty + wg.shape[0], tx:tx + wg.shape[1]]
        warp = _ecc(to_gray(crop).astype(np.float32), wg, context.astype(np.uint8))
        aligned = crop
        if warp is not None:
            aligned = cv2.warpAffine(crop, warp, (crop.shape[1], crop.shape[0]), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT)
        ncc = _ncc(to_gray(aligned).astype(np.float32), wg, context > 0)
        if warp is not None:
            plain = _ncc(to_gray(crop).astype(np.float32), wg, context > 0)
            if plain > ncc:  # ECC moved away from the better fit: keep the coarse match
                aligned, ncc, warp = crop, plain, None
        if best is None or ncc > best.ncc:
            out = anomaly.copy()
            out[y0:y1, x0:x1] = membrane_blend(win, aligned, win_region)
            best = Exemplar(out, i, rot, ncc, warp is not None)
    if best is not None:
        log.debug("exemplar: normal %d rotated %.0f, context NCC %.3f, ECC %s", best.source, best.rotation, best.ncc, best.ecc)
    return best
