"""The controls every family honours, applied around a family's own drawing:
``count`` (several instances), ``texture`` (the defect's surface finish) and ``blend``
(hard, feather or Poisson edges).

Why here and not in each family: a control a family forgets is a control that silently
does nothing (the rule policy's "refinement" after a texture review was only a new
seed). A family that implements a control itself says so (``handles_texture``,
``handles_blend``) and this module leaves it alone.

- count: ``spec.params["count"]`` instances (1-12). The first is the planned one; the
  others go on the other components of a named part (``params.part``: the other leads)
  when the scene has it, else on the object (``scene.foreground`` when it marks an object, else
  anywhere) at least 1.3 defect sizes from the others, each 60-100 % of the planned size.
- texture: keep (as drawn), smooth (grain removed inside the defect), glossy (smooth
  with a specular highlight on the side facing the light), grainy (extra isotropic
  grain), fibrous (grain streaked along the defect's angle). Applied with the defect's
  alpha as weight, so only the defect changes. A family that moves the image's own
  pixels (``Family.moves_pixels``: a part bent, moved or split) has no grain of its own
  to draw: for it, grainy and fibrous put back the camera's pixel-scale detail that
  resampling the part smoothed away (``restore_grain``), instead of streaks laid over a
  real part.
- blend: hard (the edit kept where alpha >= 0.5 and the input elsewhere: a one-pixel
  step), feather (as drawn: soft edges), poisson (cv2.seamlessClone's MIXED_CLONE, solved by
  render/poisson.py, of
  the feathered edit over its support grown by blend.clone_grow px: the defect's gradients where they
  are stronger than the surface's, the surface's own texture where not).
"""
from __future__ import annotations

import functools
import logging
import math

import cv2
import numpy as np

from ..change import robust_std
from ..records import DefectSpec
from .blend import clone_grow, measure_alpha, poisson_clone
from .scene import Scene, distinct_object, gray
from .shading import as_float, light_direction, shade

log = logging.getLogger(__name__)

MAX_COUNT = 12


def read_count(spec: DefectSpec) -> int:
    """``params.count`` as an int in [1, MAX_COUNT] (1 when absent or not a finite number)."""
    value = spec.params.get("count", 1)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 1
    if not math.isfinite(value):
        return 1
    return int(min(MAX_COUNT, max(1, round(value))))


