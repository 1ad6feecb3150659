"""Registry-wide renderer checks: every family on RGB and grayscale, 48 px to 1024 px,
deterministic per seed, sized relative to the image, with an alpha that matches the
visible change."""
from __future__ import annotations

import numpy as np
import pytest

from anomalyagent.change import delta_e
from anomalyagent.render import RENDERERS, render
from test_render_fixtures import object_rgb, spec_for, texture_gray

FAMILIES = RENDERERS.names()
IMAGES = {
    ("rgb", 48): object_rgb(48),
    ("rgb", 256): object_rgb(256),
    ("gray", 48): texture_gray(48),
    ("gray", 256): texture_gray(256),
    ("gray_wide", 200): texture_gray(200, width=333),
}


def check_alpha_matches_change(image: np.ndarray, edited: np.ndarray, alpha: np.ndarray, family: str) -> None:
    """alpha > 0.5: the pixel differs; alpha < 0.05: it is identical or nearly so."""
    assert alpha.dtype == np.float32 and alpha.shape == image.shape[:2]
    assert float(alpha.min()) >= 0.0 and float(alpha.max()) <= 1.0
    diff = np.abs(edited.astype(np.int16) - image.astype(np.int16))
    diff = diff if diff.ndim == 2 else diff.max(axis=2)
    strong = alpha > 0.5
    assert strong.sum() >= 3, f"{family}: nothing visible was rendered"
    assert (diff[strong] > 0).all(), f"{family}: {int((diff[strong] == 0).sum())} masked pixels did not change"
    de = delta_e(image, edited)
    weak = alpha < 0.05
    # "Nearly so": under 2 delta-E for 99 % of them and never above 10 % of the defect's
    # strongest change (the soft tail of a feathered edge).
    assert np.percentile(de[weak], 99) < 2.0, family
    assert float(de[weak].max()) <= max(3.0, 0.1 * float(de.max())), family


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("key", list(IMAGES), ids=lambda k: f"{k[0]}{k[1]}")
def test_family_renders_with_matching_alpha(family, key):
    image = IMAGES[key]
    before = image.copy()
    spec = spec_for(family)
    edited, alpha = render(image, spec, np.random.default_rng(7))
    assert np.array_equal(image, before), "renderers must not modify their input"
    assert edited.shape == image.shape and edited.dtype == np.uint8
    check_alpha_matches_change(image, edited, alpha, family)


@pytest.mark.parametrize("family", FAMILIES)
def test_family_is_deterministic_per_seed(family):
    image = IMAGES[("rgb", 256)]
    spec = spec_for(family)
    a = render(image, spec, np.random.default_rng(3))
    b = render(image, spec, np.random.default_rng(3))
    c = render(image, spec, np.random.default_rng(4))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0]), f"{family}: the seed changes nothing"


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("make", [object_rgb, texture_gray], ids=["rgb", "gray"])
def test_family_scales_with_the_image_at_1024(family, make):
    """Same spec at 256 and 1024 px: the masked fraction of the image agrees (sizes are
    relative), and the 1024 px render keeps the alpha contract."""
    small, large = make(256), make(1024)
    spec = spec_for(family)
    es, as_ = render(small, spec, np.random.default_rng(5))
    el, al = render(large, spec, np.random.default_rng(5))
    check_alpha_matches_change(large, el, al, family)
    fs, fl = float((as_ > 0.5).mean()), float((al > 0.5).mean())
    assert 0.4 < fl / fs < 2.5, f"{family}: area fraction {fs:.4f} at 256 px vs {fl:.4f} at 1024 px"


@pytest.mark.parametrize("family", FAMILIES)
def test_family_describes_its_parameters(family):
    renderer = RENDERERS.create(family)
    assert renderer.name == family
    assert renderer.description
    names = [p.name for p in renderer.parameters]
    assert {"center", "size", "intensity"} <= set(names), names
    for p in renderer.parameters:
        d = p.to_dict()
        assert d["help"], f"{family}.{p.name} has no help text"


def test_bad_inputs_are_refused():
    image = IMAGES[("rgb", 48)]
    with pytest.raises(ValueError):
        render(image.astype(np.float32), spec_for("scratch"), np.random.default_rng(0))
    with pytest.raises(ValueError):
        render(image, spec_for("scratch", intensity=2.0), np.random.default_rng(0))
    with pytest.raises(KeyError):
        render(image, spec_for("no-such-family"), np.random.default_rng(0))
