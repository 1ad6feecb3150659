"""Family variants chosen by ``params`` (modes the typical specs do not reach) keep the
alpha contract and do what their parameter says."""
from __future__ import annotations

import numpy as np
import pytest

from anomalyagent.render import render
from test_render_families import check_alpha_matches_change
from test_render_fixtures import object_rgb, spec_for, texture_gray

VARIANTS = [
    ("hole", {"through": True, "rim": 0.0}),
    ("dent", {"band": True, "relief": 0.5, "sharpness": 0.6}),
    ("particle", {"kind": "fibre"}),
    ("print", {"mode": "smear"}),
    ("missing", {"fill": "shadow"}),
    ("deform", {"mode": "squeeze"}),
    ("deform", {"mode": "bend", "displacement": 0.03}),
    ("stain", {"gloss": 0.5, "ring": 0.8}),
    ("cut", {"tear": 0.8, "gape": 0.5}),
    ("crack", {"branches": 5, "jaggedness": 1.0, "width": 0.02}),
    ("scratch", {"through": 1.0, "width": 0.1, "strands": 2}),
    ("crack", {"through": 1.0, "branches": 3}),
]


@pytest.mark.parametrize("family,params", VARIANTS, ids=lambda v: str(v))
@pytest.mark.parametrize("gray", [False, True], ids=["rgb", "gray"])
def test_variant_keeps_the_alpha_contract(family, params, gray):
    image = texture_gray(160) if gray else object_rgb(160)
    spec = spec_for(family, params=dict(params))
    edited, alpha = render(image, spec, np.random.default_rng(11))
    check_alpha_matches_change(image, edited, alpha, f"{family} {params}")


@pytest.mark.parametrize("color", ["lighter", "mixed"])
def test_wide_crack_and_hole_variants_with_pale_faces(color):
    image = object_rgb(200)
    for family, params in (("crack", {"width": 0.04}), ("hole", {"rim": 0.4}), ("missing", {"fill": "interior"})):
        edited, alpha = render(image, spec_for(family, color=color, params=params), np.random.default_rng(2))
        check_alpha_matches_change(image, edited, alpha, f"{family} {color}")


def test_print_missing_removes_existing_marking():
    image = object_rgb(200)
    printed, ink = render(image, spec_for("print", params={"mode": "extra"}), np.random.default_rng(0))
    spec = spec_for("print", params={"mode": "missing"})
    cleaned, alpha = render(printed, spec, np.random.default_rng(1))
    marks = ink > 0.5
    before = np.abs(printed.astype(np.int16) - image)[marks].mean()
    after = np.abs(cleaned.astype(np.int16) - image)[marks].mean()
    assert after < 0.5 * before, (before, after)
    check_alpha_matches_change(printed, cleaned, alpha, "print missing")


def test_dent_band_runs_across_the_image():
    image = texture_gray(200, width=320)
    spec = spec_for("dent", size=0.9, aspect=2.5, angle=0.0, intensity=0.4, color="lighter", params={"band": True})
    _, alpha = render(image, spec, np.random.default_rng(0))
    cols = (alpha > 0.5).any(axis=0)
    assert cols.mean() > 0.9, "a band spans the image along its angle"


@pytest.mark.parametrize("seed", range(3))
def test_crack_through_enters_and_leaves_the_view(seed):
    image = texture_gray(160)
    spec = spec_for("crack", size=0.3, angle=0.0, center=(0.5, 0.4), params={"through": 1.0, "branches": 2})
    _, alpha = render(image, spec, np.random.default_rng(seed))
    cols = (alpha > 0.5).any(axis=0)
    assert cols[:3].any() and cols[-3:].any() and cols.mean() > 0.95, "no tips inside the view"
    _, short = render(image, spec.replace(params={"branches": 2}), np.random.default_rng(seed))
    assert (short > 0.5).any(axis=0).mean() < 0.6


def test_scratch_through_runs_edge_to_edge():
    image = texture_gray(160)
    spec = spec_for("scratch", size=0.3, angle=90.0, center=(0.4, 0.7), params={"through": 1.0, "width": 0.06})
    _, alpha = render(image, spec, np.random.default_rng(0))
    rows = (alpha > 0.5).any(axis=1)
    assert rows.mean() > 0.95, "a scratch through the view has no ends inside it"
    _, short = render(image, spec.replace(params={"width": 0.06}), np.random.default_rng(0))
    assert (short > 0.5).any(axis=1).mean() < 0.5, "without it the scratch keeps its planned length"


@pytest.mark.parametrize("seed", range(3))
def test_crack_is_visible_along_its_planned_length(seed):
    image = texture_gray(200)
    spec = spec_for("crack", size=0.6, angle=0.0, center=(0.5, 0.5), intensity=0.7, color="darker",
                    params={"branches": 0, "jaggedness": 0.0, "width": 0.012})
    _, alpha = render(image, spec, np.random.default_rng(seed))
    cols = np.flatnonzero((alpha > 0.5).any(axis=0))
    assert cols[-1] - cols[0] > 0.9 * 0.6 * 200, (cols[0], cols[-1])


def test_wide_scratch_band_has_no_relief_rims():
    """A band over 3 % of the image across is drawn by its floor alone: both sides step
    the same way (lighter inside), no lit wall on one side and shadow on the other."""
    image = texture_gray(100)
    spec = spec_for("scratch", size=0.8, angle=90.0, center=(0.5, 0.5), intensity=0.6, color="lighter",
                    params={"through": 1.0, "width": 0.1, "strands": 1, "curvature": 0.0})
    edited, alpha = render(image, spec, np.random.default_rng(0))
    diff = edited.astype(np.float32) - image.astype(np.float32)
    changed = alpha > 0.5
    assert (diff[changed] > -2.0).mean() > 0.95, "no shadowed wall inside the mask"
