"""Shared mechanics of the structural families (warp, displace, missing, transplant):
moving a part's real pixels and showing what is behind the place it left.

A structural edit is three layers: the input image; the *background plate* under the
part's old place (render/background.py: from a normal image, this image's own background, or
inpainting); and the moved part (its pixels and mask carried by the same geometric
map). The part's old place is replaced by the plate, then the moved part is composited
on top with the spec's blend (render/blend.py ``composite``).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from .blend import changed_pixels, composite, measure_alpha
from .background import background_plate
from .scene import Scene, distinct_object


def part_centroid(mask: np.ndarray) -> np.ndarray:
    """(2,) xy px centroid of a mask: ``part_axis``'s first value, with its bits (the same
    float64 sum over the same (N, 2) array), without the covariance and projections."""
    ys, xs = np.nonzero(mask)
    return np.stack([xs, ys], axis=1).astype(np.float64).mean(axis=0)


def part_axis(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(centroid (2,) xy px, unit axis (2,) xy, half length px, half width px) of a mask
    by principal components."""
    ys, xs = np.nonzero(mask)
    pts = np.stack([xs, ys], axis=1).astype(np.float64)
    c = pts.mean(axis=0)
    if len(pts) < 3:
        return c, np.array([1.0, 0.0]), 1.0, 1.0
    cov = np.cov((pts - c).T)
    vals, vecs = np.linalg.eigh(cov)
    axis = vecs[:, 1]
    proj = (pts - c) @ axis
    side = (pts - c) @ vecs[:, 0]
    return c, axis / (np.linalg.norm(axis) or 1.0), float(max(1.0, np.abs(proj).max())), float(max(1.0, np.abs(side).max()))


def object_center(shape: tuple[int, ...], scene: Scene | None) -> np.ndarray:
    """(x, y) px of the object's centroid (the image centre when no object is known)."""
    h, w = shape[:2]
    fg = scene.foreground if scene is not None else None
    if distinct_object(fg) and fg.shape == (h, w):
        ys, xs = np.nonzero(fg)
        return np.array([xs.mean(), ys.mean()])
    return np.array([(w - 1) / 2.0, (h - 1) / 2.0])


def grow(mask: np.ndarray, px: int) -> np.ndarray:
    """``mask`` dilated by a (2 px + 1) square (px >= 1)."""
    if px <= 0:
        return mask.copy()
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)).astype(bool)


