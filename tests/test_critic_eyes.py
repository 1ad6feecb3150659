"""The critic with eyes: floors on both halves, the named part, the normal-appearance
model (faded defects), nothing changed outside the mask, calibration records."""
from __future__ import annotations

import numpy as np
import pytest

from anomalyagent.critic import corrupt, judge
from anomalyagent.critic.calibration import DEFAULT, Calibration
from anomalyagent.knowledge import KnowledgeEntry
from anomalyagent.product.appearance import fit_appearance
from anomalyagent.synthetic import object_image, texture_image
from test_critic_scenes import good_defect, object_scene, texture_scene

ENTRY = KnowledgeEntry(
    category="tile", defect="pit", family="hole", material="ceramic", formation="f", shape="s", edges="e",
    color="darker", texture="t", location="surface", size=(0.1, 0.4), priors={"aspect": [1.0, 3.0]},
)


@pytest.fixture(scope="module")
def tile_model():
    rng = np.random.default_rng(100)
    return fit_appearance([texture_image(rng, 128) for _ in range(6)], np.random.default_rng(0))


class Product:
    """What a product model looks like to the critic: anything with ``appearance``."""

    def __init__(self, appearance):
        self.appearance = appearance


def test_good_defect_passes_with_the_appearance_model(tile_model):
    n, e, m = texture_scene()
    j = judge(n, e, m, entry=ENTRY, kind="texture", product=Product(tile_model))
    assert j.passed, j.review
    # clearly abnormal: 1.2x the normal images' own 99th percentile (the term's value then
    # depends on the shipped calibration's full point and power)
    assert j.measured["abnormality"]["inside"] >= 1.2 and j.terms["spill"] == 1.0


def test_faded_defect_fails_as_too_faint(tile_model):
    n, e, m = texture_scene()
    faded, fm = corrupt.fade(n, e, m, 0.15)
    j = judge(n, faded, fm, entry=ENTRY, kind="texture", appearance=tile_model)
    assert not j.passed
    # under the normal images' own 99th percentile (the term's value depends on the shipped fit)
    assert j.measured["abnormality"]["inside"] < 1.0
    faint = [a for a in j.advice if a["parameter"] == "intensity" and a["direction"] == "increase"]
    assert faint and "too faint" in faint[0]["text"]
    good = judge(n, e, m, entry=ENTRY, kind="texture", appearance=tile_model)
    assert good.score > j.score


