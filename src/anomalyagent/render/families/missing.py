"""Missing part / chip / break: material broken away.

Look: a jagged region where the material is gone. At an object's edge what shows
through is the background (its colour and grain are re-synthesised from the image's
border band, where the background is); inside a surface (a tile, or a chip that does
not go through) what shows is the fracture surface: darker or lighter rough material
with its own coarse grain. Along the break line a narrow fracture face catches the
light on one side, so the edge reads as a step, not a paint stroke.
"""
from __future__ import annotations

import numpy as np

from ...foreground import foreground
from ...records import DefectSpec
from ..base import RENDERERS
from ..blend import composite, finish, recolor
from ..controls import apply_blend, finalize
from ..family import (Family, angle_param, aspect_param, blend_param, center_param, color_param, edge_width,
                      extra_param, intensity_param, read_param, size_param)
from ..noise import fractal_noise, polar_profile
from ..shading import as_float, grain, light_direction, local_mean, shade
from ..background import background_plate
from ..scene import Scene, distinct_object, select_part
from ..shapes import blob_distance, feather, frame
from ..structure import grow, object_center, part_axis, union_alpha


def background_colour(image: np.ndarray) -> tuple[np.ndarray, float]:
    """Median colour (c,) float32 and grain std (grey levels) of the image's border band."""
    f = as_float(image)
    h, w = f.shape[:2]
    b = max(2, min(h, w) // 16)
    band = np.concatenate([f[:b].reshape(-1, f.shape[2]), f[-b:].reshape(-1, f.shape[2]),
                           f[:, :b].reshape(-1, f.shape[2]), f[:, -b:].reshape(-1, f.shape[2])])
    med = np.median(band, axis=0).astype(np.float32)
    spread = float(np.median(np.abs(band - med))) * 1.4826
    return med, max(1.0, min(spread, 12.0))


@RENDERERS.register("missing")
class Missing(Family):
    name = "missing"
    description = "jagged broken-away region revealing background (at an edge) or fracture surface, lit fracture face"
    parameters = (
        center_param(),
        size_param(0.2, 0.03, 0.7, "longest extent of the missing region"),
        aspect_param(1.5, 1.0, 5.0, "long / short extent"),
        angle_param(),
        intensity_param(0.7, "contrast of the revealed fracture surface (interior breaks)"),
        color_param("darker", "fracture surface darker or lighter than the skin (interior breaks)"),
        blend_param(),
        extra_param("fill", "choice", "background", help="what shows through: background (where the region leaves the "
                    "object and the background differs from the surface, else the fracture surface in the part's own "
                    "colours), interior (lighter/mixed: a shell window, pale wall around a dark cavity), or shadow"),
        extra_param("edge_roughness", "float", 0.35, 0.0, 0.8, "jaggedness of the break line"),
        extra_param("wall", "float", None, 0.02, 0.6, "interior breaks with lighter/mixed colour: width of the pale "
                    "cut-through wall around the dark cavity, relative to the short radius (0.4 lighter, 0.12 mixed)"),
        extra_param("extent", "choice", "blob", help="blob (a jagged piece of the spec's size), part (the whole part "
                    "near the centre is gone) or tip (the part is cut across and its far end is gone)"),
        extra_param("cut", "float", None, 0.2, 0.8, "extent=tip: where along the part it is cut, from its anchored end"),
        extra_param("part", "choice", "", help="name of a product-model part (e.g. lead, case)"),
    )
    uses_scene = True
    handles_blend = True  # part/tip: composite(); blob: the generic controls, applied here

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator,
             scene: Scene | None = None) -> tuple[np.ndarray, np.ndarray]:
        extent = str(spec.params.get("extent", "blob"))
        if extent in ("part", "tip"):
            return self.draw_part(image, spec, rng, scene, extent)
        if spec.blend == "feather":
            return self.draw_blob(image, spec, rng, scene)
        edited, alpha = self.draw_blob(image, spec, rng, scene)
        return finalize(image, apply_blend(image, edited, alpha, spec.blend))

    def draw_blob(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator,
                  scene: Scene | None = None) -> tuple[np.ndarray, np.ndarray]:
        f = frame(image.shape, spec, min_width_px=2.0)
        rx, ry = max(1.5, 0.5 * f.length), max(1.5, 0.5 * f.width)
        rough = read_param(spec, "edge_roughness", rng.uniform(0.25, 0.45), 0.0, 0.8)
        box = f.box(margin=0.45 * rx + 3.0)
        sd = blob_distance(box, f.cx, f.cy, rx, ry, f.theta, polar_profile(9, rough, rng))
        sd = sd + 0.12 * ry * fractal_noise(sd.shape, max(1.5, 0.2 * ry), rng, octaves=3)
        cov = feather(sd, edge_width(spec, 0.1 * ry, f.unit))
        ys, xs = box.slices
        img = as_float(image[ys, xs])
        fg_full = scene.foreground if scene is not None and scene.foreground is not None \
            and scene.foreground.shape == image.shape[:2] else foreground(image)
        fg = fg_full[ys, xs]
        requested = reveal = str(spec.params.get("fill", "background"))
        bg, _ = background_colour(image)
        if reveal not in ("interior", "shadow"):
            inside = cov > 0.5
            leaves = inside.any() and (~fg[inside]).mean() > 0.05
            # A background that looks like the surface (a texture crop) would hide the break.
            surface = np.median(img[inside & fg], axis=0) if (inside & fg).any() else bg
            distinct = float(np.abs(surface - bg).max()) > 25.0
            reveal = "background" if leaves and distinct else "interior"
        light = light_direction(image)
        face_w = max(0.8, 0.07 * ry)
        if reveal == "background":
            # What shows through is the real background: a normal image's, this image's
            # own (copied in phase), or inpainted (render/background.py).
            gone = np.zeros(image.shape[:2], bool)
            gone[ys, xs] = (cov > 0.02) & fg
            plate, _ = background_plate(image, grow(gone, 1), scene, rng, avoid=fg_full | gone)
            hole = as_float(plate[ys, xs])
            cov = cov * fg.astype(np.float32)
            # Fracture face: a thin band of exposed material just outside the removed part.
            face = np.exp(-((sd + face_w) / face_w) ** 2) * fg
            rel = shade(-cov * face_w * 3.0, light)
            kept = img * (1.0 + np.clip(rel, -0.5, 0.5) * face)[:, :, None]
            target = kept + cov[:, :, None] * (hole - kept)
            return finish(image, box, target, edge=spec.blend != "hard")
        local = local_mean(img, max(2.0, 0.3 * ry))
        # The shell window (pale wall around a dark cavity) is a hollow part broken open
        # (a nut's shell): only when the interior was asked for. A background that cannot
        # be shown (no object known here) becomes a fracture surface in the part's own
        # colours, never a black hole with a pale halo.
        if spec.color in ("lighter", "mixed") and requested in ("interior", "shell"):
            return finish(image, box, self.shell_window(img, local, sd, cov, ry, spec, rng, light),
                          edge=spec.blend != "hard")
        relation = "lighter" if spec.color == "lighter" and reveal != "shadow" else "darker"
        # A shadowed recess is darker than a lit fracture face at the same intensity.
        strength = (0.15 + 0.6 * spec.intensity) if reveal == "shadow" else (0.1 + 0.5 * spec.intensity)
        surface = recolor(img, local, relation, strength, rng)
        rough_tex = 1.0 + 0.12 * fractal_noise(cov.shape, max(1.5, 0.15 * ry), rng, octaves=3)
        fresh = surface * rough_tex[:, :, None] + 0.5 * grain(img, 1.5)
        # The floor sits lower than the skin: shade the step around the break.
        step = -np.clip(cov, 0.0, 1.0) * max(1.0, 0.25 * ry) * (0.5 + spec.intensity)
        rel = np.clip(shade(step, light), -0.5, 0.6)
        target = (img + cov[:, :, None] * (fresh - img)) * (1.0 + rel)[:, :, None]
        return finish(image, box, target, edge=spec.blend != "hard")

    def draw_part(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator, scene: Scene | None,
                  extent: str) -> tuple[np.ndarray, np.ndarray]:
        """A whole part gone, or its far end cut off, showing the background behind it;
        the cut face of what is left is a thin band lit in the part's own colour."""
        h, w = image.shape[:2]
        unit = float(min(h, w))
        part = select_part(image, spec.center, max(3.0, 0.5 * spec.size * unit), scene, str(spec.params.get("part", "") or ""))
        gone = part
        face = np.zeros_like(part)
        if extent == "tip":
            c, axis, half_len, half_wid = part_axis(part)
            if float(np.dot(object_center(image.shape, scene) - c, axis)) > 0:
                axis = -axis
            anchor = c - axis * half_len
            at = read_param(spec, "cut", float(rng.uniform(0.3, 0.7)), 0.2, 0.8) * 2.0 * half_len
            pys, pxs = np.nonzero(part)
            s_ax = (pxs - anchor[0]) * axis[0] + (pys - anchor[1]) * axis[1]
            across = (pxs - anchor[0]) * -axis[1] + (pys - anchor[1]) * axis[0]
            # A jagged, slightly slanted cut line.
            slant = float(rng.uniform(-0.5, 0.5))
            jag = 0.6 * half_wid * np.sin(across * float(rng.uniform(0.8, 2.0)) + float(rng.uniform(0, 6.3)))
            line = at + slant * across + jag
            gone = np.zeros_like(part)
            gone[pys[s_ax > line], pxs[s_ax > line]] = True
            band = (s_ax <= line) & (s_ax > line - max(1.0, 0.012 * unit))
            face[pys[band], pxs[band]] = True
        fg = scene.foreground if scene is not None else None
        avoid = grow(part, 1) | (fg if distinct_object(fg) and fg.shape == part.shape else np.zeros_like(part))
        hole = grow(gone, max(1, int(round(0.006 * unit))))
        plate, _ = background_plate(image, hole, scene, rng, avoid=avoid)
        if face.any():  # fresh cut face: the part's own colour, lighter (bare material catches the light)
            fy, fx = np.flatnonzero(face.any(axis=1)), np.flatnonzero(face.any(axis=0))
            y0, y1, x0, x1 = max(0, fy[0] - 6), min(h, fy[-1] + 7), max(0, fx[0] - 6), min(w, fx[-1] + 7)
            img = as_float(image[y0:y1, x0:x1])
            lit = recolor(img, local_mean(img, 2.0), "lighter", 0.25 + 0.3 * spec.intensity, rng)
            plate = plate.copy()
            f_crop = face[y0:y1, x0:x1]
            fl = np.clip(np.round(lit[f_crop]), 0, 255).astype(np.uint8)
            plate[y0:y1, x0:x1][f_crop] = fl[:, 0] if image.ndim == 2 else fl
            hole = hole | face
        edited, _ = composite(image, plate, hole.astype(np.float32), spec.blend, rng)
        # The ground truth covers the whole removed piece, also where the background
        # behind happens to look like it (a dark hole of the board under a dark case).
        return union_alpha(image, edited, gone, np.zeros_like(gone), rng)

    @staticmethod
    def shell_window(img, local, sd, cov, ry, spec, rng, light) -> np.ndarray:
        """(h, w, c) target of a fragment broken out of a shell or coating: the pale
        cut-through wall along the break (about a fifth of the radius, splintered) around a
        dark cavity where the inside shows."""
        # "lighter": mostly cut-through wall (the break reads pale); "mixed": a narrow pale
        # wall around a dark cavity.
        wall_w = max(1.0, read_param(spec, "wall", 0.4 if spec.color == "lighter" else 0.12, 0.02, 0.6) * ry)
        ragged = wall_w * (1.0 + 0.35 * fractal_noise(sd.shape, max(1.5, 0.3 * ry), rng, octaves=2))
        cavity = feather(sd - ragged, max(0.7, 0.2 * wall_w)) * cov
        wall = np.clip(cov - cavity, 0.0, 1.0)
        pale = recolor(img, local, "lighter", 0.25 + 0.35 * spec.intensity, rng)
        dark = recolor(img, local, "darker", 0.3 + 0.5 * spec.intensity, rng)
        dark = dark * (1.0 + 0.15 * fractal_noise(sd.shape, max(1.5, 0.2 * ry), rng, octaves=3))[:, :, None]
        body = img + wall[:, :, None] * (pale - img) + cavity[:, :, None] * (dark - img)
        # The cavity floor lies below the wall top: its edge on the light side is shadowed.
        rel = np.clip(shade(-cavity * max(1.0, 0.5 * wall_w), light), -0.4, 0.3)
        return body * (1.0 + rel * cavity)[:, :, None]
