import dataclasses

import numpy as np

from anomalyagent.foreground import foreground
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.planning import angle_is_free, instruction, placement_region, refine, sample_angle, sample_spec
from anomalyagent.records import DefectSpec

from conftest import object_image, texture_image


def _pixel(fg, center):
    h, w = fg.shape
    return fg[round(center[1] * (h - 1)), round(center[0] * (w - 1))]


def test_specs_land_on_the_object_and_follow_priors():
    kb = KnowledgeBase.default()
    rng = np.random.default_rng(0)
    for defect in kb.defects("hazelnut"):
        entry = kb.lookup("hazelnut", defect).entry
        for seed in range(5):
            image = object_image(np.random.default_rng(seed), 128)
            fg = foreground(image, "object")
            spec = sample_spec(entry, image, fg, rng)
            assert spec.validate() == []
            assert _pixel(fg, spec.center), (defect, spec.center)
            assert entry.size[0] - 1e-6 <= spec.size <= entry.size[1] + 1e-6
            assert spec.family == entry.family and spec.instruction


def test_edge_defects_sit_near_the_boundary():
    image = object_image(np.random.default_rng(1), 128)
    fg = foreground(image, "object")
    band = placement_region(fg, "edge", 0.1)
    inner = placement_region(fg, "surface", 0.1)
    assert band.any() and inner.any() and (band & fg).sum() == band.sum()
    assert not (band & inner).all()


def test_texture_is_placed_anywhere():
    image = texture_image(np.random.default_rng(2), 96)
    assert placement_region(foreground(image, "texture"), "surface", 0.05).mean() > 0.8


def test_instruction_says_where_how_big_what():
    kb = KnowledgeBase.default()
    entry = kb.lookup("hazelnut", "crack").entry
    image = object_image(np.random.default_rng(3), 128)
    spec = sample_spec(entry, image, foreground(image, "object"), np.random.default_rng(0))
    text = instruction(spec, entry)
    assert "crack" in text and "centred at" in text and "%" in text and ("darker" in text or "lighter" in text or spec.color in text)


def test_refine_follows_each_kind_of_advice():
    kb = KnowledgeBase.default()
    entry = kb.lookup("hazelnut", "hole").entry
    image = object_image(np.random.default_rng(4), 128)
    fg = foreground(image, "object")
    rng = np.random.default_rng(0)
    spec = sample_spec(entry, image, fg, rng).replace(intensity=0.5, size=0.1, blend="hard")
    # Intensity moves half the way to its bound (at least 0.2): 0.5 -> 0.75, 0.5 -> 0.3.
    assert refine(spec, [{"parameter": "intensity", "direction": "increase"}], entry, fg, rng).intensity == 0.75
    assert refine(spec, [{"parameter": "intensity", "direction": "decrease"}], entry, fg, rng).intensity == 0.3
    assert refine(spec, [{"parameter": "texture", "direction": "increase"}], entry, fg, rng).texture == "fibrous"
    assert refine(spec, [{"parameter": "texture", "direction": "decrease"}], entry, fg, rng).texture == "glossy"
    assert refine(spec, [{"parameter": "size", "direction": "decrease"}], entry, fg, rng).size < spec.size
    assert refine(spec, [{"parameter": "blend", "direction": "soften"}], entry, fg, rng).blend == "feather"
    assert refine(spec, [{"parameter": "color", "direction": "lighter"}], entry, fg, rng).color == "lighter"
    off = spec.replace(center=(0.01, 0.01))
    moved = refine(off, [{"parameter": "location", "direction": "move_onto_object"}], entry, fg, rng)
    assert _pixel(fg, moved.center)
    assert moved.instruction != off.instruction


