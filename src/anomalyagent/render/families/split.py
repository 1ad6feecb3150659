"""Broken piece: the part split along a jagged fracture line and one piece pushed away,
so the real background (the tray, the board) shows in the gap.

Look: a wide crack through the material where the background shows through, the two
sides' edges matching each other's jags (they were one piece), the broken-off piece a
little turned. The line runs through the centre at the spec's angle; the piece beyond
it (within the spec's size of the centre) moves across the line by a gap of 3-15 % of
the size (intensity) and turns by up to 6 degrees. Without a known object (a texture)
the gap shows a shadowed recess instead. The mask covers the gap and the moved piece's
new place.
"""
from __future__ import annotations

import math

import numpy as np

from ...records import DefectSpec
from ..base import RENDERERS
from ..blend import finish, recolor
from ..family import (Family, angle_param, blend_param, center_param, extra_param, intensity_param, read_param,
                      size_param)
from ..noise import fractal_noise
from ..scene import Scene, distinct_object, select_part
from ..shading import as_float, local_mean
from ..shapes import Box
from ..structure import affine_layer, grow, relocate, rotation_about, union_alpha


@RENDERERS.register("split")
class Split(Family):
    name = "split"
    description = "part broken along a jagged line, one piece pushed away: the background shows in the gap"
    parameters = (
        center_param(),
        size_param(0.4, 0.05, 1.0, "reach of the broken-off piece from the centre"),
        angle_param(),
        intensity_param(0.6, "gap width: 3 + 12 x intensity % of the size"),
        blend_param(),
        extra_param("gap", "float", None, 0.005, 0.2, "gap width as a fraction of min(H, W) (default from intensity)"),
        extra_param("jaggedness", "float", None, 0.0, 1.0, "how much the fracture line wanders (unset: drawn from [0.3, 0.8])"),
        extra_param("part", "choice", "", help="name of a product-model part to break"),
    )
    uses_scene = True
    handles_blend = True
    moves_pixels = True

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator,
             scene: Scene | None = None) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        unit = float(min(h, w))
        reach = max(3.0, 0.5 * spec.size * unit)
        cx, cy = spec.center[0] * (w - 1), spec.center[1] * (h - 1)
        fg = scene.foreground if scene is not None else None
        named = str(spec.params.get("part", "") or "")
        if named or (scene is not None and scene.part is not None):
            obj = select_part(image, spec.center, reach, scene, named)
        elif distinct_object(fg) and fg.shape == (h, w):
            obj = fg
        else:
            obj = np.ones((h, w), bool)
        t = math.radians(spec.angle)
        ux, uy = math.cos(t), -math.sin(t)  # along the fracture line
        nx, ny = -uy, ux  # across it
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        across = (xs - cx) * nx + (ys - cy) * ny
        jag = read_param(spec, "jaggedness", float(rng.uniform(0.3, 0.8)), 0.0, 1.0)
        wander = jag * 0.12 * reach * fractal_noise((h, w), max(2.0, 0.15 * reach), rng, octaves=3)
        dist = np.hypot(xs - cx, ys - cy)
        piece = obj & (across + wander > 0) & (dist < reach)
        if piece.sum() < 9:
            piece = obj & (dist < 0.5 * reach)
        gap = read_param(spec, "gap", (0.03 + 0.12 * spec.intensity) * spec.size, 0.005, 0.2) * unit
        turn = float(rng.uniform(-6.0, 6.0)) * spec.intensity
        matrix = rotation_about(np.array([cx, cy]), turn, (gap * nx, gap * ny))
        moved, cov = affine_layer(image, piece, matrix)
        if distinct_object(fg) or named or (scene is not None and scene.part is not None):
            edited, _, _ = relocate(image, piece, moved, cov, scene, rng, spec.blend)
            return union_alpha(image, edited, piece & ~(cov > 0.5), cov > 0.5, rng)
        # No object known: the gap is a shadowed recess in the material itself.
        edited, _, _ = relocate(image, piece, moved, cov, Scene(), rng, spec.blend)
        opened = piece & ~(cov > 0.5)
        if opened.any():
            box_y, box_x = np.nonzero(grow(opened, 2))
            y0, y1, x0, x1 = box_y.min(), box_y.max() + 1, box_x.min(), box_x.max() + 1
            box = Box(int(y0), int(y1), int(x0), int(x1))
            img = as_float(edited[y0:y1, x0:x1])
            dark = recolor(img, local_mean(img, 3.0), "darker", 0.5 + 0.4 * spec.intensity, rng)
            edited, _ = finish(edited, box, dark, opened[y0:y1, x0:x1].astype(np.float32), edge=spec.blend != "hard")
        return union_alpha(image, edited, opened, cov > 0.5, rng)
