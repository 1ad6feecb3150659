"""Transplanted material: real pixels from elsewhere pasted into a defect-shaped region.

Why: material, lighting and grain are right by construction when the pixels are real
(CutPaste wins for that reason). Sources, by ``params.source``:

- ``bank``: a real defect from a local defect bank (bank.py, built by
  ``anomalyagent bank build`` from a user's own anomalies; never shipped), its own mask
  as the shape, pasted near its own size: the spec's size within x0.75-1.33 of the
  defect's size relative to its source image (scaled further, a crack's width and a
  texture's grain stop being real: a hair-line crack shrunk to a third fades into the
  feathered edge, a full-length scratch becomes a dash). It keeps the direction it had in its own
  image (turned by 0 or 180 degrees, +-10): a real defect's direction relative to the
  product is part of what it is (scratches along the rolling direction of steel, a crack
  across a case); ``turn`` sets another;
- ``normal``: the same-shaped region from another normal image of the category, taken
  at a different place on its object and turned, so the structure does not line up;
- ``self``: the same from this image (default when no normal image is given).

``auto`` takes the bank when it holds the defect type, else a normal, else self.

A bank defect's returned alpha also covers its own mask as placed (``keeps_label``): the
ground truth of a pasted real defect is the label it came with (the bank's mask, the
user's annotation restricted to what visibly differs in its source), not only the part
that still differs visibly once harmonised onto the new surface. Measured on neu_seg's
few-shot samples: MG's masks of pasted scratches were about 6 px thick at 128 px, the
reserved third's annotated bands about 14 (docs/benchmarks.md, "Five dev categories at
stop 19"). MG takes the union (tools/builtin.py). The
pasted region is colour-harmonised (its surroundings' mean and spread per channel are
mapped onto the destination's surroundings, so a dark defect stays dark relative to its
new surface; a bank defect's mean only, so it keeps its own depth) and blended with the spec's blend: Poisson (cv2.seamlessClone's equations, render/poisson.py), feather or
hard.

A bank defect's surroundings are mapped by the same 1 - 0.7 x intensity as other
material, so it keeps part of the offset between its source's surface and the new one
(its depth against the new surface grows or shrinks with that offset). Mapping them fully
keeps the depth exactly (25 magnetic_tile blowholes through the loop: median 22.1 grey
levels in the bank, 18.0 pasted, 22.2 fully mapped), but gave a lower mean few-shot
pixel AP on all five dev categories (docs/benchmarks.md, "Stop 20: two few-shot
experiments"), so it was not kept.
"""
from __future__ import annotations

import cv2
import numpy as np

from ...records import DefectSpec
from ..base import RENDERERS
from ..blend import composite, measure_alpha
from ..family import (Family, angle_param, aspect_param, blend_param, center_param, extra_param, intensity_param,
                      read_param, size_param)
from ..noise import fractal_noise, polar_profile
from ..scene import Scene, distinct_object
from ..shading import as_float
from ..shapes import blob_distance, frame
from ..structure import grow

SOURCES = ("auto", "bank", "normal", "self")


def _source(spec: DefectSpec) -> str:
    """The spec's ``params.source``, "auto" when missing or not one of SOURCES."""
    source = str(spec.params.get("source", "auto"))
    return source if source in SOURCES else "auto"


def _takes_bank(spec: DefectSpec, bank) -> bool:
    return _source(spec) in ("auto", "bank") and bank is not None and bank.has(spec.defect_type, spec.category)


def pastes_from_bank(spec: DefectSpec, bank) -> bool:
    """Whether ``spec`` is a transplant that pastes a real defect from ``bank`` (a
    bank.DefectBank or None): source bank or auto, and the bank holds its defect type."""
    return spec.family == "transplant" and _takes_bank(spec, bank)


BANK_SCALE = (0.75, 1.33)  # a bank defect's scale, relative to its own size (module docstring)


