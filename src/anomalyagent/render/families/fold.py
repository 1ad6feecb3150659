"""Fold / wrinkle: the surface buckled into one or a few ridges (foil, film, fabric,
leather, a pressed sheet).

Look: elongated ridges that bow gently and fade out at both ends. Each is a height
field with a Gaussian cross-section, sharper on one side (a crease is asymmetric), so
under the image's light one flank is bright and the other in shadow; the crease line
on top is slightly darker where the coating was compressed. The surface grain is
untouched: the real pixels are multiplied by the shading.
"""
from __future__ import annotations

import numpy as np

from ...records import DefectSpec
from ..base import RENDERERS
from ..blend import finish
from ..family import Family, angle_param, aspect_param, center_param, extra_param, intensity_param, read_param, size_param
from ..shading import as_float, light_direction, shade
from ..shapes import frame


@RENDERERS.register("fold")
class Fold(Family):
    name = "fold"
    description = "gently bowed ridges with asymmetric cross-section, one flank lit and one shadowed, darker crease line"
    parameters = (
        center_param(),
        size_param(0.3, 0.05, 0.9, "length of the fold"),
        aspect_param(6.0, 2.0, 30.0, "length / width of one ridge"),
        angle_param(),
        intensity_param(0.6, "height of the ridges"),
        extra_param("ridges", "int", 1, 1, 3, "parallel ridges (random 1-2 when absent)"),
        extra_param("sharpness", "float", 0.5, 0.0, 1.0, "soft wrinkle (0) to sharp asymmetric crease (1)"),
    )

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        f = frame(image.shape, spec, min_width_px=2.0)
        ridges = int(round(read_param(spec, "ridges", 1 + int(rng.random() < 0.35), 1, 3)))
        sharpness = read_param(spec, "sharpness", rng.uniform(0.3, 0.8), 0.0, 1.0)
        half_w = max(1.0, 0.5 * f.width)
        spacing = 2.2 * half_w
        box = f.box(margin=ridges * spacing + 2.0 * half_w + 3.0)
        u, v = f.local(box)
        t = np.clip(u / (0.5 * f.length), -1.0, 1.0)
        bow = rng.uniform(-0.12, 0.12) * f.length * (1.0 - t * t)
        envelope = np.clip(np.cos(0.5 * np.pi * t), 0.0, 1.0) ** 0.7 * (np.abs(u) < 0.5 * f.length)
        height = np.zeros(u.shape, np.float32)
        crease = np.zeros(u.shape, np.float32)
        for k in range(ridges):
            off = (k - (ridges - 1) / 2.0) * spacing + rng.normal(0.0, 0.2 * half_w)
            d = v - bow - off
            sharp = (1.0 - 0.7 * sharpness) * rng.uniform(0.85, 1.15)  # the steep side is narrower
            sigma = np.where(d > 0, half_w, half_w * sharp)
            amp = (0.6 + 1.4 * spec.intensity) * half_w * (1.0 if k == 0 else rng.uniform(0.5, 0.9))
            height += (amp * np.exp(-(d / sigma) ** 2)).astype(np.float32)
            crease += sharpness * np.exp(-(d / max(0.6, 0.2 * half_w)) ** 2).astype(np.float32)
        height *= envelope
        crease = np.clip(crease * envelope, 0.0, 1.0)
        rel = shade(height, light_direction(image))
        ys, xs = box.slices
        img = as_float(image[ys, xs])
        gain = np.clip(1.0 + rel, 0.35, 1.8) * (1.0 - (0.08 + 0.12 * spec.intensity) * crease)
        return finish(image, box, img * gain[:, :, None], edge=spec.blend != "hard")
