"""Rust / corrosion: oxide growing out of the surface.

Look: a patchy, ragged-edged area (corrosion spreads in fingers and islands, not as a
clean blob) with reddish-brown oxide on colour images or a darker mottled film on
grey ones. Density varies at several scales, the oxide is granular (coarser grain
than the bare surface, re-synthesised), small dark pits sit in the densest parts, and
satellite specks dot the margin. The bare surface's own grain survives where the film
is thin.
"""
from __future__ import annotations

import numpy as np

from ...records import DefectSpec
from ..base import RENDERERS
from ..blend import finish, recolor
from ..family import (Family, angle_param, aspect_param, center_param, color_param, extra_param, intensity_param,
                      read_param, size_param)
from ..noise import fractal_noise, grain_noise, polar_profile
from ..shading import as_float, blur, grain, local_mean
from ..shapes import blob_distance, feather, frame


@RENDERERS.register("rust")
class Rust(Family):
    name = "rust"
    description = "patchy granular oxide with ragged fingers, satellite specks and dark pits; reddish-brown or darker"
    parameters = (
        center_param(),
        size_param(0.18, 0.03, 0.7, "longest extent of the corroded area"),
        aspect_param(1.3, 1.0, 4.0, "long / short extent"),
        angle_param(),
        intensity_param(0.7, "oxide density"),
        color_param("reddish", "oxide colour: reddish, brownish, or darker on grey images"),
        extra_param("irregularity", "float", 0.6, 0.0, 1.0, "how far the patch breaks into fingers and islands"),
        extra_param("pitting", "float", 0.4, 0.0, 1.0, "density and darkness of corrosion pits"),
    )

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        f = frame(image.shape, spec, min_width_px=2.0)
        rx, ry = max(1.5, 0.5 * f.length), max(1.5, 0.5 * f.width)
        box = f.box(margin=0.5 * rx + 3.0)
        sd = blob_distance(box, f.cx, f.cy, rx, ry, f.theta, polar_profile(8, 0.3, rng))
        shape = sd.shape
        # Fingers and islands: the outline is the blob perturbed by multi-scale noise.
        irregular = read_param(spec, "irregularity", rng.uniform(0.4, 0.8), 0.0, 1.0)
        pitting = read_param(spec, "pitting", rng.uniform(0.2, 0.6), 0.0, 1.0)
        patch = sd / max(ry, 1.0) + 0.75 * irregular * fractal_noise(shape, max(2.0, 0.35 * ry), rng, octaves=3)
        cov = feather(patch * ry, max(1.0, 0.04 * ry))
        specks = fractal_noise(shape, max(1.0, 0.06 * ry), rng, octaves=2)
        halo = np.clip(1.0 - np.abs(sd) / max(1.0, 0.5 * ry), 0.0, 1.0)
        cov = np.maximum(cov, feather((specks - 0.45) * 4.0, 1.0) * halo)
        density = np.clip(0.55 + 0.35 * fractal_noise(shape, max(1.5, 0.2 * ry), rng, octaves=3), 0.2, 1.0)
        ys, xs = box.slices
        img = as_float(image[ys, xs])
        local = local_mean(img, max(2.0, 0.2 * ry))
        color = spec.color if spec.color in ("reddish", "brownish", "darker", "mixed") else "reddish"
        oxide = recolor(img, local, color, 0.55 + 0.45 * spec.intensity, rng)
        # Granular film: coarser grain than the surface, and dark pits where densest.
        sigma = float(np.std(grain(img, 1.5))) + 2.0
        coarse = blur(grain_noise(shape, 2.2 * sigma, rng), 0.7)
        oxide = oxide * (1.0 + coarse / 128.0)[:, :, None]
        pits = np.clip((fractal_noise(shape, max(1.0, 0.05 * ry), rng, octaves=1) - (0.8 - 0.5 * pitting)) * 5.0, 0.0, 1.0) * cov
        oxide = oxide * (1.0 - (0.3 + 0.4 * pitting) * pits)[:, :, None]
        weight = cov * np.clip(density * (0.6 + 0.5 * spec.intensity), 0.0, 1.0)
        return finish(image, box, oxide, weight, edge=spec.blend != "hard")
