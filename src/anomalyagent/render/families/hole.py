"""Hole / puncture / blowhole: a cavity seen from above.

Look: a round-to-oval opening with a slightly irregular outline. Inside, light falls
off with depth (ambient occlusion: the deeper, the darker) and the wall on the far side
from the light is lit while the near wall is in shadow; a thin raised lip around the
opening catches the light on one side (the lit rim). The surface grain continues into
the cavity, dimmed with the light, so the interior is not a flat black disc.
``params.through`` makes a puncture that goes through: the bottom shows the darkest
tone of the surroundings instead of a floor.
"""
from __future__ import annotations

import numpy as np

from ...records import DefectSpec
from ..base import RENDERERS
from ..blend import finish, recolor
from ..family import (Family, angle_param, aspect_param, blend_param, center_param, color_param, edge_width,
                      extra_param, intensity_param, read_param, size_param)
from ..noise import polar_profile, value_noise
from ..shading import as_float, light_direction, local_mean, luminance, shade
from ..shapes import blob_distance, feather, frame


@RENDERERS.register("hole")
class Hole(Family):
    name = "hole"
    description = "cavity with depth shading: dark interior, lit far wall, shadowed near wall, lit rim"
    parameters = (
        center_param(),
        size_param(0.08, 0.01, 0.5, "diameter (longest)"),
        aspect_param(1.2, 1.0, 3.0, "long / short diameter"),
        angle_param(),
        intensity_param(0.75, "depth: how dark the interior gets"),
        blend_param(),
        extra_param("depth", "float", None, 0.0, 1.0, "how dark the cavity floor is (default: intensity)"),
        extra_param("rim", "float", 0.2, 0.0, 0.6, "width of the raised/torn lip relative to the radius (0 = clean drilled "
                    "edge); lighter/mixed colour makes it a pale torn band"),
        color_param("darker", "darker: a plain cavity; lighter/mixed: with a pale torn band around it"),
        extra_param("roughness", "float", 0.15, 0.0, 0.4, "irregularity of the outline"),
        extra_param("through", "bool", False, help="a through-hole (no visible floor)"),
    )

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        f = frame(image.shape, spec, min_width_px=1.5)
        rough = read_param(spec, "roughness", rng.uniform(0.08, 0.22), 0.0, 0.4)
        rim = read_param(spec, "rim", rng.uniform(0.1, 0.3), 0.0, 0.6)
        # ``size`` is everything that visibly changed: the opening plus its lip.
        rx = max(1.0, 0.5 * f.length / (1.0 + rim))
        ry = max(0.8, 0.5 * f.width / (1.0 + rim))
        depth = read_param(spec, "depth", float(spec.intensity), 0.0, 1.0)
        through = bool(spec.params.get("through", False))
        rim_w = max(0.8, rim * ry)
        lip = 1.0 if rim > 0.0 else 0.0
        box = f.box(margin=3.0 * rim_w + 4.0)
        profile = polar_profile(5, rough, rng)
        sd = blob_distance(box, f.cx, f.cy, rx, ry, f.theta, profile)
        fw = edge_width(spec, 0.12 * ry, f.unit)
        cov = feather(sd, fw)
        ys, xs = box.slices
        img = as_float(image[ys, xs])
        local = local_mean(img, max(2.0, 0.8 * ry))
        depth01 = np.clip(sd / max(ry, 1.0), 0.0, 1.0)  # 0 at the edge, 1 at the centre
        light = light_direction(image)
        # Bowl height: steep walls near the edge, flat floor; plus the lip outside.
        depth_px = (0.6 + 1.2 * depth) * ry
        bowl = -depth_px * np.sqrt(np.clip(depth01 * 2.5, 0.0, 1.0))
        ring = np.exp(-((sd + 0.6 * rim_w) / rim_w) ** 2) * lip * 0.6 * rim_w
        rel = shade(bowl + ring, light)
        # Ambient occlusion: the floor gets a fraction of the light that drops with depth.
        occl = 0.55 + 0.4 * depth
        ao = 1.0 - occl * (0.55 + 0.45 * np.clip(depth01 * 2.0, 0.0, 1.0))
        if through:
            floor_level = np.percentile(luminance(img), 2) * 0.5
            ao = np.minimum(ao, (floor_level + 4.0) / (luminance(local) + 4.0))
        ao = ao * (1.0 + 0.08 * value_noise(sd.shape, max(2.0, 0.4 * ry), rng))
        grain = img - local
        inside = local * ao[:, :, None] + grain * np.clip(ao, 0.25, 1.0)[:, :, None]
        halo = spec.color == "lighter" or (spec.color == "mixed" and rng.random() < 0.5)
        if halo and rim > 0.0:
            # Torn shell or coating around the opening: a pale, ragged band.
            band = feather(sd + 1.6 * rim_w, max(0.7, 0.3 * rim_w)) * (1.0 - cov)
            pale = recolor(img, local, "lighter", 0.3 + 0.4 * depth, rng)
            img = img + band[:, :, None] * (pale - img)
        # Interior wall shading is weaker than direct light on the lip (it is in the cavity).
        lit = np.where(cov > 0.5, 0.5 * rel, rel)
        body = img + cov[:, :, None] * (inside - img)
        target = body * (1.0 + np.clip(lit, -0.6, 0.8))[:, :, None]
        return finish(image, box, target, edge=spec.blend != "hard")
