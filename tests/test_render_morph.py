"""render/morph.py: a disc as a union of rectangles gives OpenCV's ellipse-kernel values."""
from __future__ import annotations

import cv2
import numpy as np

from anomalyagent.render.morph import close_disc, dilate_disc, disc_rectangles, erode_disc
from anomalyagent.synthetic import component_scene, object_rgb, texture_gray


def test_every_odd_disc_is_a_union_of_rectangles():
    for ksize in range(3, 80, 2):
        assert disc_rectangles(ksize), ksize


def test_disc_morphology_equals_the_ellipse_kernel():
    rng = np.random.default_rng(0)
    images = [component_scene(256, 1)[0], object_rgb(203, 2), texture_gray(157, 3),
              rng.integers(0, 256, (37, 91, 3), dtype=np.uint8), (rng.random((60, 45)) < 0.3).astype(np.uint8),
              rng.normal(0, 1, (50, 70, 3)).astype(np.float32)]
    for image in images:
        for ksize in (3, 5, 9, 15, 21, 41):
            k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (ksize, ksize))
            assert np.array_equal(dilate_disc(image, ksize), cv2.dilate(image, k))
            assert np.array_equal(erode_disc(image, ksize), cv2.erode(image, k))
            got, want = close_disc(image, ksize), cv2.morphologyEx(image, cv2.MORPH_CLOSE, k)
            assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)
