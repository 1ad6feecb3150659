"""Every re-run baseline: right shape, grayscale stays grayscale, honest mask, same seed -> same bytes."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from anomalyagent.methods import METHODS, NormalPool
from anomalyagent.methods.baseline_ops import VISIBLE_DELTA, change_magnitude
from anomalyagent.methods.nsa import MASK_SMOOTH
from anomalyagent.methods.perlin import perlin_noise
from anomalyagent.records import Task

BASELINES = ["perlin", "cutpaste", "cutpaste_scar", "nsa"]


def _surface(rng: np.random.Generator, size: int, gray: bool) -> np.ndarray:
    noise = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 2.0)
    img = np.clip(120 + 40 * noise / noise.std(), 0, 255).astype(np.uint8)
    if gray:
        return img
    rgb = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB).astype(np.int16)
    rgb[..., 0] += 40
    return np.clip(rgb, 0, 255).astype(np.uint8)


@pytest.fixture
def pool(tmp_path: Path) -> NormalPool:
    rng = np.random.default_rng(5)
    paths = []
    for i, size in enumerate((72, 96, 80)):
        p = tmp_path / f"n{i}.png"
        cv2.imwrite(str(p), _surface(rng, size, gray=bool(i % 2)))
        paths.append(p)
    return NormalPool(paths)


def test_baselines_are_registered():
    assert set(BASELINES) <= set(METHODS.names())


@pytest.mark.parametrize("gray", [True, False])
@pytest.mark.parametrize("name", BASELINES)
def test_baseline_contract_and_honest_mask(name, gray, pool):
    image = _surface(np.random.default_rng(1), 96, gray)
    task = Task("self.png", "tile", "crack", seed=3)
    method = METHODS.create(name)
    for seed in range(3):
        result = method.synthesize(image, task, np.random.default_rng(seed), pool)
        assert result.image.shape == image.shape and result.image.dtype == np.uint8
        assert result.mask.shape == image.shape[:2] and result.mask.dtype == bool
        assert result.mask.any() and result.passed
        assert (change_magnitude(image, result.image)[~result.mask] == 0).all(), "pixels changed outside the mask"
        if name == "nsa":  # judged at the scale of a few pixels (nsa.MASK_SMOOTH), before the revert
            change = change_magnitude(image, result.image, MASK_SMOOTH)
            assert (change[result.mask] > VISIBLE_DELTA).mean() > 0.8, "mask pixels that did not visibly change"
            assert change_magnitude(image, result.image)[result.mask].mean() > VISIBLE_DELTA
        else:
            change = change_magnitude(image, result.image)
            assert (change[result.mask] > VISIBLE_DELTA).all(), "mask pixels that did not visibly change"


@pytest.mark.parametrize("name", BASELINES)
def test_same_seed_same_bytes(name, pool):
    image = _surface(np.random.default_rng(2), 80, gray=False)
    task = Task("self.png", "tile", "hole")
    a = METHODS.create(name).synthesize(image, task, np.random.default_rng(7), pool)
    b = METHODS.create(name).synthesize(image, task, np.random.default_rng(7), pool)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)


def test_perlin_noise_shape_and_range():
    noise = perlin_noise((64, 64), (4, 8), np.random.default_rng(0))
    assert noise.shape == (64, 64) and np.abs(noise).max() <= 1.5
    with pytest.raises(ValueError):
        perlin_noise((60, 64), (8, 8), np.random.default_rng(0))


def test_nsa_small_grey_tiles_never_crash_seamless_clone(pool):
    """Regression (issue 13 item 9): a 5 % side of a 100-px tile scaled by 0.75 gave a 4-px
    patch, and cv2.seamlessClone failed with "!fixedSize()" on it."""
    from anomalyagent.methods.nsa import MIN_SIDE, poisson_patch

    rng = np.random.default_rng(0)
    image, source = _surface(rng, 100, gray=True), _surface(rng, 100, gray=True)
    fg = np.ones((100, 100), bool)
    for seed in range(20):  # the smallest patch every time: 5 px -> 3.75 px before the fix
        out, region = poisson_patch(image, source, np.random.default_rng(seed), fg, fg, side=(0.05, 0.05),
                                    scale=(0.75, 0.75))
        assert out.shape == image.shape and out.dtype == np.uint8
        ys, xs = np.nonzero(region)
        assert xs.max() - xs.min() + 1 >= MIN_SIDE and ys.max() - ys.min() + 1 >= MIN_SIDE
    method = METHODS.create("nsa")
    for seed in range(30):
        res = method.synthesize(image, Task("x.png", "neu", "patches", seed), np.random.default_rng(seed), pool)
        assert res.image.shape == (100, 100)
