"""Reverse synthesis, step 1: exemplar reconstruction and the choice between methods."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from anomalyagent.reconstruct import default_dilation, dilate_mask, reconstruct_normal
from anomalyagent.reverse.choose import METHODS, candidates, consistency, critic_flags
from anomalyagent.reverse.exemplar import context_window, exemplar_reconstruct, membrane_blend
from anomalyagent.synthetic import object_image, texture_image


def _blob(shape: tuple[int, int], center: tuple[int, int], radius: int) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.circle(mask, center, radius, 1, -1)
    return mask.astype(bool)


def _texture_scene(seed: int = 0):
    """A grainy texture (larger than the crops), a clean crop of it and the same crop with a dark blob."""
    rng = np.random.default_rng(seed)
    big = texture_image(rng, 160)
    clean = big[20:116, 30:126].copy()
    mask = _blob(clean.shape, (50, 44), 7)
    anomaly = clean.copy()
    anomaly[mask] = (anomaly[mask] * 0.3).astype(np.uint8)
    return big, clean, anomaly, mask


def test_exemplar_recovers_the_hidden_pixels_from_a_shifted_normal():
    big, clean, anomaly, mask = _texture_scene()
    region = dilate_mask(mask, default_dilation(anomaly.shape))
    other = texture_image(np.random.default_rng(5), 160)
    ex = exemplar_reconstruct(anomaly, region, [other, big], kind="texture")
    assert ex is not None and ex.source == 1 and ex.ncc > 0.95
    err = np.abs(ex.image.astype(int) - clean.astype(int))[region]
    telea = np.abs(reconstruct_normal(anomaly, mask, "telea").astype(int) - clean.astype(int))[region]
    assert err.mean() < 0.5 * telea.mean(), (err.mean(), telea.mean())
    y0, y1, x0, x1 = context_window(region)
    outside = np.ones(region.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(ex.image[outside], anomaly[outside])  # only the window is touched
    assert np.array_equal(ex.image[~region], anomaly[~region])  # and inside it only the region


def test_exemplar_finds_a_rotated_object():
    rng = np.random.default_rng(3)
    normal = object_image(rng, 96)
    anomaly = normal.copy()
    mask = _blob(normal.shape[:2], (40, 48), 6)
    anomaly[mask] = (20, 20, 20)
    region = dilate_mask(mask, default_dilation(anomaly.shape))
    rotated = np.ascontiguousarray(np.rot90(normal, 1))  # the exemplar lies turned 90 degrees ccw
    ex = exemplar_reconstruct(anomaly, region, [rotated], kind="object")
    assert ex is not None and ex.rotation == 270.0 and ex.ncc > 0.99  # turned back by 270 ccw
    assert np.abs(ex.image.astype(int) - normal.astype(int))[region].mean() < 12


def test_exemplar_returns_none_when_no_normal_can_hold_the_window():
    _, _, anomaly, mask = _texture_scene()
    region = dilate_mask(mask, 2)
    assert exemplar_reconstruct(anomaly, region, [anomaly[:20, :20].copy()], kind="texture") is None
    assert exemplar_reconstruct(anomaly, region, [], kind="texture") is None


def test_membrane_blend_is_continuous_with_the_base():
    base = np.full((40, 40), 100, np.uint8)
    patch = np.full((40, 40), 160, np.uint8)
    region = _blob((40, 40), (20, 20), 8)
    out = membrane_blend(base, patch, region)
    assert np.array_equal(out[~region], base[~region])
    assert abs(int(out[20, 20]) - 100) <= 2  # a constant offset is removed entirely


def test_consistency_prefers_grain_over_a_smooth_fill_and_the_critic_flags_the_smooth_one():
    big, clean, anomaly, mask = _texture_scene()
    region = dilate_mask(mask, default_dilation(anomaly.shape))
    smooth = clean.copy()
    smooth[region] = int(np.median(clean[region]))
    good, measures = consistency(clean, region)
    bad, _ = consistency(smooth, region)
    assert good > 0.7 and bad < 0.5 * good, (good, bad)
    assert 0.5 < measures["grain_ratio"] < 2.0
    assert critic_flags(anomaly, smooth, region, "texture")[0]
    assert not critic_flags(anomaly, clean, region, "texture")[0]


def test_candidates_are_sorted_by_consistency_and_validate_their_methods():
    big, clean, anomaly, mask = _texture_scene()
    cands, region = candidates(anomaly, mask, [big], "texture")
    assert [c.method for c in cands] and set(c.method for c in cands) == set(METHODS)
    scores = [c.consistency for c in cands]
    assert scores == sorted(scores, reverse=True)
    assert cands[0].method == "exemplar"
    for c in cands:
        assert c.image.shape == anomaly.shape and np.array_equal(c.image[~region], anomaly[~region])
    with pytest.raises(ValueError, match="unknown reconstruction method"):
        candidates(anomaly, mask, [big], "texture", ("telea", "magic"))
