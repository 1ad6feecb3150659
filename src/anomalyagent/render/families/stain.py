"""Stain / contamination / liquid: a translucent deposit on top of the surface.

Look: an irregular blob whose outline wanders (a liquid spreading until it dries), the
surface texture fully visible underneath (the edit shifts the colour of the real
pixels, it does not paint over them), patchy density inside, and for liquids a slightly
stronger ring at the edge where pigment collects as the drop dries (coffee-ring
effect). Colour follows ``color``: darker (oil, dirt), lighter (dried residue, salt),
brownish/reddish (organic, oxide) or hue.
"""
from __future__ import annotations

import numpy as np

from ...records import DefectSpec
from ..base import RENDERERS
from ..blend import finish, recolor
from ..family import (Family, angle_param, aspect_param, blend_param, center_param, color_param,
                      edge_width, extra_param, intensity_param, read_param, size_param)
from ..noise import fractal_noise, polar_profile
from ..shading import as_float, light_direction, local_mean
from ..shapes import blob_distance, feather, frame


@RENDERERS.register("stain")
class Stain(Family):
    name = "stain"
    description = "translucent irregular deposit, texture kept underneath, patchy density, drying ring"
    parameters = (
        center_param(),
        size_param(0.2, 0.02, 0.8, "longest diameter"),
        aspect_param(1.5, 1.0, 4.0, "long / short diameter"),
        angle_param(),
        intensity_param(0.45, "opacity of the deposit"),
        color_param("darker"),
        blend_param(),
        extra_param("irregularity", "float", 0.5, 0.0, 1.0, "wobble of the outline"),
        extra_param("opacity", "float", None, 0.0, 1.0, "opacity of the deposit (default from intensity)"),
        extra_param("gloss", "float", 0.0, 0.0, 1.0, "specular sheen of a wet or oily film, on the side facing the light"),
        extra_param("ring", "float", 0.3, 0.0, 1.0, "extra density at the edge (0 for contamination, ~0.5 for dried liquid)"),
    )

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        f = frame(image.shape, spec, min_width_px=2.0)
        rx, ry = max(1.0, 0.5 * f.length), max(1.0, 0.5 * f.width)
        rough = 0.6 * read_param(spec, "irregularity", rng.uniform(0.3, 0.75), 0.0, 1.0)
        ring_amount = read_param(spec, "ring", rng.uniform(0.0, 0.6), 0.0, 1.0)
        opacity = read_param(spec, "opacity", 0.25 + 0.75 * float(spec.intensity), 0.0, 1.0)
        gloss = read_param(spec, "gloss", 0.0, 0.0, 1.0)
        box = f.box(margin=0.4 * rx + 3.0)
        profile = polar_profile(7, rough, rng)
        sd = blob_distance(box, f.cx, f.cy, rx, ry, f.theta, profile)
        # Fine-scale wander of the outline on top of the low-order shape.
        sd = sd + 0.08 * ry * fractal_noise(sd.shape, max(2.0, 0.25 * ry), rng, octaves=2)
        fw = edge_width(spec, 0.08 * ry, f.unit)
        cov = feather(sd, fw)
        ys, xs = box.slices
        img = as_float(image[ys, xs])
        local = local_mean(img, max(2.0, 0.15 * ry))
        density = 1.0 + 0.2 * fractal_noise(sd.shape, max(2.0, 0.35 * ry), rng, octaves=3)
        ring = ring_amount * np.exp(-np.maximum(sd, 0.0) / max(1.0, 0.12 * ry))
        strength = np.clip(opacity * (density + 0.5 * ring), 0.0, 1.0)
        full = recolor(img, local, spec.color, 0.8, rng)  # texture: render/controls.py
        if gloss > 0.0:
            # A wet film reflects the light source: a soft highlight offset towards it.
            lx, ly, _ = light_direction(image)
            hl = blob_distance(box, f.cx + 0.35 * rx * lx, f.cy + 0.35 * ry * ly, 0.35 * rx, 0.3 * ry, f.theta)
            full = full + (gloss * 90.0 * feather(hl, max(1.0, 0.3 * ry)) * cov)[:, :, None]
        weight = cov * strength
        return finish(image, box, full, weight, edge=spec.blend != "hard")
