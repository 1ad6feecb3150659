"""Synthetic scenes for the critic's tests: a normal image, a plausible defect, its mask.

The "good" defect is what a camera would record: a darker spot whose border is spread
over a couple of pixels by the optics, with the surface grain kept inside. Every
corruption in anomalyagent.critic.corrupt should score below it. Built from a seeded
generator; no real image is used.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import object_image, texture_image


def good_defect(normal: np.ndarray, center: tuple[float, float] = (0.5, 0.5), radius: float = 0.08,
                depth: float = 45.0, aspect: float = 1.6) -> tuple[np.ndarray, np.ndarray]:
    """(edited, mask): an elliptic spot ``depth`` grey levels darker, soft-edged (sigma 1 px),
    grain untouched. ``center`` (x, y) and ``radius`` are fractions of the image side."""
    h, w = normal.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = radius * min(h, w)
    inside = ((xx - center[0] * w) / (r * aspect)) ** 2 + ((yy - center[1] * h) / r) ** 2 <= 1.0
    alpha = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 1.0)
    a = alpha[..., None] if normal.ndim == 3 else alpha
    edited = np.clip(np.round(normal.astype(np.float32) - depth * a), 0, 255).astype(np.uint8)
    return edited, alpha > 0.5


def texture_scene(seed: int = 0, size: int = 128, gray: bool = True):
    """(normal, edited, mask) on a fine-grained surface filling the frame."""
    normal = texture_image(np.random.default_rng(seed), size, gray=gray)
    edited, mask = good_defect(normal)
    return normal, edited, mask


def object_scene(seed: int = 0, size: int = 128):
    """(normal, edited, mask) with the defect on a nut-like object on a dark background."""
    normal = object_image(np.random.default_rng(seed), size)
    edited, mask = good_defect(normal, center=(0.5, 0.5), radius=0.07, depth=40.0)
    return normal, edited, mask


@pytest.mark.parametrize("scene", [texture_scene, object_scene])
def test_scene_defect_is_inside_its_mask_and_deterministic(scene):
    n1, e1, m1 = scene(3)
    n2, e2, m2 = scene(3)
    assert np.array_equal(e1, e2) and np.array_equal(m1, m2)
    changed = np.abs(e1.astype(int) - n1.astype(int)).reshape(m1.shape + (-1,)).max(axis=-1) > 20
    assert m1.any() and changed[m1].mean() > 0.9 and not changed[~m1].any()
