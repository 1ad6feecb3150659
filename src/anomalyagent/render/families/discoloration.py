"""Discoloration / colour spot: the material itself changed colour (heat, oxidation,
bleaching, chemical attack), so nothing sits on top.

Look: a soft-edged patch whose colour drifts towards a hue (brownish, reddish) or in
brightness, strongest in its core and fading out gradually over a wide margin, with
low-frequency blotches inside; the texture underneath is fully preserved because only
the colour of the real pixels is moved.
"""
from __future__ import annotations

import numpy as np

from ...records import DefectSpec
from ..base import RENDERERS
from ..blend import finish, recolor
from ..family import (Family, angle_param, aspect_param, center_param, color_param, extra_param, intensity_param,
                      read_param, size_param)
from ..noise import fractal_noise, polar_profile
from ..shading import as_float, local_mean
from ..shapes import blob_distance, feather, frame


@RENDERERS.register("discoloration")
class Discoloration(Family):
    name = "discoloration"
    description = "soft-edged colour or brightness drift of the material itself, blotchy, texture preserved"
    parameters = (
        center_param(),
        size_param(0.2, 0.03, 0.8, "longest diameter"),
        aspect_param(1.4, 1.0, 4.0, "long / short diameter"),
        angle_param(),
        intensity_param(0.5, "strength of the colour change in the core"),
        color_param("brownish", "hue relation (brownish, reddish, hue) or darker/lighter"),
        extra_param("irregularity", "float", 0.4, 0.0, 1.0, "wobble of the outline"),
        extra_param("falloff", "float", 0.5, 0.0, 1.0, "0 sharp border, 1 fades out gradually"),
    )

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        f = frame(image.shape, spec, min_width_px=2.0)
        rx, ry = max(1.5, 0.5 * f.length), max(1.5, 0.5 * f.width)
        box = f.box(margin=0.4 * rx + 3.0)
        irregular = read_param(spec, "irregularity", rng.uniform(0.2, 0.6), 0.0, 1.0)
        falloff = read_param(spec, "falloff", rng.uniform(0.3, 0.8), 0.0, 1.0)
        sd = blob_distance(box, f.cx, f.cy, rx, ry, f.theta, polar_profile(5, 0.5 * irregular, rng))
        sd = sd + 0.25 * irregular * ry * fractal_noise(sd.shape, max(2.0, 0.4 * ry), rng, octaves=2)
        # Wide soft edge (up to half the radius), not capped: colour changes diffuse.
        cov = feather(sd, max(1.0, 0.5 * falloff * ry))
        ys, xs = box.slices
        img = as_float(image[ys, xs])
        local = local_mean(img, max(2.0, 0.2 * ry))
        blotch = 1.0 + 0.25 * fractal_noise(sd.shape, max(2.0, 0.5 * ry), rng, octaves=2)
        strength = np.clip((0.2 + 0.6 * spec.intensity) * blotch, 0.0, 1.0)
        full = recolor(img, local, spec.color, 0.6, rng)
        return finish(image, box, full, cov * strength, edge=spec.blend != "hard")