def instance_specs(image_shape: tuple[int, ...], spec: DefectSpec, scene: Scene | None,
                   rng: np.random.Generator) -> list[DefectSpec]:
    """The specs of the ``count`` instances: the planned one first, then others spread
    over the object, apart from each other (fewer when no room is left)."""
    n = read_count(spec)
    first = spec.replace(params={k: v for k, v in spec.params.items() if k != "count"})
    if n == 1:
        return [first]
    h, w = image_shape[:2]
    unit = float(min(h, w))
    named = str(spec.params.get("part", "") or "")
    part = scene.part_for(named) if scene is not None and named else None
    if part is not None and part.shape == (h, w):
        # A named part (three leads): one instance per other component of the part.
        n_lab, labels, _, cents = cv2.connectedComponentsWithStats(part.astype(np.uint8), connectivity=8)
        cx, cy = spec.center[0] * (w - 1), spec.center[1] * (h - 1)
        if n_lab > 2:
            first_lab = labels[int(round(cy)), int(round(cx))] if labels[int(round(cy)), int(round(cx))] else \
                1 + int(np.argmin(np.hypot(cents[1:, 0] - cx, cents[1:, 1] - cy)))
            others = [k for k in range(1, n_lab) if k != first_lab]
            order = rng.permutation(len(others))
            out = [first]
            for k in order[: n - 1]:
                x, y = cents[others[k]]
                out.append(first.replace(center=(round(float(x) / max(w - 1, 1), 4), round(float(y) / max(h - 1, 1), 4))))
            return out
    fg = scene.foreground if scene is not None else None
    region = fg if distinct_object(fg) and fg.shape == (h, w) else np.ones((h, w), bool)
    # Keep instance centres inside the object by about half a defect size.
    inner = cv2.distanceTransform(np.pad(region, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    ys, xs = np.nonzero(inner > 0.5 * spec.size * unit)
    if len(ys) == 0:
        ys, xs = np.nonzero(region)
    # Also away from the image border so instances are whole.
    margin = 0.5 * spec.size * unit
    ok = (xs > margin) & (xs < w - 1 - margin) & (ys > margin) & (ys < h - 1 - margin)
    if ok.any():
        ys, xs = ys[ok], xs[ok]
    out = [first]
    placed = [(spec.center[0] * (w - 1), spec.center[1] * (h - 1), spec.size * unit)]
    tries = 0
    while len(out) < n and tries < 60 * n and len(ys):
        tries += 1
        i = int(rng.integers(len(ys)))
        x, y = float(xs[i]), float(ys[i])
        size = spec.size * float(rng.uniform(0.6, 1.0))
        if all(math.hypot(x - px, y - py) > 0.65 * (size * unit + ps) + 0.03 * unit for px, py, ps in placed):
            placed.append((x, y, size * unit))
            angle = (spec.angle + float(rng.normal(0.0, 25.0)) + 180.0) % 360.0 - 180.0
            out.append(first.replace(center=(round(x / max(w - 1, 1), 4), round(y / max(h - 1, 1), 4)),
                                     size=round(max(0.005, size), 4), angle=round(angle, 1)))
    return out


def _fine_detail(lum: np.ndarray, where: np.ndarray) -> float:
    """Robust std of the finest scale (a float image minus its 1-px blur) over ``where``:
    the measure of pixel-scale detail the critic's resolution check uses
    (critic/appearance.py ``resolution_ratio``)."""
    return robust_std((lum - cv2.GaussianBlur(lum, (0, 0), 1.0))[where])


@functools.cache
def _white_fine() -> float:
    """``_fine_detail`` of unit white noise (a constant, measured once)."""
    noise = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    return _fine_detail(noise, np.ones(noise.shape, bool))


def _texture_box(alpha: np.ndarray, pad: int = 4) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the box of alpha > 0.01, grown by ``pad`` within the frame."""
    h, w = alpha.shape
    ys, xs = np.nonzero(alpha > 0.01)
    return max(0, ys.min() - pad), min(h, ys.max() + 1 + pad), max(0, xs.min() - pad), min(w, xs.max() + 1 + pad)


def _paste_finish(edited: np.ndarray, out: np.ndarray, alpha: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """A copy of ``edited`` with the float (h, w, c) crop ``out`` pasted at ``box``: rounded
    to uint8, pixels whose alpha < 0.01 left as they were."""
    y0, y1, x0, x1 = box
    out = np.clip(np.round(out), 0, 255).astype(np.uint8)
    out = out[:, :, 0] if edited.ndim == 2 else out
    keep = alpha[y0:y1, x0:x1] < 0.01
    out[keep] = edited[y0:y1, x0:x1][keep]
    result = edited.copy()
    result[y0:y1, x0:x1] = out
    return result


def restore_grain(image: np.ndarray, edited: np.ndarray, alpha: np.ndarray, rng: np.random.Generator,
                  floor: float = 0.35) -> np.ndarray:
    """``edited`` with the pixel-scale detail its changed pixels lost put back: isotropic
    grain, weighted by ``alpha``, sized so that the fine detail (``_fine_detail``) of the
    changed pixels returns to what the input image has at the same place (independent
    grain adds in quadrature); at least ``floor`` of the input's level and one grey level,
    so the finish always changes pixels. Why: a part rotated or bent is resampled, which
    smooths its finest scale below anything the camera records; the fix is the camera's
    own grain level, not a streaked finish drawn over a real part (a moved transistor was
    hatched all over by ``fibrous`` at the edge-inflated level of its crop)."""
    changed = alpha > 0.5 if int((alpha > 0.5).sum()) >= 20 else alpha > 0.01
    if not changed.any():
        return edited
    box = y0, y1, x0, x1 = _texture_box(alpha)
    where = changed[y0:y1, x0:x1]
    source = _fine_detail(gray(image[y0:y1, x0:x1]).astype(np.float32), where)
    now = _fine_detail(gray(edited[y0:y1, x0:x1]).astype(np.float32), where)
    target = math.sqrt(max(source * source - now * now, (floor * source) ** 2, 1.0))
    noise = rng.standard_normal((y1 - y0, x1 - x0), dtype=np.float32) * np.float32(target / _white_fine())
    out = as_float(edited[y0:y1, x0:x1]) + (noise * alpha[y0:y1, x0:x1])[:, :, None]
    return _paste_finish(edited, out, alpha, box)


def apply_texture(image: np.ndarray, edited: np.ndarray, alpha: np.ndarray, spec: DefectSpec,
                  rng: np.random.Generator, moves_pixels: bool = False) -> np.ndarray:
    """``edited`` with its defect's surface finish changed to ``spec.texture`` (see the
    module docstring); pixels with alpha < 0.01 are returned unchanged. ``moves_pixels``:
    the edit moved the image's own pixels, so a grain-adding finish restores their detail."""
    texture = spec.texture
    if texture == "keep" or not (alpha > 0.01).any():
        return edited
    if moves_pixels and texture in ("grainy", "fibrous"):
        return restore_grain(image, edited, alpha, rng)
    h, w = alpha.shape
    box = y0, y1, x0, x1 = _texture_box(alpha)
    crop = as_float(edited[y0:y1, x0:x1])
    a = alpha[y0:y1, x0:x1][:, :, None]
    smooth = cv2.GaussianBlur(crop, (0, 0), 1.5).reshape(crop.shape)
    resid = crop - smooth
    level = max(3.0, float(np.std(as_float(image)[y0:y1, x0:x1] - cv2.GaussianBlur(
        as_float(image)[y0:y1, x0:x1], (0, 0), 1.5).reshape(crop.shape))))
    if texture in ("smooth", "glossy"):
        out = crop - 0.85 * a * resid
        if texture == "glossy":
            unit = float(min(h, w))
            height = alpha[y0:y1, x0:x1] * max(2.0, 0.02 * unit)
            lit = np.clip(shade(cv2.GaussianBlur(height, (0, 0), 1.5), light_direction(image)), 0.0, 1.0)
            out = out + (90.0 * lit)[:, :, None] * a
    else:
        noise = rng.standard_normal(crop.shape[:2]).astype(np.float32)
        if texture == "fibrous":
            k = max(5, int(0.04 * min(h, w)) | 1)
            kernel = np.zeros((k, k), np.float32)
            t = math.radians(spec.angle)
            c, s = math.cos(t), -math.sin(t)
            for j in np.linspace(-(k // 2), k // 2, 2 * k):
                kernel[int(round(k // 2 + j * s)), int(round(k // 2 + j * c))] = 1.0
            noise = cv2.filter2D(noise, -1, kernel / kernel.sum()) * math.sqrt(k)
        else:  # grainy
            noise = cv2.GaussianBlur(noise, (0, 0), 0.6) * 1.6
        out = crop + (1.6 * level * noise)[:, :, None] * a
    return _paste_finish(edited, out, alpha, box)


def apply_blend(image: np.ndarray, edited: np.ndarray, alpha: np.ndarray, blend: str) -> np.ndarray:
    """The edge transition ``blend`` applied to an edit drawn with feathered edges."""
    if blend == "hard":
        core = alpha >= 0.5
        if core.sum() < 3:
            return edited
        out = image.copy()
        out[core] = edited[core]
        return out
    if blend == "poisson":
        k = clone_grow(image.shape)
        support = cv2.dilate((alpha > 0.02).astype(np.uint8), np.ones((2 * k + 1, 2 * k + 1), np.uint8)).astype(bool)
        out, note = poisson_clone(image, edited, support, mixed=True)
        if note:
            log.info(note)
        return out
    return edited


def finalize(image: np.ndarray, edited: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(edited, alpha): the visibility alpha re-measured after a control changed pixels."""
    return edited, measure_alpha(image, edited)
