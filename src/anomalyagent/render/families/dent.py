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
from ..noise import polar_profile, value_noise
from ..shading import as_float, light_direction, shade
from ..shapes import blob_distance, box_around, frame


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
        extra_param("sharpness", "float", None, 0.0, 1.0, "0 broad shading, 1 steep walls and a flat floor (unset: drawn from [0.25, 0.6])"),
        extra_param("band", "bool", False, help="a band across the whole part along ``angle`` (uneven grinding): "
                    "its width is size / aspect, its length unlimited"),
    )

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        f = frame(image.shape, spec, min_width_px=2.0)
        rx, ry = max(1.5, 0.5 * f.length), max(1.5, 0.5 * f.width)
        relief = read_param(spec, "relief", 1.0 if spec.color == "lighter" else -1.0, -1.0, 1.0)
        bump = relief > 0.0
        sharp = read_param(spec, "sharpness", float(rng.uniform(0.25, 0.6)), 0.0, 1.0)  # unpinned: spread
        if spec.params.get("band"):
            # A strip running off the image at both ends; its borders bow gently.
            box = box_around(image.shape, 0, 0, f.w - 1, f.h - 1, pad=0.0)
            u, v = f.local(box)
            wobble = 0.15 * ry * value_noise(u.shape, max(4.0, 0.5 * f.unit), rng)
            sd = (ry - np.abs(v + wobble)).astype(np.float32)
        else:
            box = f.box(margin=0.2 * rx + 3.0)
            sd = blob_distance(box, f.cx, f.cy, rx, ry, f.theta, polar_profile(4, 0.08, rng))
        r01 = np.clip(sd / max(ry, 1.0) * (1.0 + 2.5 * sharp), 0.0, 1.0)  # 0 at the rim, 1 on the floor
        profile = r01 * r01 * (3.0 - 2.0 * r01)  # smooth bowl, flat rim tangent
        # Wall slope (height per px) sets how strongly the walls shade; the walls span
        # 1 / (1 + 2.5 sharpness) of the radius.
        slope = (0.1 + 0.9 * spec.intensity) * (0.5 + 0.5 * abs(relief))
        depth = slope * ry / (1.0 + 2.5 * sharp)
        height = (depth if bump else -depth) * profile
        rel = shade(height, light_direction(image))
        # The floor is not parallel to the surface (uneven grinding, a pressed facet), so it
        # reflects uniformly more or less light: lighter or darker as ``color`` says.
        sign = 1.0 if spec.color == "lighter" else -1.0
        tilt = (0.04 + 0.2 * spec.intensity) if spec.params.get("band") else (0.02 + 0.08 * spec.intensity)
        floor = 1.0 + sign * tilt * profile
        ys, xs = box.slices
        img = as_float(image[ys, xs])
        target = img * (np.clip(1.0 + rel, 0.3, 1.8) * floor)[:, :, None]
        return finish(image, box, target, edge=spec.blend != "hard")
