"""Fray: loose threads pulled out of a woven or fibrous surface (fabric, carpet, cable
sheath, the worn edge of a pressed tile).

Look: a tuft of thin wavy threads that leave a short damaged base (where the weave
opened up) and run roughly in one direction, each of its own length, width and shade,
lighter or darker than the surface as ``color`` says, with a soft shadow under them
away from the light. The base patch is dimmed and roughened (loosened weave). The
threads keep a trace of the surface grain (they are made of the same material).
"""
from __future__ import annotations

import math

import numpy as np

from ...records import DefectSpec
from ..base import RENDERERS
from ..blend import finish, luma_shift
from ..family import (Family, angle_param, aspect_param, blend_param, center_param, color_param, extra_param,
                      intensity_param, read_param, size_param)
from ..noise import fractal_noise
from ..shading import as_float, blur, light_direction, local_mean, luminance
from ..shapes import blob_distance, box_around, feather, frame, stroke_coverage, stroke_values, taper, wander_path


@RENDERERS.register("fray")
class Fray(Family):
    name = "fray"
    description = "tuft of thin wavy threads leaving an opened, dimmed base patch; each thread its own shade; soft shadows"
    parameters = (
        center_param(),
        size_param(0.2, 0.04, 0.7, "length of the longest thread"),
        aspect_param(2.0, 1.0, 8.0, "thread length / width of the damaged base"),
        angle_param(),
        intensity_param(0.7, "contrast of the threads"),
        color_param("lighter"),
        blend_param(),
        extra_param("threads", "int", 10, 3, 30, "number of loose threads (random 6-16 when absent; alias: strands)"),
        extra_param("strand_length", "float", None, 0.1, 1.0, "typical thread length relative to size (each varies +-40 %; unset: drawn from [0.45, 0.8])"),
    )

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        f = frame(image.shape, spec, min_width_px=2.0)
        count = int(round(read_param(spec, "threads", read_param(spec, "strands", int(rng.integers(6, 17))), 3, 30)))
        typical = read_param(spec, "strand_length", float(rng.uniform(0.45, 0.8)), 0.1, 1.0)  # unpinned: spread
        thread_w = max(0.7, 0.006 * f.unit)
        ux, uy = f.axis
        nx, ny = f.normal
        base_x = f.cx - 0.5 * f.length * ux
        base_y = f.cy - 0.5 * f.length * uy
        strands = []
        for _ in range(count):
            off = rng.uniform(-0.5, 0.5) * f.width
            start = (base_x + off * nx, base_y + off * ny)
            heading = f.theta + rng.normal(0.0, 0.25)
            length = f.length * min(1.0, typical * rng.uniform(0.6, 1.4))
            pts = wander_path(start, heading, length, rng, step=max(1.0, f.length / 30.0), wiggle=0.12, persistence=0.85)
            widths = taper(len(pts), thread_w * rng.uniform(0.8, 1.4), 0.5 * thread_w)
            strands.append((pts, widths, rng.uniform(0.6, 1.0)))
        allp = np.concatenate([s[0] for s in strands])
        box = box_around(image.shape, allp[:, 0].min(), allp[:, 1].min(), allp[:, 0].max(), allp[:, 1].max(),
                         pad=0.3 * f.width + 4.0 * thread_w + 4.0)
        ys, xs = box.slices
        img = as_float(image[ys, xs])
        local = local_mean(img, max(2.0, 0.1 * f.length))
        luma = luminance(local)
        relation = "darker" if spec.color == "darker" else "lighter"
        light = light_direction(image)
        # Base patch: the weave opened where the threads come out.
        sd = blob_distance(box, base_x, base_y, max(1.5, 0.55 * f.width), max(1.5, 0.25 * f.width), f.theta + math.pi / 2)
        sd = sd + 0.2 * max(1.5, 0.25 * f.width) * fractal_noise(sd.shape, max(1.5, 0.1 * f.width), rng, octaves=2)
        base = feather(sd, max(1.0, 0.1 * f.width))
        rough = 1.0 - (0.25 + 0.2 * spec.intensity) * base * (1.0 + 0.3 * fractal_noise(sd.shape, max(1.5, thread_w * 2), rng))
        surface = img * rough[:, :, None]
        # Shadows, then the threads, each with its own shade (later ones on top).
        off = max(0.7, 1.5 * thread_w)
        shadow = blur(stroke_coverage(box, [(p - (light[0] * off, light[1] * off), w * 1.2) for p, w, _ in strands], 2), thread_w)
        surface = surface * (1.0 - (0.2 + 0.2 * spec.intensity) * np.clip(shadow, 0.0, 1.0))[:, :, None]
        target = surface
        # Loose fibres are the same material, a little desaturated (they scatter light).
        tint = 0.6 * local / np.maximum(luma, 1.0)[:, :, None] + 0.4 if img.shape[2] == 3 else 1.0
        cov, shade_k = stroke_values(box, [(p, w) for p, w, _ in strands], [k for _, _, k in strands], supersample=3)
        tl = np.clip(luma + luma_shift(relation, (0.2 + 0.45 * spec.intensity) * np.clip(shade_k, 0.0, 1.0), luma), 0.0, 255.0)
        thread = tl[:, :, None] * tint + 0.4 * (img - local)
        target = target + cov[:, :, None] * (thread - target)
        return finish(image, box, target, edge=spec.blend != "hard")
