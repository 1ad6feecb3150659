"""render/background.py: the lighting match on a crop gives the full-frame bytes."""
from __future__ import annotations

import cv2
import numpy as np

from anomalyagent.render.background import _match_lighting, _shifted
from anomalyagent.render.shading import as_float
from anomalyagent.synthetic import component_scene, object_rgb, texture_gray


def full_frame_match_lighting(image, plate, hole, avoid):
    """The reference: the same normalised convolution on the whole frame, float closing."""
    h, w = hole.shape
    sigma = max(3.0, 0.06 * min(h, w))
    f, p = as_float(image), as_float(plate)
    keep = (~(avoid | hole)).astype(np.float32)
    inside = hole.astype(np.float32)
    if keep.sum() < 16:
        return plate

    def smooth(a, wgt):
        num = cv2.GaussianBlur(a * wgt[:, :, None], (0, 0), sigma).reshape(a.shape)
        return num / np.maximum(cv2.GaussianBlur(wgt, (0, 0), sigma)[:, :, None], 1e-3)

    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (max(3, int(0.08 * min(h, w)) | 1),) * 2)
    fe = cv2.morphologyEx(f, cv2.MORPH_CLOSE, k).reshape(f.shape)
    pe = cv2.morphologyEx(p, cv2.MORPH_CLOSE, k).reshape(p.shape)
    gain = np.clip((smooth(fe, keep) + 4.0) / (smooth(pe, inside) + 4.0), 0.75, 1.33)
    out = p.copy()
    out[hole] = p[hole] * gain[hole]
    out = np.clip(np.round(out), 0, 255).astype(np.uint8)
    return out[:, :, 0] if plate.ndim == 2 else out


def test_match_lighting_equals_the_full_frame_computation():
    """Holes anywhere, often at the right edge of frames whose width is no multiple of 8
    (where OpenCV's vector loops end in a scalar tail)."""
    rng = np.random.default_rng(3)
    images = [component_scene(256, 0)[0], object_rgb(203, 1), texture_gray(157, 2), component_scene(101, 1)[0],
              cv2.resize(object_rgb(200, 4), (237, 190))]
    for i in range(80):
        image = images[i % len(images)]
        h, w = image.shape[:2]
        hole = np.zeros((h, w), np.uint8)
        cx = int(rng.integers(w - w // 4, w)) if i % 2 else int(rng.integers(0, w))
        cv2.ellipse(hole, (cx, int(rng.integers(0, h))), (int(rng.integers(2, w // 3)), int(rng.integers(2, h // 3))),
                    float(rng.uniform(0, 180)), 0, 360, 1, -1)
        avoid = np.zeros((h, w), np.uint8)
        cv2.circle(avoid, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(1, min(h, w) // 3)), 1, -1)
        hole, avoid = hole > 0, avoid > 0
        if not hole.any():
            continue
        plate = np.clip(np.roll(image, (7, -11), (0, 1)).astype(int) + int(rng.integers(-30, 30)), 0, 255).astype(np.uint8)
        got = _match_lighting(image, plate, hole, avoid)
        want = full_frame_match_lighting(image, plate, hole, avoid)
        assert got.dtype == want.dtype and np.array_equal(got, want), i


def test_shifted_copies_what_the_integer_warp_gives():
    rng = np.random.default_rng(4)
    for i in range(200):
        h, w = (int(v) for v in rng.integers(2, 120, 2))
        image = rng.integers(0, 256, (h, w, 3) if i % 2 else (h, w), dtype=np.uint8)
        dx, dy = int(rng.integers(-2 * w, 2 * w)), int(rng.integers(-h + 1, h))  # beyond the frame too
        want = cv2.warpAffine(image, np.float32([[1, 0, -dx], [0, 1, -dy]]), (w, h), borderMode=cv2.BORDER_REFLECT)
        got = _shifted(image, dx, dy)
        assert got.flags.c_contiguous and np.array_equal(got, want), (i, dx, dy)
