"""Reverse synthesis, step 2: the spec of a real defect and its fit; deliberate flaws."""
from __future__ import annotations

import numpy as np
import pytest

from anomalyagent.foreground import foreground
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.records import DefectSpec
from anomalyagent.render import render
from anomalyagent.reverse.extract import LINE_FAMILIES, extract, fit, principal_angle, shape_family
from anomalyagent.reverse.flaws import FLAWS, FlawContext, addressed, apply_flaws
from anomalyagent.synthetic import object_image, texture_image


def _rendered(spec: DefectSpec, seed: int = 0, gray: bool = True):
    normal = texture_image(np.random.default_rng(seed), 128, gray=gray)
    anomaly, alpha = render(normal, spec, np.random.default_rng(seed + 1))
    return normal, anomaly, alpha > 0.5


@pytest.mark.parametrize("angle", [0.0, 35.0, 120.0])
def test_geometry_of_a_rendered_scratch_is_recovered(angle):
    spec = DefectSpec("scratch", center=(0.45, 0.55), size=0.5, angle=angle, aspect=20, intensity=0.8, color="darker")
    normal, anomaly, mask = _rendered(spec)
    ex = extract(anomaly, normal, mask, None, "tile", "scratch", calibrate=False)
    got = ex.spec
    assert abs(got.center[0] - 0.45) < 0.05 and abs(got.center[1] - 0.55) < 0.05
    assert 0.35 < got.size < 0.65
    assert min(abs(got.angle - angle), 180 - abs(got.angle - angle)) < 8
    assert got.color == "darker"
    assert ex.family_source == "shape" and got.family in LINE_FAMILIES  # no knowledge entry: family from shape
    assert got.instruction and "scratch" in got.instruction


def test_family_comes_from_the_knowledge_base_when_the_name_is_known():
    kb = KnowledgeBase.default()
    entry = kb.lookup("magnetic_tile", "blowhole").entry
    spec = DefectSpec("hole", center=(0.5, 0.5), size=0.1, aspect=1.2, intensity=0.8)
    normal, anomaly, mask = _rendered(spec)
    ex = extract(anomaly, normal, mask, entry, "magnetic_tile", "blowhole", rng=np.random.default_rng(0))
    assert ex.family_source == "knowledge" and ex.spec.family == entry.family
    assert ex.measured.shape_family == "hole"
    assert ex.spec.color == "darker"
    assert ex.fit is not None and ex.fit.iou > 0.4 and ex.fit.color_error < ex.fit.baseline_error
    assert ex.calibration  # what the calibration tried is recorded


def test_extraction_is_deterministic_and_fit_of_the_true_render_is_exact():
    spec = DefectSpec("stain", center=(0.5, 0.5), size=0.3, aspect=1.5, intensity=0.6)
    normal, anomaly, mask = _rendered(spec)
    a = extract(anomaly, normal, mask, None, "tile", "stain", rng=np.random.default_rng(4))
    b = extract(anomaly, normal, mask, None, "tile", "stain", rng=np.random.default_rng(4))
    assert a.spec.to_dict() == b.spec.to_dict() and a.fit.to_dict() == b.fit.to_dict()
    same = fit(normal, anomaly, mask, spec, seed=1)  # the exact spec and renderer seed of the "real" defect
    assert same.iou == pytest.approx(1.0) and same.color_error == pytest.approx(0.0, abs=1e-6)


def test_shape_family_thresholds():
    assert shape_family(aspect=8, thinness=10, extent=0.4, darker=True) == "crack"
    assert shape_family(aspect=2, thinness=12, extent=0.4, darker=False) == "scratch"
    assert shape_family(aspect=1.3, thinness=1.4, extent=0.05, darker=True) == "hole"
    assert shape_family(aspect=1.5, thinness=1.6, extent=0.5, darker=True) == "stain"
    ys, xs = np.mgrid[0:50, 0:50]
    assert principal_angle(np.abs(ys - (49 - xs)) <= 1) == pytest.approx(45.0, abs=1.0)  # rising to the right


def test_flaws_change_what_they_say():
    rng = np.random.default_rng(0)
    image = object_image(rng, 96)
    fg = foreground(image, "object")
    entry = KnowledgeBase.default().lookup("hazelnut", "hole").entry
    ctx = FlawContext(fg, "object", entry)
    spec = DefectSpec("hole", center=(0.5, 0.5), size=0.12, intensity=0.8)
    off = FLAWS["off_object"].apply(spec, ctx, rng)
    x, y = off.center
    assert not fg[int(round(y * 95)), int(round(x * 95))]
    assert FLAWS["too_faint"].apply(spec, ctx, rng).intensity < 0.1
    assert FLAWS["too_large"].apply(spec, ctx, rng).size == pytest.approx(0.36)
    assert FLAWS["too_small"].apply(spec, ctx, rng).size == pytest.approx(0.03)
    assert FLAWS["wrong_family"].apply(spec, ctx, rng).family not in ("hole", "particle", "dent")
    assert FLAWS["seam"].apply(spec, ctx, rng).blend == "hard"
    both = apply_flaws(spec, ("too_large", "seam"), ctx, rng)
    assert both.size > spec.size and both.blend == "hard"
    # a surface defect on a texture has no "off the object"
    assert FLAWS["off_object"].apply(spec, FlawContext(np.ones((96, 96), bool), "texture", entry), rng) is None


def test_addressed_reads_parameter_and_direction():
    advice = [{"parameter": "size", "direction": "decrease"}, {"parameter": "location", "direction": "move_onto_object"}]
    assert addressed(("too_large", "off_object", "too_faint"), advice) == ("too_large", "off_object")
    assert addressed(("too_small",), advice) == ()  # the review asks for smaller, not larger
