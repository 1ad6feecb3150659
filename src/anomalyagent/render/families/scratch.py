"""Scratch: a thin, nearly straight groove ploughed by a hard tip sliding over the surface.

Look: one to three parallel strands (a tip with burrs), slightly curved, tapering at
both ends where the tip touched down and lifted off. The groove is a height field, so
under the image's own light one wall catches light and the other falls in shadow (the
bright/dark rim); the groove floor is lighter (fresh metal, crushed coating) or darker
(dirt, exposed substrate) than the surface, as ``color`` says. Grain is kept: the edit
is a colour shift plus shading of the real pixels.
"""
from __future__ import annotations

import math

import numpy as np

from ...records import DefectSpec
from ..base import RENDERERS
from ..blend import finish, recolor
from ..family import (Family, angle_param, aspect_param, blend_param, center_param, color_param, extra_param,
                      intensity_param, line_width, read_param, size_param)
from ..shading import as_float, blur, light_direction, local_mean, shade
from ..shapes import box_around, frame, stroke_coverage


@RENDERERS.register("scratch")
class Scratch(Family):
    name = "scratch"
    description = "thin anti-aliased groove, slightly curved and tapered, lit on one wall and shadowed on the other"
    parameters = (
        center_param(),
        size_param(0.3, 0.05, 0.9, "length"),
        aspect_param(30.0, 8.0, 60.0, "length / width (width >= 0.8 px)"),
        angle_param(),
        intensity_param(0.6, "contrast of the groove floor and depth of its shading"),
        color_param("lighter", "groove floor lighter (bare metal) or darker (dirt) than the surface"),
        blend_param(),
        extra_param("width", "float", None, 0.001, 0.15, "groove width, fraction of min(H, W) (overrides aspect); "
                    "up to 0.15 for a wide roll or guide scratch on a downscaled strip image"),
        extra_param("strands", "int", 1, 1, 3, "parallel strands from a burred tip"),
        extra_param("curvature", "float", 0.05, 0.0, 1.0, "bow: 0 straight, 1 strongly bowed (sagitta = 0.25 x this x length)"),
        extra_param("through", "float", 0.0, 0.0, 1.0, "chance that the scratch runs through the whole view (a strip or "
                    "web scratched upstream, seen on a tile cut from it): no visible ends, full width edge to edge"),
    )

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        f = frame(image.shape, spec, min_width_px=0.8)
        width = line_width(spec, f.width, f.unit, 0.15)
        strands = int(round(read_param(spec, "strands", 1 + int(rng.random() < 0.3), 1, 3)))
        bend = read_param(spec, "curvature", rng.uniform(0.0, 0.3), 0.0, 1.0)
        sagitta = 0.25 * bend * f.length * rng.choice([-1.0, 1.0])
        chance = read_param(spec, "through", 0.0, 0.0, 1.0)
        through = chance > 0.0 and rng.random() < chance  # no draw when unset: same bytes as before
        # Through the view: long enough to leave the image at both ends wherever the centre is.
        length = 2.0 * math.hypot(f.h, f.w) if through else f.length
        ux, uy = f.axis
        nx, ny = f.normal
        n = max(8, int(length / max(1.0, width)) + 2)
        t = np.linspace(-0.5, 0.5, n)
        bow = sagitta * (1.0 - (2.0 * t) ** 2)
        strokes = []
        spacing = max(1.5 * width, 1.2)
        for k in range(strands):
            off = (k - (strands - 1) / 2.0) * spacing + rng.normal(0.0, 0.2 * width)
            shrink = 1.0 if k == 0 else rng.uniform(0.5, 0.9)
            tt = t * shrink + rng.uniform(-0.1, 0.1) * (1.0 - shrink)
            jitter = np.cumsum(rng.normal(0.0, 0.03 * width, size=n))
            along = tt * length
            across = bow + off + jitter
            pts = np.stack([f.cx + along * ux + across * nx, f.cy + along * uy + across * ny], axis=1)
            # Width profile: full in the middle, tapering to a point at touch-down and lift-off.
            prof = np.ones_like(tt) if through else np.sin(np.clip((tt / shrink + 0.5), 0.0, 1.0) * math.pi) ** 0.5
            wk = width * (1.0 if k == 0 else rng.uniform(0.5, 0.9))
            strokes.append((pts, np.maximum(wk * prof, 0.15)))
        margin = abs(sagitta) + spacing * strands + 3.0 * width + 3.0
        if through:  # the strip the strokes cross, clipped to the image
            allp = np.concatenate([p for p, _ in strokes])
            box = box_around(image.shape, allp[:, 0].min(), allp[:, 1].min(), allp[:, 0].max(), allp[:, 1].max(),
                             pad=3.0 * width + 3.0)
        else:
            box = f.box(margin=margin)
        cov = stroke_coverage(box, strokes, supersample=4)
        ys, xs = box.slices
        img = as_float(image[ys, xs])
        local = local_mean(img, max(2.0, 3.0 * width))
        s = 0.35 + 0.6 * float(spec.intensity)
        color = spec.color if spec.color in ("lighter", "darker") else "lighter"
        floor = recolor(img, local, color, s, rng)
        body = img + cov[:, :, None] * (floor - img)
        # Groove relief: depth ~ width, walls ~ one width wide; shading gives the rim. A wide
        # scuffed band (over 1.5 % of the image across) is shallow for its width: its look is
        # the floor's reflectance, so the relief fades out by 3 % (a bright band with a lit
        # and a shadowed rim either side also read as a pasted strip to the critic's seam).
        relief = float(np.clip((0.03 - width / f.unit) / 0.015, 0.0, 1.0))
        height = -blur(cov, max(0.6, 0.6 * width)) * (1.0 + 1.5 * width) * (0.5 + spec.intensity) * relief
        rel = shade(height, light_direction(image))
        target = body * (1.0 + np.clip(rel, -0.6, 0.6))[:, :, None]
        return finish(image, box, target, edge=spec.blend != "hard")
