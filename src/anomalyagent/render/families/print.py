"""Print defect: extra marking strokes (misprint, smear, stray characters) or missing
marking (a printed mark partly absent).

Look (extra): a few stroked characters or fragments of them in an ink derived from
the surface (near-white on a dark part, near-black on a light one, as ``color``
says), rotated with the part, with imperfect ink transfer: the strokes thin out and
break up in places, the edges bleed slightly, and the surface grain shows through
thin ink. Look (missing): existing high-contrast marking inside the region is
inpainted away from the surrounding surface, leaving the ground colour and grain.
"""
from __future__ import annotations

import cv2
import numpy as np

from ...records import DefectSpec
from ..base import RENDERERS
from ..blend import finish, luma_shift
from ..family import (Family, angle_param, aspect_param, blend_param, center_param, color_param, extra_param,
                      intensity_param, size_param)
from ..noise import value_noise
from ..shading import as_float, blur, local_mean, luminance
from ..shapes import box_around, frame

GLYPHS = "ABCDEFGHKLMNOPRSTUVXYZ0123456789"


def glyph_coverage(box_shape: tuple[int, int], centre: tuple[float, float], length: float, height: float,
                   angle_deg: float, rng: np.random.Generator) -> np.ndarray:
    """(h, w) float32 anti-aliased coverage of 2-4 random characters, ``length`` px wide
    and ``height`` px tall, centred at ``centre`` (crop px), rotated by ``angle_deg``."""
    text = "".join(GLYPHS[int(i)] for i in rng.integers(0, len(GLYPHS), size=int(rng.integers(2, 5))))
    font = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX)[int(rng.integers(0, 2))]
    (tw, th), base = cv2.getTextSize(text, font, 1.0, 2)
    ss = 4
    scale = max(0.05, min(length / max(tw, 1), height / max(th, 1))) * ss
    thick = max(1, int(round(scale * rng.uniform(1.6, 2.6))))
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    canvas = np.zeros((th + base + 2 * thick + 4, tw + 2 * thick + 4), np.uint8)
    cv2.putText(canvas, text, (thick + 2, th + thick + 2), font, scale, 255, thick, cv2.LINE_AA)
    bh, bw = box_shape
    rot = cv2.getRotationMatrix2D((canvas.shape[1] / 2.0, canvas.shape[0] / 2.0), angle_deg, 1.0)
    rot[0, 2] += (centre[0] + 0.5) * ss - 0.5 - canvas.shape[1] / 2.0
    rot[1, 2] += (centre[1] + 0.5) * ss - 0.5 - canvas.shape[0] / 2.0
    big = cv2.warpAffine(canvas, rot, (bw * ss, bh * ss), flags=cv2.INTER_LINEAR, borderValue=0)
    return cv2.resize(big, (bw, bh), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def smear(cov: np.ndarray, length: float, angle_deg: float) -> np.ndarray:
    """Drag ink ``length`` px along ``angle_deg``: a one-sided line blur, densest at the
    original strokes, thinning out along the drag."""
    n = max(3, int(round(length)) | 1)
    kernel = np.zeros((n, n), np.float32)
    c = n // 2
    t = np.radians(angle_deg)
    for i in range(c + 1):  # one-sided: ink moves in one direction only
        x, y = int(round(c + i * np.cos(t))), int(round(c - i * np.sin(t)))
        kernel[y, x] = 1.0 - 0.7 * i / max(c, 1)
    kernel /= kernel.sum()
    dragged = cv2.filter2D(cov, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    return np.clip(np.maximum(0.6 * cov, 1.8 * dragged), 0.0, 1.0)


@RENDERERS.register("print")
class Print(Family):
    name = "print"
    description = "stray or smeared marking characters in surface-derived ink, imperfect transfer; or marking removed"
    parameters = (
        center_param(),
        size_param(0.25, 0.05, 0.8, "width of the printed fragment"),
        aspect_param(3.0, 1.0, 8.0, "width / height of the characters' line"),
        angle_param(),
        intensity_param(0.8, "ink opacity"),
        color_param("lighter", "ink lighter (white print on dark parts) or darker than the surface"),
        blend_param(),
        extra_param("mode", "choice", "extra",
                    help="extra (stray marking), smear (wet ink dragged sideways) or missing (marking removed)"),
    )

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        f = frame(image.shape, spec, min_width_px=2.0)
        r = 0.5 * f.length
        box = box_around(image.shape, f.cx - r, f.cy - r, f.cx + r, f.cy + r, pad=4.0)
        ys, xs = box.slices
        img = as_float(image[ys, xs])
        if spec.params.get("mode", "extra") == "missing":
            removed = self.remove_marking(image, box, f, img, edge=spec.blend != "hard")
            if removed is not None:
                return removed
        cov = glyph_coverage(box.shape, (f.cx - box.x0, f.cy - box.y0), f.length, max(2.0, f.width), spec.angle, rng)
        # Imperfect transfer: ink thins and breaks up along the strokes; a little bleed.
        transfer = np.clip(0.85 + 0.45 * value_noise(cov.shape, max(1.5, 0.05 * f.length), rng), 0.15, 1.0)
        cov = blur(cov, max(0.3, 0.01 * f.length)) * transfer
        if spec.params.get("mode") == "smear":
            cov = smear(cov, max(3.0, 0.15 * f.length), spec.angle + rng.uniform(-30.0, 30.0))
        local = local_mean(img, max(2.0, 0.1 * f.length))
        luma = luminance(local)
        relation = "darker" if spec.color == "darker" else "lighter"
        ink_l = np.clip(luma + luma_shift(relation, 0.9, luma), 0.0, 255.0)
        ink = np.repeat(ink_l[:, :, None], img.shape[2], axis=2)
        ink = ink + 0.3 * (img - local)  # the surface grain shows through the ink film
        opacity = 0.55 + 0.45 * spec.intensity
        return finish(image, box, ink, np.clip(cov * opacity, 0.0, 1.0), edge=spec.blend != "hard")

    @staticmethod
    def remove_marking(image: np.ndarray, box, f, img: np.ndarray, edge: bool = True):
        """Inpaint high-contrast marking inside the region; None when there is none.
        ``edge``: blend.finish's optical edge (off for a hard blend)."""
        luma = luminance(img)
        ground = cv2.medianBlur(np.clip(luma, 0, 255).astype(np.uint8), max(3, int(0.15 * f.length) | 1)).astype(np.float32)
        resid = luma - ground
        spread = float(np.median(np.abs(resid))) * 1.4826 + 1.0
        marks = (np.abs(resid) > max(20.0, 4.0 * spread)).astype(np.uint8)
        if marks.mean() < 0.02:
            return None
        marks = cv2.dilate(marks, np.ones((3, 3), np.uint8))
        crop = image[box.slices]
        filled = cv2.inpaint(crop, marks, 3, cv2.INPAINT_TELEA)
        weight = blur(marks.astype(np.float32), 0.7)
        return finish(image, box, as_float(filled), weight, edge=edge)