def test_off_object_defect_fails_on_location():
    n, e, m = object_scene()
    fg = np.zeros(m.shape, bool)
    fg[: m.shape[0] // 4] = True  # the object is elsewhere
    j = judge(n, e, m, kind="object", foreground=fg)
    assert not j.passed and j.location < DEFAULT.location_floor
    assert j.advice[0]["parameter"] == "location" and j.advice[0]["direction"] == "move_onto_object"


def test_defect_off_the_named_part_fails_with_part_advice():
    n, e, m = object_scene()
    fg = np.ones(m.shape, bool)
    part = np.zeros(m.shape, bool)
    part[:20, :20] = True  # the named part is a corner; the defect is in the middle
    j = judge(n, e, m, kind="object", foreground=fg, part=part)
    assert not j.passed
    loc = [a for a in j.advice if a["term"] == "location"]
    assert loc and loc[0]["direction"] == "move_onto_part"
    on_part = judge(n, e, m, kind="object", foreground=fg, part=m | np.roll(m, 3, axis=1))
    assert on_part.terms["location"] > j.terms["location"]
    # a part mask of the wrong shape is ignored (judged on the object), never a crash
    assert judge(n, e, m, kind="object", foreground=fg, part=np.ones((5, 5), bool)).terms["location"] == 1.0


def test_quality_floor_is_enforced_even_when_the_sum_passes():
    # a faint defect on the part: location 5 + quality under the floor, sum > 5 - that used
    # to pass on the sum alone (issue 9)
    normal = texture_image(np.random.default_rng(0), 128)
    found = []
    for depth in (6.0, 8.0, 10.0, 12.0, 16.0):
        e, m = good_defect(normal, depth=depth)
        j = judge(normal, e, m, entry=ENTRY, kind="texture", calibration=Calibration(quality_floor=0.0))
        if j.location == 5.0 and 1.0 < j.quality < 4.0:
            found.append((e, m, j))
    assert found, "no depth gives a mid-quality defect"
    e, m, j0 = found[0]
    j = judge(normal, e, m, entry=ENTRY, kind="texture", calibration=Calibration(quality_floor=j0.quality + 0.5))
    assert j.score > 5.0 and not j.passed and "quality" in j.review and "floor" in j.review
    assert j0.passed


def test_location_floor_is_enforced():
    n, e, m = object_scene()
    fg = np.zeros(m.shape, bool)
    fg[m.shape[0] // 2:] = True  # about half of the defect on the object
    j = judge(n, e, m, kind="object", foreground=fg, calibration=Calibration(location_floor=4.9, quality_floor=0.0))
    assert not j.passed


def test_change_outside_the_mask_fails_spill():
    n, e, m = texture_scene()
    e2 = e.copy()
    e2[:40, :40] = np.clip(e2[:40, :40].astype(int) + 60, 0, 255).astype(np.uint8)  # an unmasked second change
    j = judge(n, e2, m, entry=ENTRY, kind="texture")
    assert j.terms["spill"] < 0.5 and not j.passed
    assert any(a["term"] == "spill" for a in j.advice)
    # with the mask derived from the change there is nothing outside it: no spill term
    assert "spill" not in judge(n, e, None, entry=ENTRY, kind="texture").terms


def test_seam_is_judged_against_the_products_own_edges(tile_model):
    n, e, m = texture_scene()
    rng = np.random.default_rng(0)
    pasted, pm = corrupt.hard_seam(n, e, m, rng)
    j = judge(n, pasted, pm, entry=ENTRY, kind="texture", appearance=tile_model)
    assert j.terms["seam"] < 0.5 and not j.passed


@pytest.mark.parametrize("bad", [dict(abnormality_good=0.0), dict(quality_floor=6.0), dict(strength_power=0.0),
                                 dict(visibility_good=0.0), dict(replace_good=-1.0), dict(visibility_good=float("nan")),
                                 dict(location_floor=True)])
def test_calibration_rejects_nonsense(bad):
    with pytest.raises(ValueError, match="calibration"):
        Calibration(**bad)


def test_calibration_round_trips():
    c = Calibration(visibility_good=5.0, fitted_on=["a", "b"])
    assert Calibration.from_dict(c.to_dict()) == c


def test_object_scene_with_colour_model_passes_and_flat_blob_fails():
    rng = np.random.default_rng(7)
    model = fit_appearance([object_image(rng, 128) for _ in range(4)], np.random.default_rng(0))
    n = object_image(rng, 128)
    e, m = good_defect(n, center=(0.5, 0.5), radius=0.07, depth=40.0)
    assert judge(n, e, m, kind="object", appearance=model).passed
    flat, fm = corrupt.flat_blob(n, e, m)
    assert not judge(n, flat, fm, kind="object", appearance=model).passed


def test_rescore_reproduces_judge_under_another_calibration(tile_model):
    from anomalyagent.critic.judge import rescore

    n, e, m = texture_scene()
    for edited, mask in [(e, m), corrupt.fade(n, e, m, 0.3)]:
        j0 = judge(n, edited, mask, entry=ENTRY, kind="texture", appearance=tile_model)
        for cal in (Calibration(visibility_good=12.0, abnormality_good=4.0, strength_power=1.0, quality_floor=3.0),
                    Calibration(visibility_good=6.0, replace_good=1.0, quality_floor=2.0),
                    Calibration(visibility_good=2.0, location_floor=1.0, quality_floor=1.0, incoherence_good=0.5)):
            direct = judge(n, edited, mask, entry=ENTRY, kind="texture", appearance=tile_model, calibration=cal)
            again = rescore(j0, cal)
            assert again.score == pytest.approx(direct.score, abs=2e-3)
            assert again.passed == direct.passed and again.terms == pytest.approx(direct.terms, abs=1e-3)


def test_abnormality_is_reported_not_counted_for_edits_that_move_material(tile_model):
    """A bent or cut lead shows the product's own materials: the normal-appearance term
    would rank its faded ghost above it, so for such edits quality leaves it out (and it
    gives no advice), while it is still measured; rescore follows the same rule."""
    from anomalyagent.critic.judge import rescore
    from anomalyagent.records import DefectSpec

    n, e, m = texture_scene()
    faded, fm = corrupt.fade(n, e, m, 0.15)
    plain = judge(n, faded, fm, entry=ENTRY, kind="texture", appearance=tile_model)
    moved = judge(n, faded, fm, entry=ENTRY, kind="texture", appearance=tile_model,
                  spec=DefectSpec(family="warp", defect_type="bent"))
    without = judge(n, faded, fm, entry=ENTRY, kind="texture", spec=DefectSpec(family="warp", defect_type="bent"))
    assert moved.measured["abnormality"]["counted"] == 0.0 and plain.measured["abnormality"]["counted"] == 1.0
    assert moved.terms["abnormality"] == plain.terms["abnormality"]  # measured all the same
    assert moved.quality == pytest.approx(without.quality, abs=1e-3)  # as if there were no appearance model
    assert not any(a["text"].startswith("The defect is too faint: it is no more unusual") for a in moved.advice)
    cal = Calibration(visibility_good=6.0, abnormality_good=4.0, strength_power=1.0)
    direct = judge(n, faded, fm, entry=ENTRY, kind="texture", appearance=tile_model, calibration=cal,
                   spec=DefectSpec(family="warp", defect_type="bent"))
    assert rescore(moved, cal).score == pytest.approx(direct.score, abs=2e-3)
