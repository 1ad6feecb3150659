"""Crack: a brittle fracture line, jagged, branching, widest where it started.

Look: a main fracture that runs through the centre in both directions, turning in
short straight runs (fracture follows grain and stress, not a smooth curve), with a
few side branches that leave at 20-60 degrees and die out. Width tapers from the
origin to sub-pixel tips; edges are anti-aliased by supersampling. The opening is deep
and narrow, so its core is much darker than the surface (little light reaches the
bottom) and the grain inside is dimmed, not removed; the lip facing the light catches
a faint highlight through the height-field shading.
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
from ..noise import value_noise
from ..shapes import box_around, frame, stroke_coverage, taper, wander_path


def crack_strokes(cx: float, cy: float, angle: float, length: float, width: float, branches: int,
                  rng: np.random.Generator, wiggle: float = 0.45,
                  view: tuple[float, float, float] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Polylines (points, widths) of a branching crack of total ``length`` px through
    (cx, cy) along ``angle`` (rad), ``width`` px at the origin.

    ``view`` = (width px, height px, scale px) for a crack that runs through the whole
    view: ``length`` then spans far beyond the image, while the path's step and the
    branches' lengths follow ``scale`` (the planned length) and branches leave from
    points inside the image.
    """
    scale = view[2] if view else length
    step = max(1.0, scale / 28.0)
    strokes = []
    halves = []
    split = rng.uniform(0.35, 0.65)
    for direction, part in ((angle, split), (angle + math.pi, 1.0 - split)):
        pts = wander_path((cx, cy), direction, part * length, rng, step=step, wiggle=wiggle, persistence=0.25, pull=0.5)
        widths = taper(len(pts), width, 0.12 * width + 0.1, power=0.8)
        strokes.append((pts, widths))
        halves.append((pts, widths, direction))
    for _ in range(branches):
        pts, widths, direction = halves[int(rng.integers(0, 2))]
        if len(pts) < 4:
            continue
        if view:
            seen = np.flatnonzero((pts[:, 0] >= 0) & (pts[:, 0] < view[0]) & (pts[:, 1] >= 0) & (pts[:, 1] < view[1]))
            seen = seen[(seen >= 1) & (seen < len(pts) - 2)]
            i = int(seen[int(rng.integers(len(seen)))]) if len(seen) else 1
        else:
            i = int(rng.integers(1, max(2, len(pts) - 2)))
        turn = rng.uniform(0.35, 1.0) * rng.choice([-1.0, 1.0])
        blen = rng.uniform(0.15, 0.4) * scale
        bpts = wander_path(tuple(pts[i]), direction + turn, blen, rng, step=step, wiggle=wiggle, persistence=0.25)
        bw = taper(len(bpts), 0.7 * float(widths[i]), 0.1, power=0.7)
        strokes.append((bpts, bw))
    return strokes


@RENDERERS.register("crack")
class Crack(Family):
    name = "crack"
    description = "branching jagged fracture, width tapering from the origin, dark core, sub-pixel edges"
    parameters = (
        center_param(),
        size_param(0.35, 0.05, 0.95, "length of the main fracture"),
        aspect_param(25.0, 6.0, 60.0, "length / width at the origin (width >= 0.8 px)"),
        angle_param(),
        intensity_param(0.7, "darkness of the opening"),
        color_param("darker", "darker: a dark opening; lighter/mixed: pale broken faces either side of a dark gap "
                    "(cracks >= 3 px wide; a thin lighter crack is a dust-filled line)"),
        blend_param(),
        extra_param("width", "float", None, 0.001, 0.06, "opening width at the origin, fraction of min(H, W) (overrides aspect)"),
        extra_param("branches", "int", 2, 0, 5, "side branches (random 0-3 when absent)"),
        extra_param("jaggedness", "float", None, 0.0, 1.0, "0 smooth path, 1 zig-zag (unset: drawn from [0.3, 0.7])"),
        extra_param("through", "float", 0.0, 0.0, 1.0, "chance that the crack runs through the whole view (a tile cut "
                    "from a larger cracked surface): it enters and leaves at the image border, no tips inside"),
    )

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        f = frame(image.shape, spec, min_width_px=0.8)
        width = line_width(spec, f.width, f.unit, 0.06)
        branches = int(round(read_param(spec, "branches", int(rng.integers(0, 4)), 0, 5)))
        jag = read_param(spec, "jaggedness", float(rng.uniform(0.3, 0.7)), 0.0, 1.0)  # unpinned: spread
        chance = read_param(spec, "through", 0.0, 0.0, 1.0)
        through = chance > 0.0 and rng.random() < chance  # no draw when unset: same bytes as before
        length, view = f.length, None
        if through:  # long enough to leave the image at both ends wherever the centre is
            length, view = 2.0 * math.hypot(f.h, f.w), (float(f.w), float(f.h), f.length)
        strokes = crack_strokes(f.cx, f.cy, f.theta, length, width, branches, rng, wiggle=0.1 + 0.5 * jag, view=view)
        allp = np.concatenate([p for p, _ in strokes])
        box = box_around(image.shape, allp[:, 0].min(), allp[:, 1].min(), allp[:, 0].max(), allp[:, 1].max(),
                         pad=3.0 * width + 4.0)
        cov = stroke_coverage(box, strokes, supersample=4)
        ys, xs = box.slices
        img = as_float(image[ys, xs])
        local = local_mean(img, max(2.0, 4.0 * width))
        s = 0.45 + 0.5 * float(spec.intensity)
        if spec.color in ("lighter", "mixed") and width >= 3.0:
            # A wide fracture through a coated or layered material: the broken faces along
            # both sides show the pale inner layer, the gap between them is dark.
            gap = stroke_coverage(box, [(p, w * 0.35) for p, w in strokes], supersample=4)
            # Splintered faces: their paleness varies along the crack.
            patchy = np.clip(0.8 + 0.4 * value_noise(cov.shape, max(2.0, 2.0 * width), rng), 0.4, 1.2)
            faces = np.clip(cov - gap, 0.0, 1.0) * patchy
            pale = recolor(img, local, "lighter", 0.55 * s, rng)
            dark = recolor(img, local, "darker", s, rng)
            body = img + faces[:, :, None] * (pale - img) + gap[:, :, None] * (dark - img)
        else:
            color = "lighter" if spec.color == "lighter" else "darker"
            core = recolor(img, local, color, s, rng)
            body = img + cov[:, :, None] * (core - img)
        # The lip facing the light catches a little light; the walls stay narrow (a slope
        # capped at ~1) so wide cracks do not grow a shading halo.
        height = -blur(cov, max(0.5, 0.3 * width)) * min(1.0 + width, 2.0)
        rel = shade(height, light_direction(image))
        rel = np.sign(rel) * np.maximum(np.abs(rel) - 0.03, 0.0)  # no faint shading tails
        target = body * (1.0 + np.clip(rel, -0.4, 0.25))[:, :, None]
        return finish(image, box, target, edge=spec.blend != "hard")
