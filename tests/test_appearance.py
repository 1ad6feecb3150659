"""product/appearance.py: the normal-appearance model fitted on normal images."""
from __future__ import annotations

import time

import numpy as np
import pytest

from anomalyagent.product.appearance import NormalAppearance, fit_appearance, measure_stats, pixel_features
from anomalyagent.synthetic import object_image, texture_image
from test_critic_scenes import good_defect


@pytest.fixture(scope="module")
def texture_model():
    rng = np.random.default_rng(0)
    return fit_appearance([texture_image(rng, 96, gray=True) for _ in range(6)], np.random.default_rng(1))


def test_features_shape_and_channels():
    rng = np.random.default_rng(0)
    assert pixel_features(texture_image(rng, 32)).shape == (32, 32, 5)
    assert pixel_features(object_image(rng, 32)).shape == (32, 32, 7)
    with pytest.raises(ValueError, match="uint8"):
        pixel_features(np.zeros((8, 8), np.float32))


def test_normal_images_stay_near_one_and_a_defect_stands_out(texture_model):
    normal = texture_image(np.random.default_rng(42), 96)
    a = texture_model.abnormality(normal)
    assert a.shape == normal.shape and a.dtype == np.float32
    assert np.percentile(a, 99) < 1.6  # a new normal image: about the held-out 99th percentile
    edited, mask = good_defect(normal, depth=45.0)
    ab = texture_model.abnormality(edited)
    faded, _ = good_defect(normal, depth=6.0)
    af = texture_model.abnormality(faded)
    assert np.percentile(ab[mask], 90) > 2.0 * np.percentile(a[mask], 90)
    assert np.percentile(ab[mask], 90) > 1.5 * np.percentile(af[mask], 90)  # fading lowers abnormality


def test_colour_model_on_objects_sees_a_blue_patch():
    rng = np.random.default_rng(3)
    model = fit_appearance([object_image(rng, 96) for _ in range(6)], np.random.default_rng(0))
    img = object_image(rng, 96)
    a0 = model.abnormality(img)
    img2 = img.copy()
    img2[40:50, 40:50] = (40, 60, 200)  # a colour no normal nut has
    assert model.abnormality(img2)[42:48, 42:48].mean() > 3.0 * a0[42:48, 42:48].mean()
    # a grey image judged by a colour model is converted, not rejected
    assert model.abnormality(img[..., 0]).shape == (96, 96)


def test_stats_describe_grain_and_edges():
    rng = np.random.default_rng(0)
    smooth = measure_stats([np.full((64, 64), 120, np.uint8)] * 2)
    grainy = measure_stats([texture_image(rng, 64) for _ in range(2)])
    assert smooth.noise == 0.0 and grainy.noise > 1.0
    assert grainy.lightness[0] < grainy.lightness[1] < grainy.lightness[2]
    assert 0.0 < grainy.edge_sharpness[1] < 1.0


def test_save_load_round_trip_without_pickle(texture_model, tmp_path):
    path = texture_model.save(tmp_path / "model.npz")
    back = NormalAppearance.load(path)
    img = texture_image(np.random.default_rng(5), 64)
    assert np.allclose(back.abnormality(img), texture_model.abnormality(img))
    assert back.stats == texture_model.stats and back.channels == 1
    with np.load(path, allow_pickle=False) as data:  # plain arrays only
        assert set(data.files) == {"centre", "scale", "codebook", "quantiles", "meta"}


def test_load_rejects_a_broken_file(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="bad.npz"):
        NormalAppearance.load(bad)
    np.savez(tmp_path / "wrong.npz", centre=np.zeros(3), scale=np.ones(3), codebook=np.zeros((2, 3)),
             quantiles=np.ones(3), meta=np.array('{"version": 1, "channels": 1, "stats": {}}'))
    with pytest.raises(ValueError, match="shapes"):
        NormalAppearance.load(tmp_path / "wrong.npz")


def test_fit_is_deterministic_and_needs_images():
    imgs = [texture_image(np.random.default_rng(i), 48) for i in range(4)]
    m1, m2 = fit_appearance(imgs, np.random.default_rng(7)), fit_appearance(imgs, np.random.default_rng(7))
    assert np.array_equal(m1.codebook, m2.codebook) and np.array_equal(m1.quantiles, m2.quantiles)
    with pytest.raises(ValueError, match="at least one"):
        fit_appearance([], np.random.default_rng(0))


def test_crop_abnormality_is_fast(texture_model):
    img = texture_image(np.random.default_rng(9), 256)
    texture_model.abnormality(img[:64, :64])
    t = time.process_time()  # CPU time: the machine is shared, wall time includes waiting for a core
    for _ in range(5):
        texture_model.abnormality(img[100:164, 100:164])
    assert (time.process_time() - t) / 5 < 0.05  # a 64x64 crop: ~1 ms; generous bound


def test_fit_entry_point_is_deterministic():
    from anomalyagent.product import appearance

    imgs = [texture_image(np.random.default_rng(i), 48) for i in range(3)]
    assert np.array_equal(appearance.fit(imgs).codebook, appearance.fit(imgs).codebook)


def _posed(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    """The same part in the same pose, new sensor noise."""
    return np.clip(base.astype(np.int16) + rng.integers(-3, 4, base.shape), 0, 255).astype(np.uint8)


def test_position_model_sees_a_missing_piece_the_codebook_calls_normal(tmp_path):
    rng = np.random.default_rng(0)
    base = object_image(np.random.default_rng(1), 96)
    model = fit_appearance([_posed(rng, base) for _ in range(10)], np.random.default_rng(0))
    assert model.frame == (96, 96) and model.position_mean is not None
    img = _posed(rng, base)
    hole = img.copy()
    hole[40:52, 40:52] = img[2:14, 2:14]  # background where the part should be: a normal-looking patch, misplaced
    codebook = model.distance(hole)[42:50, 42:50].mean() / model.quantiles[2]
    both = model.abnormality(hole)[42:50, 42:50].mean()
    assert both > 2.0 and both > 2.0 * codebook
    # a crop at its origin gives the same answer as the whole image
    crop = model.abnormality(np.ascontiguousarray(hole[30:70, 30:70]), origin=(30, 30), frame=(96, 96))
    assert np.allclose(crop[12:20, 12:20], model.abnormality(hole)[42:50, 42:50], atol=0.35)
    # saved and loaded with its position arrays
    back = NormalAppearance.load(model.save(tmp_path / "posed.npz"))
    assert back.frame == (96, 96) and np.allclose(back.abnormality(hole), model.abnormality(hole))


def test_no_position_model_for_images_of_different_sizes():
    rng = np.random.default_rng(0)
    imgs = [texture_image(rng, s) for s in (40, 48, 56, 64, 40, 48, 56, 64)]
    assert fit_appearance(imgs, np.random.default_rng(0)).position_mean is None