def harmonise(patch: np.ndarray, src_ring: np.ndarray, dst_ring: np.ndarray, amount: float,
              keep_contrast: bool = False) -> np.ndarray:
    """(h, w, c) float32 ``patch`` with the per-channel affine map that takes the source
    surroundings' mean/std to the destination's, applied with weight ``amount`` in [0, 1].

    ``keep_contrast`` (a real defect from a bank): the mean only, gain 1. The defect's
    depth against its surface is its own: scaled by the two surfaces' spread, a bright
    steel scratch pasted onto a smoother strip lost 40 % of its contrast (median over 20
    pastes of the neu_seg bank: 42 grey levels in the placed source, 24 pasted; with the
    mean only 37)."""
    ms, ss = src_ring.mean(axis=0), src_ring.std(axis=0) + 1.0
    md, sd = dst_ring.mean(axis=0), dst_ring.std(axis=0) + 1.0
    gain = 1.0 if keep_contrast else np.clip(sd / ss, 0.5, 2.0)
    mapped = (patch - ms) * gain + md
    return patch + float(amount) * (mapped - patch)


def _shape(image_shape, spec: DefectSpec, rng: np.random.Generator) -> np.ndarray:
    """(H, W) bool defect-shaped region: an irregular blob of the spec's size, aspect, angle."""
    f = frame(image_shape, spec, min_width_px=2.0)
    rx, ry = max(2.0, 0.5 * f.length), max(2.0, 0.5 * f.width)
    box = f.box(margin=0.4 * rx + 2.0)
    sd = blob_distance(box, f.cx, f.cy, rx, ry, f.theta, polar_profile(7, float(rng.uniform(0.2, 0.45)), rng))
    sd = sd + 0.1 * ry * fractal_noise(sd.shape, max(1.5, 0.25 * ry), rng, octaves=2)
    out = np.zeros(image_shape[:2], bool)
    out[box.slices] = sd > 0
    return out


