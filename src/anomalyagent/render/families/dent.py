"""Dent / bump: the surface pushed in (or out) without removing material.

Look: no new colour, only light. The height field is a smooth elliptical bowl (or dome
for ``params.bump``); shading it with the image's own light direction gives the
classic crescent pair, the wall facing the light brighter and the opposite wall
darker. The floor of a dent also gets a little less light (ambient occlusion) and
pressed coatings often scuff, so the centre darkens slightly rather than vanishing.
Grain is untouched: the real pixels are only multiplied by the shading.
"""
from __future__ import annotations

import numpy as np

from ...records import DefectSpec
from ..base import RENDERERS
from ..blend import finish
from ..family import (Family, angle_param, aspect_param, blend_param, center_param, extra_param, intensity_param,
                      read_param, size_param)
from ..noise import polar_profile
from ..shading import as_float, light_direction, shade
from ..shapes import blob_distance, frame


@RENDERERS.register("dent")
class Dent(Family):
    name = "dent"
    description = "smooth bowl or dome shaded by the estimated light: bright wall, dark wall, slightly dim floor"
    parameters = (
        center_param(),
        size_param(0.15, 0.03, 0.6, "diameter (longest)"),
        aspect_param(1.4, 1.0, 4.0, "long / short diameter"),
        angle_param(),
        intensity_param(0.6, "depth of the dent (slope of its walls)"),
        blend_param(),
        extra_param("relief", "float", -1.0, -1.0, 1.0, "< 0 pressed in (dent), > 0 pushed out (bump); magnitude scales the depth"),
        extra_param("sharpness", "float", 0.4, 0.0, 1.0, "0 broad shading, 1 steep walls and a flat floor"),
    )

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        f = frame(image.shape, spec, min_width_px=2.0)
        rx, ry = max(1.5, 0.5 * f.length), max(1.5, 0.5 * f.width)
        relief = read_param(spec, "relief", 1.0 if spec.color == "lighter" else -1.0, -1.0, 1.0)
        bump = relief > 0.0
        sharp = read_param(spec, "sharpness", 0.4, 0.0, 1.0)
        box = f.box(margin=0.2 * rx + 3.0)
        sd = blob_distance(box, f.cx, f.cy, rx, ry, f.theta, polar_profile(4, 0.08, rng))
        r01 = np.clip(sd / max(ry, 1.0) * (1.0 + 2.5 * sharp), 0.0, 1.0)  # 0 at the rim, 1 on the floor
        profile = r01 * r01 * (3.0 - 2.0 * r01)  # smooth bowl, flat rim tangent
        depth = (0.35 + 0.9 * spec.intensity) * ry * (0.5 + 0.5 * abs(relief))
        height = (depth if bump else -depth) * profile
        rel = shade(height, light_direction(image))
        floor = 1.0 - (0.12 + 0.15 * spec.intensity) * profile * (0.4 if bump else 1.0)
        ys, xs = box.slices
        img = as_float(image[ys, xs])
        target = img * (np.clip(1.0 + rel, 0.3, 1.8) * floor)[:, :, None]
        return finish(image, box, target)
