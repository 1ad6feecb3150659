"""reconstruct_normal: the defect is filled from its surroundings, nothing else changes."""
from __future__ import annotations

import numpy as np
import pytest

from anomalyagent.reconstruct import RECONSTRUCTORS, default_dilation, dilate_mask, reconstruct_normal
from test_critic_scenes import good_defect


def smooth_image(gray: bool) -> np.ndarray:
    """A smooth ramp with mild noise: the fill should match it closely."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:96]
    img = 80 + 0.8 * xx + 0.3 * yy + rng.normal(0, 1.0, (96, 96))
    img = np.clip(img, 0, 255).astype(np.uint8)
    return img if gray else np.stack([img, img // 2 + 40, 255 - img], axis=2)


@pytest.mark.parametrize("method", RECONSTRUCTORS.names())
@pytest.mark.parametrize("gray", [True, False])
def test_reconstruction_removes_the_defect_and_keeps_the_rest(method, gray):
    normal = smooth_image(gray)
    anomaly, mask = good_defect(normal, depth=60.0)
    out = reconstruct_normal(anomaly, mask, method)
    assert out.shape == anomaly.shape and out.dtype == np.uint8
    region = dilate_mask(mask, default_dilation(mask.shape))
    assert np.array_equal(out[~region], anomaly[~region])
    err_before = np.abs(anomaly.astype(int) - normal.astype(int))[mask].mean()
    err_after = np.abs(out.astype(int) - normal.astype(int))[mask].mean()
    assert err_before > 30 and err_after < 6


def test_registry_has_the_documented_methods():
    assert {"telea", "ns", "biharmonic"} <= set(RECONSTRUCTORS.names())
    with pytest.raises(KeyError, match="unknown reconstruction method"):
        reconstruct_normal(smooth_image(True), _dot(), "magic")


def _dot() -> np.ndarray:
    m = np.zeros((96, 96), bool)
    m[40:44, 40:44] = True
    return m


def test_empty_mask_returns_a_copy_and_bad_inputs_raise():
    img = smooth_image(True)
    out = reconstruct_normal(img, np.zeros((96, 96), bool))
    assert np.array_equal(out, img) and out is not img
    with pytest.raises(ValueError, match="does not match"):
        reconstruct_normal(img, np.zeros((90, 96), bool))
    with pytest.raises(ValueError, match="whole image"):
        reconstruct_normal(img, np.ones((96, 96), bool))
    with pytest.raises(ValueError, match="uint8"):
        reconstruct_normal(img.astype(np.float32), _dot())


def test_dilation_is_relative_to_the_image_and_can_be_set():
    assert default_dilation((256, 256)) == 5 and default_dilation((64, 64)) == 3
    img = smooth_image(True)
    out = reconstruct_normal(img, _dot(), dilate=0)
    assert np.array_equal(out[~_dot()], img[~_dot()])
