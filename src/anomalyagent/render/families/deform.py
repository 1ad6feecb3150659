"""Local deformation: the part bent, squeezed or bulged, geometry moved by a smooth warp.

Look: features of the real image (edges, stripes, print, grain) are displaced
smoothly: pulled towards the axis (squeeze), pushed sideways (bend) or outwards
(bulge), strongest in the middle and fading to zero at the margin so there is no seam.
The bent surface also tilts towards or away from the light, so the warped zone is
shaded gently from the implied height, which keeps a deformation of a plain surface
visible, as a real one is.
"""
from __future__ import annotations

import cv2
import numpy as np

from ...records import DefectSpec
from ..base import RENDERERS
from ..blend import finish
from ..family import Family, angle_param, aspect_param, center_param, extra_param, intensity_param, read_param, size_param
from ..shading import as_float, light_direction, shade
from ..shapes import frame

MODES = ("squeeze", "bend", "bulge")


@RENDERERS.register("deform")
class Deform(Family):
    name = "deform"
    description = "smooth warp (squeeze, bend or bulge) fading to zero at the margin, with shading of the tilted surface"
    parameters = (
        center_param(),
        size_param(0.25, 0.05, 0.8, "diameter of the deformed zone"),
        aspect_param(1.3, 1.0, 4.0, "long / short diameter"),
        angle_param(),
        intensity_param(0.6, "displacement: up to ~20 % of the zone's short radius"),
        extra_param("mode", "choice", "auto", help="squeeze, bend, bulge or auto (random)"),
        extra_param("displacement", "float", None, 0.0, 0.2,
                    "largest shift, fraction of min(H, W) (default from intensity; at most 35 % of the short radius)"),
    )

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        f = frame(image.shape, spec, min_width_px=3.0)
        mode = str(spec.params.get("mode", "auto"))
        if mode not in MODES:
            mode = MODES[int(rng.integers(0, len(MODES)))]
        rx, ry = max(2.0, 0.5 * f.length), max(2.0, 0.5 * f.width)
        box = f.box(margin=0.6 * rx + 2.0)  # g < 0.003 at the box edge
        u, v = f.local(box)
        # Real deformations are not centred on the plan to the pixel, nor exactly symmetric.
        u = u - rng.normal(0.0, 0.08) * rx
        v = v - rng.normal(0.0, 0.08) * ry
        g = np.exp(-((u / rx) ** 2 + (v / ry) ** 2) * 2.5).astype(np.float32)  # ~0 at the margin
        amp = (0.06 + 0.16 * spec.intensity) * ry
        if spec.params.get("displacement") is not None:
            amp = min(read_param(spec, "displacement", 0.0, 0.0, 0.2) * f.unit, 0.35 * ry)
        amp *= rng.uniform(0.85, 1.15)
        if mode == "squeeze":
            du, dv = np.zeros_like(u), -amp * (v / ry) * g * 2.0  # pulled towards the axis
            height = -amp * g
        elif mode == "bend":
            du, dv = np.zeros_like(u), amp * g * 1.5
            height = amp * g * (v / ry)
        else:  # bulge: magnified outwards
            du, dv = amp * (u / rx) * g * 1.5, amp * (v / ry) * g * 1.5
            height = amp * g
        ux, uy = f.axis
        nx, ny = f.normal
        dx = du * ux + dv * nx
        dy = du * uy + dv * ny
        xs, ys = box.grid()
        crop = image[box.slices]
        # Backward map: the pixel at p shows what was at p - displacement.
        warped = cv2.remap(crop, (xs - box.x0 - dx).astype(np.float32), (ys - box.y0 - dy).astype(np.float32),
                           cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        rel = shade(height * (1.0 + 1.5 * spec.intensity), light_direction(image))
        target = as_float(warped) * np.clip(1.0 + rel, 0.5, 1.6)[:, :, None]
        weight = np.clip(g * 4.0, 0.0, 1.0)  # exact input where the warp has faded out
        return finish(image, box, target, weight, edge=spec.blend != "hard")
