"""Cut / tear: a blade slit (clean, straight, pointed ends) or a tear (ragged edges).

Look: a narrow lens-shaped opening, widest in the middle and closing to points at both
ends, slightly bowed. Inside, either a dark gap (depth, little light) or exposed inner
material (``color`` lighter: the pale flesh under a shell or skin), keeping a dimmed
copy of the surface grain. The two lips are shaded as a V-groove under the image's
light: the lip facing the light is bright, the other shadowed. ``params.tear`` makes
the lips ragged.
"""
from __future__ import annotations

import numpy as np

from ...records import DefectSpec
from ..base import RENDERERS
from ..blend import finish, recolor
from ..family import (Family, angle_param, aspect_param, blend_param, center_param, color_param, edge_width,
                      extra_param, intensity_param, read_param, size_param)
from ..noise import value_noise
from ..shading import as_float, blur, light_direction, local_mean, shade
from ..shapes import feather, frame


@RENDERERS.register("cut")
class Cut(Family):
    name = "cut"
    description = "lens-shaped slit or ragged tear: dark gap or pale exposed material, lips shaded as a V-groove"
    parameters = (
        center_param(),
        size_param(0.25, 0.04, 0.8, "length of the slit"),
        aspect_param(8.0, 3.0, 40.0, "length / opening width"),
        angle_param(),
        intensity_param(0.7, "contrast of the opening"),
        color_param("darker", "dark gap (darker) or exposed pale material (lighter)"),
        blend_param(),
        extra_param("width", "float", None, 0.002, 0.1, "least width of the cut, fraction of min(H, W) (the width is "
                    "max(this, size / aspect))"),
        extra_param("gape", "float", None, 0.0, 1.0, "how far the lips open: the dark gap's share of the width (lighter cuts; unset: drawn from [0.15, 0.45])"),
        extra_param("tear", "float", 0.0, 0.0, 1.0, "raggedness of the lips (0 = clean blade cut)"),
    )

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        f = frame(image.shape, spec, min_width_px=1.2)
        half_len = 0.5 * f.length
        gape = read_param(spec, "gape", float(rng.uniform(0.15, 0.45)), 0.0, 1.0)  # unpinned: spread
        half_w = 0.5 * max(f.width, read_param(spec, "width", 0.0, 0.0, 0.1) * f.unit)
        half_w = max(0.6, half_w)
        tear = read_param(spec, "tear", rng.uniform(0.1, 0.3) + (0.25 if spec.color == "lighter" else 0.0), 0.0, 1.0)
        bow = rng.uniform(-0.08, 0.08) * f.length
        box = f.box(margin=abs(bow) + 3.0 * half_w + 4.0)
        u, v = f.local(box)
        t = np.clip(u / half_len, -1.0, 1.0)
        centre_line = bow * (1.0 - t * t)
        ragged = 1.0 + tear * 0.6 * value_noise(u.shape, max(1.5, 0.06 * f.length), rng)
        opening = half_w * np.sqrt(np.clip(1.0 - t * t, 0.0, 1.0)) ** 0.8 * ragged
        inside_len = half_len - np.abs(u)
        sd = np.minimum(opening - np.abs(v - centre_line), inside_len)
        # Blade-shaved (lighter) lips are bevelled; an open dark cut has crisp lips.
        fw = edge_width(spec, (0.45 if spec.color == "lighter" else 0.15) * half_w, f.unit)
        cov = feather(sd.astype(np.float32), fw)
        ys, xs = box.slices
        img = as_float(image[ys, xs])
        local = local_mean(img, max(2.0, 3.0 * half_w))
        s = 0.45 + 0.5 * spec.intensity
        if spec.color == "lighter":
            # Blade shaved the dark skin off: a pale track, open to a dark gap along its middle.
            # Only a cut whose lips really open (gape > 0.25) shows a dark gap line.
            gap_sd = np.minimum(0.6 * (gape - 0.25) * opening - np.abs(v - centre_line), inside_len)
            gap = feather(gap_sd.astype(np.float32), max(0.5, 0.3 * fw)) * (gape > 0.25)
            # Shaved inner material is only moderately paler than the skin (MVTec hazelnut
            # cuts: about +28 grey levels), far less than paint would be.
            pale = recolor(img, local, "lighter", 0.1 + 0.3 * spec.intensity, rng)
            dark = recolor(img, local, "darker", 0.7 * s, rng)
            body = img + np.clip(cov - gap, 0.0, 1.0)[:, :, None] * (pale - img) + gap[:, :, None] * (dark - img)
        else:
            dark = recolor(img, local, "darker", s, rng)
            body = img + cov[:, :, None] * (dark - img)
        # A dark cut is a deep V-groove; a shaved (lighter) track is shallow except its gap.
        deep = 1.0 if spec.color != "lighter" else 0.1 + 0.5 * gape
        # Walls within the opening: a narrow blur, depth capped so the slope stays ~1.5.
        groove = -blur(cov, max(0.5, 0.3 * half_w)) * min(1.0 + 2.0 * half_w, 4.0) * (0.5 + spec.intensity) * deep
        rel = shade(groove, light_direction(image))
        target = body * (1.0 + np.clip(rel, -0.5, 0.5))[:, :, None]
        return finish(image, box, target, edge=spec.blend != "hard")