def test_refine_texture_steps_add_grain_and_size_follows_the_advised_scale():
    kb = KnowledgeBase.default()
    entry = kb.lookup("hazelnut", "hole").entry
    image = object_image(np.random.default_rng(4), 128)
    fg = foreground(image, "object")
    rng = np.random.default_rng(0)
    spec = sample_spec(entry, image, fg, rng).replace(size=0.1)
    entry = dataclasses.replace(entry, size=(0.02, 0.4))
    more = [{"parameter": "texture", "direction": "increase"}]
    # smooth and glossy both remove the grain: "increase" goes to the first finish that adds it
    assert [refine(spec.replace(texture=t), more, entry, fg, rng).texture for t in ("smooth", "glossy", "keep", "fibrous", "grainy")] \
        == ["fibrous", "fibrous", "fibrous", "grainy", "grainy"]
    less = [{"parameter": "texture", "direction": "decrease"}]
    assert [refine(spec.replace(texture=t), less, entry, fg, rng).texture for t in ("grainy", "fibrous", "keep", "glossy", "smooth")] \
        == ["keep", "keep", "glossy", "smooth", "smooth"]
    assert refine(spec.replace(texture="grainy"), [{"parameter": "texture", "direction": "smooth"}], entry, fg, rng).texture == "smooth"
    assert refine(spec, [{"parameter": "size", "direction": "increase", "scale": 3.0}], entry, fg, rng).size == 0.3
    assert refine(spec, [{"parameter": "size", "direction": "decrease", "scale": 0.5}], entry, fg, rng).size == 0.05
    # a scale on the wrong side of 1 (or garbage) falls back to the fixed 1.5x step
    assert refine(spec, [{"parameter": "size", "direction": "increase", "scale": 0.5}], entry, fg, rng).size == 0.15
    assert refine(spec, [{"parameter": "size", "direction": "increase", "scale": "x"}], entry, fg, rng).size == 0.15
    # never past the knowledge base's range (real defects' extents); beyond it, no further
    assert refine(spec, [{"parameter": "size", "direction": "increase", "scale": 4.0}], entry, fg, rng).size == 0.4
    assert refine(spec.replace(size=0.05), [{"parameter": "size", "direction": "decrease", "scale": 0.25}], entry, fg, rng).size == 0.02
    assert refine(spec.replace(size=0.6), [{"parameter": "size", "direction": "increase"}], entry, fg, rng).size == 0.6
    assert refine(spec.replace(size=0.6), [{"parameter": "size", "direction": "decrease"}], entry, fg, rng).size == 0.4


def test_axis_angle_prior_draws_both_image_axes():
    rng = np.random.default_rng(0)
    angles = np.array([sample_angle("axis", rng) for _ in range(200)])
    near_h = np.minimum(angles, 180.0 - angles) < 8.0
    near_v = np.abs(angles - 90.0) < 8.0
    assert np.all(near_h | near_v)
    assert 0.3 < near_v.mean() < 0.7
    assert 0.0 <= sample_angle("any", rng) < 180.0 and 10.0 <= sample_angle([10.0, 20.0], rng) <= 20.0


def test_axis_prior_is_kept_when_placed_on_a_part():
    """A texture's planned scratch keeps its axis angle (placement redraws only free angles)."""
    import dataclasses

    base = KnowledgeBase.default().lookup("neu_seg", "scratches").entry
    entry = dataclasses.replace(base, priors={**base.priors, "angle": "axis"})
    assert angle_is_free(base) and not angle_is_free(entry)
    image = texture_image(np.random.default_rng(2), 96)
    fg = foreground(image, "texture")
    rng = np.random.default_rng(1)
    for _ in range(10):
        spec = sample_spec(entry, image, fg, rng, parts={"object": fg, "surface": fg})
        assert min(spec.angle % 90.0, 90.0 - spec.angle % 90.0) < 8.0, spec.angle


def test_unknown_angle_word_is_a_knowledge_problem():
    from anomalyagent.knowledge.loader import priors_problems

    assert priors_problems({"angle": "axis"}) == []
    assert any("angle" in p for p in priors_problems({"angle": "diagonal"}))


def test_footprint_box_is_the_footprint_and_the_fraction_unchanged():
    from anomalyagent.planning import footprint, footprint_box, on_part_fraction

    rng = np.random.default_rng(12)
    for i in range(2000):
        h, w = int(rng.integers(20, 300)), int(rng.integers(20, 300))
        spec = DefectSpec(family="crack", center=(float(rng.uniform(-0.1, 1.1)), float(rng.uniform(-0.1, 1.1))),
                          size=float(rng.uniform(0.005, 1.0)), aspect=float(rng.uniform(1, 40)),
                          angle=float(rng.uniform(-180, 360)))
        full = footprint(spec, (h, w))
        crop, (y0, x0) = footprint_box(spec, (h, w))
        rebuilt = np.zeros((h, w), bool)
        rebuilt[y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]] = crop
        assert np.array_equal(full, rebuilt), i
        part = rng.random((h, w)) < 0.5
        n = int(full.sum())
        assert on_part_fraction(spec, part) == (0.0 if n == 0 else float(np.count_nonzero(part[full])) / n)