def _turned_copy(source: np.ndarray, region: np.ndarray, target_xy: tuple[float, float], src_xy: tuple[float, float],
                 degrees: float, shape: tuple[int, int]) -> np.ndarray:
    """``source`` moved so that ``src_xy`` lands on ``target_xy``, turned by ``degrees``."""
    m = cv2.getRotationMatrix2D((float(src_xy[0]), float(src_xy[1])), float(degrees), 1.0)
    m[0, 2] += target_xy[0] - src_xy[0]
    m[1, 2] += target_xy[1] - src_xy[1]
    return cv2.warpAffine(source, m, (shape[1], shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


@RENDERERS.register("transplant")
class Transplant(Family):
    name = "transplant"
    description = "real material (defect bank, another normal image, or elsewhere on this one) pasted into a defect shape"
    parameters = (
        center_param(),
        size_param(0.15, 0.02, 0.6, "longest extent of the pasted region"),
        aspect_param(1.5, 1.0, 8.0, "long / short extent"),
        angle_param(),
        intensity_param(0.6, "how foreign the material stays: colour harmonisation = 1 - 0.7 x intensity"),
        blend_param(),
        extra_param("source", "choice", "auto", help="bank, normal, self or auto"),
        extra_param("turn", "float", None, -180.0, 180.0, "rotation of the pasted material in degrees (default: random; a bank defect keeps its direction, 0 or 180 +-10)"),
    )
    uses_scene = True
    handles_blend = True
    keeps_label = True  # a bank defect's alpha keeps its mask (module docstring)

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator,
             scene: Scene | None = None) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        f = frame(image.shape, spec)
        source = _source(spec)
        bank = scene.bank if scene is not None else None
        from_bank = _takes_bank(spec, bank)
        if from_bank:
            layer, region = self.from_bank(image, spec, bank, rng)
        else:
            region = _shape(image.shape, spec, rng)
            normals = scene.normals if scene is not None else ()
            donor = image
            if source in ("auto", "normal") and normals:
                donor = normals[int(rng.integers(len(normals)))]
                if donor.shape[:2] != (h, w):
                    donor = cv2.resize(donor, (w, h), interpolation=cv2.INTER_AREA)
                if donor.ndim != image.ndim:
                    donor = cv2.cvtColor(donor, cv2.COLOR_GRAY2RGB) if image.ndim == 3 else cv2.cvtColor(donor, cv2.COLOR_RGB2GRAY)
            layer = self.from_donor(image, donor, region, f, spec, scene, rng)
        # Harmonise and composite on the region's box only (the layer is full-size).
        ys, xs = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
        if len(ys) == 0:
            return image.copy(), np.zeros((h, w), np.float32)
        ring_px = max(2, int(0.01 * min(h, w)) + 2)
        pad = ring_px + 12
        y0, y1, x0, x1 = max(0, ys[0] - pad), min(h, ys[-1] + 1 + pad), max(0, xs[0] - pad), min(w, xs[-1] + 1 + pad)
        reg = region[y0:y1, x0:x1]
        ring = grow(reg, ring_px) & ~reg
        lf = as_float(layer[y0:y1, x0:x1])
        if ring.any():
            lf = harmonise(lf, lf[ring], as_float(image[y0:y1, x0:x1])[ring], 1.0 - 0.7 * float(spec.intensity),
                           keep_contrast=from_bank)
        patch = np.clip(np.round(lf), 0, 255).astype(np.uint8)
        layer = image.copy()
        layer[y0:y1, x0:x1] = patch[:, :, 0] if image.ndim == 2 else patch
        # A bank defect's region is its real mask: the feather must not eat into it.
        edited, _ = composite(image, layer, region.astype(np.float32), spec.blend, rng, keep_inside=from_bank)
        alpha = measure_alpha(image, edited)
        if from_bank:  # the pasted defect's own label (module docstring)
            np.maximum(alpha, region.astype(np.float32), out=alpha)
        return edited, alpha

    @staticmethod
    def from_donor(image, donor, region, f, spec, scene, rng) -> np.ndarray:
        """A layer whose pixels under ``region`` come from another place of ``donor``."""
        h, w = image.shape[:2]
        fg = scene.foreground if scene is not None else None
        pool = fg if distinct_object(fg) and fg.shape == (h, w) else None
        margin = 0.5 * f.length
        lo_x, hi_x = min(margin, (w - 1) / 2), max(w - 1 - margin, (w - 1) / 2)
        lo_y, hi_y = min(margin, (h - 1) / 2), max(h - 1 - margin, (h - 1) / 2)
        far_px = max(0.6 * f.length, 0.08 * f.unit) if donor is image else 0.0
        # Rejection sampling of a source centre: on the object, away from the target.
        x, y = float(rng.uniform(lo_x, hi_x)), float(rng.uniform(lo_y, hi_y))
        for _ in range(64):
            cx, cy = float(rng.uniform(lo_x, hi_x)), float(rng.uniform(lo_y, hi_y))
            on = pool is None or pool[int(cy), int(cx)]
            if on and np.hypot(cx - f.cx, cy - f.cy) > far_px:
                x, y = cx, cy
                break
        turn = read_param(spec, "turn", float(rng.uniform(60.0, 300.0)), -180.0, 180.0)
        return _turned_copy(donor, region, (f.cx, f.cy), (x, y), turn, (h, w))

    @staticmethod
    def from_bank(image, spec, bank, rng) -> tuple[np.ndarray, np.ndarray]:
        """(layer, region): a bank defect at the spec's size within ``BANK_SCALE`` of its
        own (relative to its source image), kept in its own direction (``turn``, default 0
        or 180 degrees +-10), centred on the spec's centre."""
        h, w = image.shape[:2]
        patch, mask, side = bank.sample(spec.defect_type, spec.category, rng)
        if patch.ndim != image.ndim:
            patch = cv2.cvtColor(patch, cv2.COLOR_GRAY2RGB) if image.ndim == 3 else cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY)
        ys, xs = np.nonzero(mask)
        extent = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) if len(ys) else max(mask.shape)
        native = min(h, w) / side if side > 0 else 1.0  # the defect's own size in this image
        wanted = spec.size * min(h, w) / max(1, extent)
        scale = float(np.clip(np.clip(wanted, BANK_SCALE[0] * native, BANK_SCALE[1] * native), 0.05, 8.0))
        cy, cx = (ys.mean(), xs.mean()) if len(ys) else (mask.shape[0] / 2, mask.shape[1] / 2)
        turn = read_param(spec, "turn", 180.0 * int(rng.integers(2)) + float(rng.uniform(-10.0, 10.0)), -180.0, 180.0)
        m = cv2.getRotationMatrix2D((float(cx), float(cy)), float(turn), scale)
        m[0, 2] += spec.center[0] * (w - 1) - cx
        m[1, 2] += spec.center[1] * (h - 1) - cy
        layer = cv2.warpAffine(patch, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        region = cv2.warpAffine(mask.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR) > 0.5
        if not region.any():
            region = _shape(image.shape, spec, rng)
        # Outside the pasted patch the layer must show the destination, not reflections.
        inside = cv2.warpAffine(np.ones(mask.shape, np.float32), m, (w, h), flags=cv2.INTER_NEAREST) > 0.5
        layer[~inside] = image[~inside]
        return layer, region