def warp_layer(image: np.ndarray, mask: np.ndarray, map_x: np.ndarray, map_y: np.ndarray,
               box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(moved image, moved coverage (H, W) float32): ``image`` and ``mask`` resampled
    inside ``box`` = (y0, y1, x0, x1) by the backward maps (full-image px coordinates,
    crop-shaped); outside the box the coverage is 0."""
    y0, y1, x0, x1 = box
    h, w = mask.shape
    moved = image.copy()
    moved[y0:y1, x0:x1] = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    cov = np.zeros((h, w), np.float32)
    cov[y0:y1, x0:x1] = cv2.remap(mask.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return moved, cov


def affine_layer(image: np.ndarray, mask: np.ndarray, matrix: np.ndarray,
                 interpolation: int = cv2.INTER_LINEAR) -> tuple[np.ndarray, np.ndarray]:
    """(moved image, moved coverage) under the forward 2x3 affine ``matrix``; the image's
    pixels resampled with ``interpolation`` (an OpenCV flag), the coverage bilinearly."""
    h, w = mask.shape
    moved = cv2.warpAffine(image, matrix, (w, h), flags=interpolation, borderMode=cv2.BORDER_REFLECT)
    cov = cv2.warpAffine(mask.astype(np.float32), matrix, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return moved, cov


def relocate(image: np.ndarray, part: np.ndarray, moved: np.ndarray, coverage: np.ndarray, scene: Scene | None,
             rng: np.random.Generator, blend: str, vacated: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Replace the part's old place with the background and put the moved part on top.

    ``part`` (H, W) bool: where the part was; ``moved``/``coverage``: the part's new
    pixels and (H, W) float coverage; ``vacated`` (default ``part``): the pixels that the
    part leaves. Returns (edited, plate source, blend note).
    """
    vac = part if vacated is None else vacated
    hole = grow(vac, max(1, int(round(0.006 * min(part.shape)))))  # the part's anti-aliased rim goes too
    avoid = grow(part, 1)
    fg = scene.foreground if scene is not None else None
    if distinct_object(fg) and fg.shape == part.shape:
        avoid |= fg
    plate, source = background_plate(image, hole, scene, rng, avoid=avoid)
    base, note1 = composite(image, plate, hole.astype(np.float32), "feather" if blend == "poisson" else blend, rng)
    # The part's anti-aliased edge is already in its pixels: composite the moved pixels
    # with a hard-edged coverage (rounded) and let the blend decide the transition.
    cov = np.clip((coverage - 0.5) * 4.0 + 0.5, 0.0, 1.0) if blend != "feather" else coverage
    edited, note2 = composite(base, moved, cov, blend, rng, keep_colour=True)
    return edited, source, "; ".join(n for n in (note1, note2) if n)


def union_alpha(image: np.ndarray, edited: np.ndarray, old: np.ndarray, new: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(edited, alpha): alpha = max(visibility, the union of the old and new places).

    A moved part's ground truth covers where it was and where it is (MVTec's misplaced
    masks do). A pixel of that union that happens to have its old value gets one grey
    level of fresh sensor noise: the moved part was photographed again.
    """
    union = old | new
    changed = changed_pixels(image, edited)
    same = union & ~changed
    if same.any():
        edited = edited.copy()
        step = np.where(rng.random(int(same.sum())) < 0.5, -1, 1).astype(np.int16)
        vals = edited[same].astype(np.int16)
        vals = np.where(vals + (step[:, None] if vals.ndim == 2 else step) > 255, vals - 1,
                        np.where(vals + (step[:, None] if vals.ndim == 2 else step) < 0, vals + 1,
                                 vals + (step[:, None] if vals.ndim == 2 else step)))
        edited[same] = vals.astype(np.uint8)
    alpha = measure_alpha(image, edited, changed | same)
    alpha = np.maximum(alpha, union.astype(np.float32))
    return edited, alpha


def rotation_about(center: np.ndarray, degrees: float, shift: tuple[float, float] = (0.0, 0.0),
                   flip: str = "none") -> np.ndarray:
    """Forward 2x3 affine: optional flip about ``center``, rotation by ``degrees``
    (counter-clockwise as seen), then a shift (px)."""
    cx, cy = float(center[0]), float(center[1])
    f = np.eye(3)
    if flip in ("horizontal", "both"):
        f = np.array([[-1, 0, 2 * cx], [0, 1, 0], [0, 0, 1]], float) @ f
    if flip in ("vertical", "both"):
        f = np.array([[1, 0, 0], [0, -1, 2 * cy], [0, 0, 1]], float) @ f
    r = np.vstack([cv2.getRotationMatrix2D((cx, cy), float(degrees), 1.0), [0, 0, 1]])
    t = np.array([[1, 0, shift[0]], [0, 1, shift[1]], [0, 0, 1]], float)
    return (t @ r @ f)[:2].astype(np.float32)


def bend_maps(box: tuple[int, int, int, int], pivot: np.ndarray, axis: np.ndarray, start: float, length: float,
              degrees: float, transition: float) -> tuple[np.ndarray, np.ndarray]:
    """Backward maps (crop-shaped float32, full-image px) of a bend: points at axial
    distance s from ``pivot`` along ``axis`` rotate about the pivot by
    degrees * smoothstep((s - start) / transition), so the part stays put before
    ``start`` and turns rigidly beyond ``start + transition``.

    The inverse is found by fixed-point iteration (3 steps; the angle varies slowly)."""
    y0, y1, x0, x1 = box
    xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    qx, qy = xs - float(pivot[0]), ys - float(pivot[1])
    ax, ay = float(axis[0]), float(axis[1])
    theta = math.radians(degrees)
    px, py = qx.copy(), qy.copy()
    for _ in range(3):
        s = px * ax + py * ay
        t = np.clip((s - start) / max(transition, 1e-3), 0.0, 1.0)
        phi = -theta * (t * t * (3.0 - 2.0 * t))  # image y points down: ccw as seen = -angle
        c, sn = np.cos(-phi), np.sin(-phi)
        px, py = c * qx - sn * qy, sn * qx + c * qy
    return (px + float(pivot[0])).astype(np.float32), (py + float(pivot[1])).astype(np.float32)
