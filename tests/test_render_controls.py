"""Every control changes the render: blend (poisson, hard, feather), texture and count,
in every registered family."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from anomalyagent.render import RENDERERS, render
from anomalyagent.render.blend import poisson_clone
from anomalyagent.render.controls import read_count
from anomalyagent.render.scene import Scene
from anomalyagent.synthetic import component_scene, object_rgb, spec_for

FAMILIES = RENDERERS.names()
IMAGE = object_rgb(256)
SCENE_IMAGE, MASKS = component_scene(256, 0)
SCENE = Scene(foreground=MASKS["object"], parts={"lead": MASKS["lead"], "case": MASKS["case"]})
STRUCTURAL = {"warp": {"part": "lead"}, "displace": {"part": "lead"}, "transplant": {}}


def _clusters(alpha, close=9):
    """Separate defect clusters: alpha > 0.5 closed by ``close`` px (so one defect's lobes
    merge), components of >= 8 px."""
    blobs = cv2.morphologyEx((alpha > 0.5).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((close, close), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(blobs, connectivity=8)
    return [int(a) for a in stats[1:, cv2.CC_STAT_AREA] if a >= 8]


def _render(family, seed=5, size=0.3, **changes):
    params = dict(STRUCTURAL.get(family, {}), **changes.pop("params", {}))
    if family in STRUCTURAL:
        center = (0.62, 0.75) if family in ("warp", "displace") else (0.5, 0.3)
        spec = spec_for(family, center=center, size=size, params=params, **changes)
        return SCENE_IMAGE, render(SCENE_IMAGE, spec, np.random.default_rng(seed), SCENE)
    if size != 0.3:  # an explicit size (the count tests); else the family's typical one
        changes["size"] = size
    spec = spec_for(family, params=params, **changes)
    return IMAGE, render(IMAGE, spec, np.random.default_rng(seed))


def _changed(a, b):
    """Mean absolute difference (grey levels) over pixels where either render changed the input."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.mark.parametrize("family", FAMILIES)
