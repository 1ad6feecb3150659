"""Foreign particle / fibre / hair: a small object lying on the surface.

Look: a compact grain (dust, chip, metal swarf) or a thin curved thread (fibre, hair).
It is a solid thing on top, so unlike a stain it hides the surface: its own colour is
derived from the surface (much darker or lighter, as ``color`` says), its own fine
grain is re-synthesised at the image's grain level, it is shaded as a raised body (lit
on the light side) and it casts a soft shadow on the surface away from the light.
``params.kind`` picks particle or fibre; by default aspect >= 6 means fibre.
"""
from __future__ import annotations

import numpy as np

from ...records import DefectSpec
from ..base import RENDERERS
from ..blend import finish, luma_shift
from ..family import (Family, angle_param, aspect_param, blend_param, center_param, color_param, edge_width,
                      extra_param, intensity_param, read_param, size_param)
from ..noise import grain_noise, polar_profile
from ..shading import as_float, blur, grain, light_direction, local_mean, luminance, shade
from ..shapes import blob_distance, box_around, feather, frame, stroke_coverage, wander_path


def fibre_strokes(f, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """One smooth curved thread of length f.length through the centre (points, widths)."""
    start = (f.cx - 0.5 * f.length * f.axis[0], f.cy - 0.5 * f.length * f.axis[1])
    pts = wander_path(start, f.theta, f.length, rng, step=max(1.0, f.length / 40.0), wiggle=0.08, persistence=0.9)
    widths = np.full(len(pts), max(0.7, f.width)) * rng.uniform(0.85, 1.15, size=len(pts))
    return [(pts, widths)]


@RENDERERS.register("particle")
class Particle(Family):
    name = "particle"
    description = "opaque foreign grain or curved fibre/hair on top of the surface, own shading, soft cast shadow"
    parameters = (
        center_param(),
        size_param(0.06, 0.01, 0.5, "longest extent (fibre length or grain diameter)"),
        aspect_param(1.5, 1.0, 60.0, "length / width; >= 6 draws a fibre"),
        angle_param(),
        intensity_param(0.7, "contrast of the particle against the surface"),
        color_param("darker"),
        blend_param(),
        extra_param("kind", "choice", "auto", help="particle, fibre or auto (by aspect)"),
        extra_param("shadow", "float", None, 0.0, 1.0, "contact shadow strength (default from intensity)"),
    )

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        kind = str(spec.params.get("kind", "auto"))
        if kind == "auto":
            kind = "fibre" if spec.aspect >= 6.0 else "particle"
        f = frame(image.shape, spec, min_width_px=0.9 if kind == "fibre" else 1.5)
        light = light_direction(image)
        shadow_off = max(0.6, 0.25 * f.width)
        sx, sy = -light[0] * shadow_off, -light[1] * shadow_off  # shadow falls away from the light
        if kind == "fibre":
            strokes = fibre_strokes(f, rng)
            pts = strokes[0][0]
            box = box_around(image.shape, pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max(),
                             pad=3.0 * f.width + shadow_off + 4.0)
            cov = stroke_coverage(box, strokes, supersample=4)
            shifted = [(p + (sx, sy), w * 1.3) for p, w in strokes]
            shadow = blur(stroke_coverage(box, shifted, supersample=2), max(0.5, 0.5 * f.width))
            radius = max(0.6, 0.5 * f.width)
        else:
            rx, ry = max(0.8, 0.5 * f.length), max(0.75, 0.5 * f.width)
            box = f.box(margin=2.0 * shadow_off + 0.3 * rx + 3.0)
            profile = polar_profile(6, rng.uniform(0.15, 0.35), rng)
            sd = blob_distance(box, f.cx, f.cy, rx, ry, f.theta, profile)
            cov = feather(sd, edge_width(spec, 0.12 * ry, f.unit))
            shadow = feather(blob_distance(box, f.cx + sx, f.cy + sy, rx * 1.1, ry * 1.1, f.theta, profile),
                             max(1.0, 0.4 * ry))
            radius = ry
        ys, xs = box.slices
        img = as_float(image[ys, xs])
        local = local_mean(img, max(2.0, 2.0 * radius))
        luma = luminance(local)
        # Its own colour: the local surface shifted far darker/lighter, with a random tint.
        relation = "lighter" if spec.color == "lighter" else "darker"
        body_l = np.clip(luma + luma_shift(relation, 0.45 + 0.5 * spec.intensity, luma), 0.0, 255.0)
        tint = local / np.maximum(luma, 1.0)[:, :, None]
        if img.shape[2] == 3:
            tint = tint * (1.0 + rng.normal(0.0, 0.08, size=3).astype(np.float32))
        # Raised body: a dome of height ~ radius shaded by the light, fresh grain on top.
        dome = np.sqrt(np.clip(blur(cov, max(0.5, 0.3 * radius)), 0.0, 1.0)) * radius * 1.5
        rel = np.clip(shade(dome, light), -0.5, 0.6)
        noise_sigma = float(np.std(grain(img, 1.5))) + 1.0
        body = body_l[:, :, None] * tint * (1.0 + rel)[:, :, None] + grain_noise(cov.shape, noise_sigma, rng)[:, :, None]
        shadow_k = read_param(spec, "shadow", 0.25 + 0.25 * float(spec.intensity), 0.0, 1.0)
        shade_surface = 1.0 - shadow_k * np.clip(shadow - cov, 0.0, 1.0)
        under = img * shade_surface[:, :, None]
        target = under + cov[:, :, None] * (body - under)
        return finish(image, box, target, edge=spec.blend != "hard")
