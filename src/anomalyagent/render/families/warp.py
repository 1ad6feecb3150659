"""Bent part: a lead, wire, pin or edge bent out of its normal line.

Look: the part's own pixels (metal, plating, highlights) keep their look but from a bend
point on the part turns rigidly about that point, with a short smooth elbow; the place
it leaves shows the real background (render/background.py), and the bent end now covers
background. The part is the scene's part mask nearest to the centre (a product model's
"lead") or, without one, the region around the centre whose colour differs from its
surroundings. The bend starts on the half of the part nearer the object (a lead bends
below the body it leaves), so the free end swings.
"""
from __future__ import annotations

import numpy as np

from ...records import DefectSpec
from ..base import RENDERERS
from ..family import Family, angle_param, blend_param, center_param, extra_param, intensity_param, read_param, size_param
from ..scene import Scene, select_part
from ..structure import bend_maps, object_center, part_axis, relocate, union_alpha, warp_layer


@RENDERERS.register("warp")
class Warp(Family):
    name = "warp"
    description = "a part (lead, wire, edge) bent about a point on it; real background shows where it was"
    parameters = (
        center_param(),
        size_param(0.3, 0.05, 0.9, "extent of the part searched around the centre"),
        angle_param(),
        intensity_param(0.6, "bend angle: 8 + 40 x intensity degrees unless params.bend is given"),
        blend_param(),
        extra_param("bend", "float", None, -90.0, 90.0, "bend angle in degrees (sign = direction); default from intensity"),
        extra_param("pivot", "float", None, 0.1, 0.8, "where along the part the bend starts, from its anchored end"),
        extra_param("part", "choice", "", help="name of a product-model part to bend (e.g. lead)"),
    )
    uses_scene = True
    handles_blend = True
    moves_pixels = True

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator,
             scene: Scene | None = None) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        unit = float(min(h, w))
        radius = 0.5 * spec.size * unit
        part = select_part(image, spec.center, max(3.0, radius), scene, str(spec.params.get("part", "") or ""))
        c, axis, half_len, half_wid = part_axis(part)
        # Anchor: the end of the part nearer to the object's centre.
        obj = object_center(image.shape, scene)
        if float(np.dot(obj - c, axis)) > 0:
            axis = -axis
        anchor = c - axis * half_len
        length = 2.0 * half_len
        start = read_param(spec, "pivot", float(rng.uniform(0.2, 0.5)), 0.1, 0.8) * length
        default_bend = (8.0 + 40.0 * spec.intensity) * (1.0 if rng.random() < 0.5 else -1.0)
        degrees = read_param(spec, "bend", default_bend, -90.0, 90.0)
        transition = max(2.0, 0.15 * length)
        # Box: everything the bent part can reach (a disc of the part's length about the anchor).
        reach = length + 3.0
        y0, y1 = int(max(0, anchor[1] - reach)), int(min(h, anchor[1] + reach + 1))
        x0, x1 = int(max(0, anchor[0] - reach)), int(min(w, anchor[0] + reach + 1))
        box = (y0, y1, x0, x1)
        map_x, map_y = bend_maps(box, anchor, axis, start, length, degrees, transition)
        moved, cov = warp_layer(image, part, map_x, map_y, box)
        # Only the part beyond the bend start leaves its place.
        ys, xs = np.nonzero(part)
        s = (xs - anchor[0]) * axis[0] + (ys - anchor[1]) * axis[1]
        vacated = np.zeros_like(part)
        vacated[ys[s > start], xs[s > start]] = True
        if not vacated.any():
            vacated = part
        edited, _, _ = relocate(image, part, moved, cov, scene, rng, spec.blend, vacated=vacated)
        stay = part & ~vacated
        return union_alpha(image, edited, vacated, (cov > 0.5) & ~stay, rng)