def test_poisson_differs_from_feather(family):
    image, (feather, _) = _render(family, blend="feather")
    _, (poisson, alpha) = _render(family, blend="poisson")
    region = cv2.dilate((alpha > 0.02).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    diff = np.abs(feather.astype(np.int16) - poisson.astype(np.int16))
    diff = diff if diff.ndim == 2 else diff.max(axis=2)
    # Not a rounding difference: at least 5 % of the defect region changes by > 2 levels.
    assert (diff[region] > 2).mean() > 0.05, family


@pytest.mark.parametrize("family", FAMILIES)
def test_hard_differs_from_feather(family):
    image, (feather, _) = _render(family, blend="feather")
    _, (hard, alpha) = _render(family, blend="hard")
    diff = np.abs(feather.astype(np.int16) - hard.astype(np.int16))
    diff = diff if diff.ndim == 2 else diff.max(axis=2)
    assert (diff > 2).sum() >= 10, family
    # Hard edges are steps: the edit's boundary pixels change more abruptly than feathered ones.
    def edge_gradient(edited):
        d = np.abs(edited.astype(np.float32) - image.astype(np.float32))
        d = d if d.ndim == 2 else d.max(axis=2)
        g = np.hypot(cv2.Sobel(d, cv2.CV_32F, 1, 0), cv2.Sobel(d, cv2.CV_32F, 0, 1))
        return float(np.percentile(g[g > 0], 95)) if (g > 0).any() else 0.0
    assert edge_gradient(hard) >= edge_gradient(feather) * 0.99, family


@pytest.mark.parametrize("family", FAMILIES)
def test_texture_changes_the_pixels(family):
    _, (keep, _) = _render(family, texture="keep")
    for texture in ("smooth", "grainy", "fibrous", "glossy"):
        _, (other, _) = _render(family, texture=texture)
        diff = np.abs(keep.astype(np.int16) - other.astype(np.int16))
        assert (diff > 2).sum() >= 10, (family, texture)


@pytest.mark.parametrize("family", ["stain", "hole", "dent", "discoloration", "rust", "particle", "transplant"])
def test_count_three_gives_three_components(family):
    spec = spec_for(family, center=(0.5, 0.5), size=0.1, aspect=1.3, params={"count": 3})
    if family == "particle":
        spec = spec.replace(size=0.06)
    fg = np.zeros(IMAGE.shape[:2], bool)
    fg[30:226, 40:216] = True
    _, alpha = render(IMAGE, spec, np.random.default_rng(2), Scene(foreground=fg))
    assert len(_clusters(alpha)) == 3, (family, _clusters(alpha))


@pytest.mark.parametrize("family", FAMILIES)
def test_count_adds_instances_in_every_family(family):
    """count = 3 adds two separate defects (on the component scene: the other leads)."""
    _, (_, one) = _render(family, size=0.12, params={"count": 1})
    _, (_, three) = _render(family, size=0.12, params={"count": 3})
    if family in ("warp", "displace"):  # the part is named: each lead is one instance
        _, leads = cv2.connectedComponents(MASKS["lead"].astype(np.uint8))
        touched = [len(set(np.unique(leads[(a > 0.5) & MASKS["lead"]])) - {0}) for a in (one, three)]
        assert touched[0] < 3 and touched[1] == 3, (family, touched)
        return
    assert len(_clusters(three)) >= len(_clusters(one)) + 2, (family, _clusters(one), _clusters(three))


def test_count_is_validated():
    assert read_count(spec_for("stain", params={"count": float("nan")})) == 1
    assert read_count(spec_for("stain", params={"count": 10 ** 9})) == 12
    assert read_count(spec_for("stain", params={"count": "three"})) == 1


def test_poisson_clone_guards_the_border_and_tiny_images():
    img = object_rgb(48)
    src = np.full_like(img, 200)
    region = np.zeros(img.shape[:2], bool)
    region[:, :10] = True  # touches the border: cv2.seamlessClone's !fixedSize() case
    out, note = poisson_clone(img, src, region)
    assert out.shape == img.shape and note == ""
    assert (out[:, :2] == img[:, :2]).all()  # the margin is left alone
    tiny = object_rgb(48)[:9, :9]
    out, note = poisson_clone(tiny, np.full_like(tiny, 200), np.ones((9, 9), bool))
    assert "feathered instead" in note and out.shape == tiny.shape


@pytest.mark.parametrize("family", ["warp", "displace", "transplant", "missing", "deform"])
def test_non_finite_numbers_are_refused_or_ignored(family):
    spec = spec_for(family)
    with pytest.raises(ValueError, match="finite"):
        render(IMAGE, spec.replace(angle=float("nan")), np.random.default_rng(0))
    # A non-finite family parameter is refused too (records-level validation), never a hang.
    with pytest.raises(ValueError, match="finite"):
        render(IMAGE, spec.replace(params={"bend": float("inf"), "rotation": float("nan"),
                                           "displacement": float("nan")}), np.random.default_rng(0))


def _gray(image):
    return image.astype(np.float32).mean(axis=2) if image.ndim == 3 else image.astype(np.float32)


def test_a_moved_part_gets_the_cameras_grain_back_not_streaks():
    """A whole object turned (displace) with a grain-adding finish: its changed pixels end
    near the input's own pixel-scale detail, with grain of no direction. The drawn finish
    it replaced (streaks along the spec's angle at the crop's edge-inflated level) hatched
    a moved transistor all over; the direct call with ``moves_pixels=False`` shows it."""
    from anomalyagent.render.controls import _fine_detail, apply_texture
    from anomalyagent.synthetic import spec_for

    # A camera's grain (4 grey levels) on the scene, which resampling the turned part smooths.
    noise = np.random.default_rng(0).normal(0.0, 4.0, SCENE_IMAGE.shape[:2])[:, :, None]
    image = np.clip(np.round(SCENE_IMAGE + noise), 0, 255).astype(np.uint8)
    spec = spec_for("displace", center=(0.5, 0.4), size=0.6, angle=0.0,
                    params={"whole": "true", "mode": "rotate", "rotation": 37.0})
    keep, alpha = render(image, spec, np.random.default_rng(3), SCENE)
    moved = alpha > 0.5
    source = _fine_detail(_gray(image), moved)
    kept = _fine_detail(_gray(keep), moved)
    assert kept < 0.95 * source  # the turn smoothed the finest scale (cubic resampling)
    for texture in ("grainy", "fibrous"):
        restored = apply_texture(image, keep, alpha, spec.replace(texture=texture), np.random.default_rng(4), True)
        drawn = apply_texture(image, keep, alpha, spec.replace(texture=texture), np.random.default_rng(4), False)
        now = _fine_detail(_gray(restored), moved)
        assert 0.85 * source <= now <= 1.2 * source, (texture, source, kept, now)
        assert _fine_detail(_gray(drawn), moved) > 1.5 * source, texture  # what it replaced
        grain = _gray(restored) - _gray(keep)
        gy, gx = np.diff(grain, axis=0)[:, :-1][moved[:-1, :-1]], np.diff(grain, axis=1)[:-1, :][moved[:-1, :-1]]
        ratio = float((gy ** 2).sum() / max((gx ** 2).sum(), 1e-9))
        assert 0.7 < ratio < 1.4, (texture, ratio)  # no streaks along the spec's angle


def test_a_moved_parts_alpha_keeps_both_places_after_a_control():
    """The drawn alpha of a moved part marks its old and new place; a texture control
    re-measures what visibly changed, but the old and new place stay in it (where they
    overlap in like colours nothing visibly changed)."""
    from anomalyagent.synthetic import spec_for

    for texture in ("grainy", "smooth"):
        spec = spec_for("displace", center=(0.5, 0.4), size=0.6, params={"whole": "true", "mode": "flip"})
        _, drawn = render(SCENE_IMAGE, spec, np.random.default_rng(3), SCENE)
        _, after = render(SCENE_IMAGE, spec.replace(texture=texture), np.random.default_rng(3), SCENE)
        assert (drawn > 0.5).sum() > 500
        assert not ((drawn > 0.5) & (after < 0.5)).any(), texture


def test_a_moved_part_on_a_grey_image_takes_every_finish():
    """Grey images (one channel) go through the moved-part finishes too and stay (H, W)
    uint8 (restore_grain once returned a channel axis there and failed)."""
    from anomalyagent.synthetic import spec_for

    grey = cv2.cvtColor(SCENE_IMAGE, cv2.COLOR_RGB2GRAY)
    spec = spec_for("displace", center=(0.5, 0.4), size=0.6, params={"whole": "true"})
    keep, _ = render(grey, spec, np.random.default_rng(0), SCENE)
    for texture in ("grainy", "fibrous", "smooth", "glossy"):
        out, _ = render(grey, spec.replace(texture=texture), np.random.default_rng(0), SCENE)
        assert out.shape == grey.shape and out.dtype == np.uint8, texture
        assert (np.abs(out.astype(np.int16) - keep) > 0).sum() >= 10, texture
