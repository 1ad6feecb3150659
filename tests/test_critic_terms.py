"""Each critic term on its own: it measures the right thing and advises the right change."""
from __future__ import annotations

import numpy as np
import pytest

from anomalyagent.critic import corrupt
from anomalyagent.critic.appearance import (
    FAINT,
    boundary_pairs, color_term, resolution_ratio, seam_term, step_sharpness, texture_term, visibility_term,
)
from anomalyagent.critic.appearance import STRENGTH_TIE, strength_value
from anomalyagent.critic.calibration import Calibration
from anomalyagent.critic.location import border_distance, location_term, on_object_fraction, thin_continuation
from anomalyagent.critic.shape import aspect_ratio, cover_fraction, extent_fraction, shape_term, size_score
from anomalyagent.critic.term import PARAMETERS, TermResult, band, log_ramp, ramp
from anomalyagent.critic.views import make_views, robust_std
from test_critic_scenes import object_scene, texture_scene


def test_ramps_are_clipped_and_monotone():
    assert ramp(0.0, 0.0, 1.0) == 0.0 and ramp(2.0, 0.0, 1.0) == 1.0 and ramp(0.5, 1.0, 0.0) == 0.5
    assert log_ramp(2.0, 1.0, 4.0) == pytest.approx(0.5)
    assert band(1.0, 0.1, 0.5, 2.0, 8.0) == 1.0 and band(0.05, 0.1, 0.5, 2.0, 8.0) == 0.0 and band(9.0, 0.1, 0.5, 2.0, 8.0) == 0.0


def test_term_result_checks_its_parameter_and_clips():
    assert TermResult("x", 1.7).value == 1.0
    with pytest.raises(ValueError):
        TermResult("x", 0.2, parameter="wavelength")
    assert {"location", "size", "intensity", "blend", "family", "color", "aspect"} <= set(PARAMETERS)


def test_robust_std_ignores_outliers():
    x = np.random.default_rng(0).normal(0, 2.0, 5000)
    x[:50] = 1000.0
    assert robust_std(x) == pytest.approx(2.0, rel=0.1)


# --- visibility ------------------------------------------------------------------------
def test_visibility_passes_a_clear_defect_and_fails_a_faded_one():
    # the term ranks strength (full value at the calibrated CNR): a clear defect gets no
    # advice, a faded one "increase intensity", and always the lower value
    n, e, m = texture_scene()
    clear = visibility_term(make_views(n, e, m))
    assert clear.value > FAINT and not clear.parameter
    assert visibility_term(make_views(n, e, m), cnr_good=3.0).value >= 1.0 - STRENGTH_TIE  # full (tie-break aside)
    faded, _ = corrupt.fade(n, e, m, 0.05)
    t = visibility_term(make_views(n, faded, m))
    assert t.value < FAINT < clear.value and (t.parameter, t.direction) == ("intensity", "increase")


def test_visibility_fails_an_absurdly_strong_change():
    n = np.full((96, 96, 3), 250, np.uint8)
    n[::2] = 246  # some grain
    e, m = n.copy(), np.zeros((96, 96), bool)
    m[40:56, 40:56] = True
    e[m] = 0
    t = visibility_term(make_views(n, e, m))
    assert t.value < 0.5 and t.direction == "decrease"


# --- seam ------------------------------------------------------------------------------
def test_step_sharpness_one_pixel_step_vs_optical_edge():
    step = np.zeros((20, 20), np.float32)
    step[:, 10:] = 50.0
    inside = np.zeros((20, 20), bool)
    inside[:, :10] = True
    s1, s3 = boundary_pairs(step, inside, ~inside)
    assert step_sharpness(s1, s3) == pytest.approx(1.0)
    ramp_img = np.tile(np.clip((np.arange(20) - 8.5) * 12.5, 0, 50), (20, 1)).astype(np.float32)  # 4 px ramp
    s1, s3 = boundary_pairs(ramp_img, inside, ~inside)
    assert step_sharpness(s1, s3) < 0.5


@pytest.mark.parametrize("scene", [texture_scene, object_scene])
def test_seam_flags_a_pasted_patch_not_a_soft_defect(scene):
    n, e, m = scene()
    texture = scene is texture_scene  # as the judge calls it (objects keep their own seam line)
    assert seam_term(make_views(n, e, m), texture=texture).value == 1.0
    pasted, patch = corrupt.hard_seam(n, e, m, np.random.default_rng(0))
    t = seam_term(make_views(n, pasted, patch), texture=texture)
    assert t.value < 0.5 and t.parameter == "blend"


# --- texture ---------------------------------------------------------------------------
def test_texture_fails_flat_and_upscaled_defects_with_advice():
    n, e, m = texture_scene(size=160)
    assert texture_term(make_views(n, e, m)).value == 1.0
    flat, _ = corrupt.flat_blob(n, e, m)
    t = texture_term(make_views(n, flat, m))
    assert t.value < 0.5 and (t.parameter, t.direction) == ("texture", "increase")
    big, bigm = corrupt.scale_up(n, e, m, 4.0)
    v = make_views(n, big, bigm)
    assert resolution_ratio(v) < 0.3 and texture_term(v).value < 0.5


def test_texture_fails_a_much_noisier_patch():
    rng = np.random.default_rng(1)
    n = np.clip(120 + rng.normal(0, 0.6, (128, 128)), 0, 255).astype(np.uint8)
    e, m = n.copy(), np.zeros((128, 128), bool)
    m[44:84, 44:84] = True
    e[m] = np.clip(90 + rng.normal(0, 60, int(m.sum())), 0, 255).astype(np.uint8)
    t = texture_term(make_views(n, e, m))
    assert t.value < 0.5 and t.direction == "decrease"


# --- colour ----------------------------------------------------------------------------
def test_color_checks_the_knowledge_base_relation():
    n, e, m = texture_scene()
    v = make_views(n, e, m)  # the scene's defect is darker
    assert color_term(v, "darker").value == 1.0 and color_term(v, None).value == 1.0
    t = color_term(v, "lighter")
    assert t.value < 0.5 and (t.parameter, t.direction) == ("color", "lighter")


# --- shape -----------------------------------------------------------------------------
def test_shape_measures_follow_the_knowledge_base_conventions():
    m = np.zeros((100, 200), bool)
    m[40:50, 20:60] = True  # 40 x 10 px
    assert extent_fraction(m) == pytest.approx(0.40, abs=0.02)
    assert aspect_ratio(m) == pytest.approx(4.0, rel=0.15)
    assert cover_fraction(m, np.ones_like(m)) == pytest.approx(0.02)


def test_shape_fails_a_defect_four_times_too_big():
    n, e, m = texture_scene(size=160)
    ok = shape_term(m, np.ones_like(m), size=(0.1, 0.3), aspect=(1.0, 2.5))
    assert ok.value == 1.0
    _, big = corrupt.scale_up(n, e, m, 4.0)
    t = shape_term(big, np.ones_like(big), size=(0.1, 0.3), aspect=(1.0, 2.5))
    assert t.value < 0.5 and (t.parameter, t.direction) == ("size", "decrease")
    tiny = np.zeros_like(m)
    tiny[80, 80] = True
    assert shape_term(tiny, np.ones_like(m), size=(0.1, 0.3)).direction == "increase"


def test_shape_fails_a_mask_covering_the_part():
    m = np.ones((64, 64), bool)
    m[:4] = False
    t = shape_term(m, np.ones_like(m))
    assert t.value == 0.0 and t.direction == "decrease"


def test_a_defect_the_knowledge_lets_span_the_part_may_cover_it():
    m = np.zeros((64, 64), bool)
    m[10:50, 10:50] = True
    fg = m.copy()  # the mask covers the whole part (a displaced component: old and new place)
    assert shape_term(m, fg, size=(0.1, 0.3)).value == 0.0
    assert shape_term(m, fg, size=(0.5, 1.0)).value == 1.0  # covers 39 % of the image
    assert shape_term(np.ones_like(m), fg, size=(0.5, 1.0)).value == 0.0  # but not the whole frame


def _bar_scene(fade: float = 1.0):
    """Dark board with a bright vertical bar (a lead); the edit removes the bar's lower half
    (a cut lead), or fades that removal to ``fade``."""
    rng = np.random.default_rng(3)
    normal = np.clip(60 + rng.normal(0, 2, (96, 96)), 0, 255).astype(np.uint8)
    normal[10:80, 44:52] = 200
    mask = np.zeros((96, 96), bool)
    mask[45:80, 42:54] = True
    removed = normal.copy()
    removed[45:80, 44:52] = normal[45:80, 30:38]  # board where the lead was
    edited = np.where(mask, np.round(normal + fade * (removed.astype(float) - normal)), normal).astype(np.uint8)
    return normal, edited, mask


def test_replacement_ratio_tells_a_removed_part_from_a_faded_removal():
    from anomalyagent.critic.appearance import replacement_ratio

    real, faded = make_views(*_bar_scene()), make_views(*_bar_scene(0.2))
    assert replacement_ratio(real) > 0.7 and replacement_ratio(faded) < 0.3
    # the contrast of the faded removal is still far above the grain: only the ratio sees it
    assert visibility_term(faded, 3.0, 1.0, replace_good=0.0).value >= 1.0 - STRENGTH_TIE
    assert visibility_term(faded, 3.0, 1.0, replace_good=0.5).value < 0.6
    see_through = visibility_term(faded, 3.0, 1.0, replace_good=1.0)
    assert see_through.value < 0.2 and see_through.direction == "increase" and "see-through" in see_through.text
    assert visibility_term(real, 3.0, 1.0, replace_good=0.5).value >= 1.0 - STRENGTH_TIE


# --- location --------------------------------------------------------------------------
def test_location_on_and_off_the_object():
    n, e, m = object_scene()
    fg = np.zeros_like(m)
    fg[20:108, 20:108] = True
    assert on_object_fraction(m, fg) == 1.0 and location_term(m, fg).value == 1.0
    moved, mm = corrupt.move(n, e, m, ~fg, np.random.default_rng(0))
    t = location_term(mm, fg)
    assert on_object_fraction(mm, fg) < 0.2 and t.value == 0.0 and t.direction == "move_onto_object"


def test_location_edge_defects_must_touch_the_part_border():
    m = np.zeros((100, 100), bool)
    m[45:55, 45:55] = True
    fg = np.ones_like(m)
    assert border_distance(m, fg, texture=True) == pytest.approx(0.45)
    t = location_term(m, fg, "edge", texture=True)
    assert t.value < 0.2 and t.direction == "move_to_edge"
    m2 = np.zeros_like(m)
    m2[0:8, 30:60] = True
    assert location_term(m2, fg, "edge", texture=True).value == 1.0
    obj = np.zeros_like(m)
    obj[20:80, 20:80] = True
    m3 = np.zeros_like(m)
    m3[20:26, 40:50] = True  # on the object's outline
    assert border_distance(m3, obj, texture=False) < 0.02
    assert location_term(m3, obj, "rim").value == 1.0
    assert location_term(m, fg, "surface", texture=True).value == 1.0


def test_moved_material_may_land_beside_the_part():
    part = np.zeros((100, 100), bool)
    part[20:70, 45:50] = True  # a lead
    tip = np.zeros_like(part)
    tip[70:74, 50:53] = True  # a bent tip's annotated new place: just beside it, on the board
    far = np.zeros_like(part)
    far[90:94, 5:8] = True
    assert location_term(tip, part, "lead", part=part).value == 0.0  # a plain edit must be on it
    assert location_term(tip, part, "lead", part=part, moved=True).value == 1.0
    assert location_term(far, part, "lead", part=part, moved=True).value == 0.0


def test_location_term_with_a_memo_is_the_same_and_reuses_the_masks():
    from anomalyagent.render.memo import RenderMemo

    rng = np.random.default_rng(3)
    fg, lead = _long_lead()
    case = fg & ~lead
    memo = RenderMemo()
    for i in range(60):
        m = np.zeros_like(fg)
        y, x = (int(v) for v in rng.integers(10, 180, 2))
        m[y:y + int(rng.integers(2, 30)), x:x + int(rng.integers(2, 30))] = True
        part = (lead, case, None)[i % 3]
        for moved in (False, True):
            for where in ("lead", "edge", "anywhere"):
                want = location_term(m, fg, where, part=part, moved=moved)
                got = location_term(m, fg, where, part=part, moved=moved, memo=memo)
                assert got.value == want.value and got.measured == want.measured and got.text == want.text
    assert len(memo) == 6 and memo.hits == 60 * 6 - 6  # one entry per (part, moved)


def _long_lead(h: int = 200):
    """A (h, h) object: a case (rows 20-100) and a 10 px wide lead under it (rows 100-160)."""
    fg = np.zeros((h, h), bool)
    fg[20:100, 50:150] = True
    fg[100:160, 96:106] = True
    part = np.zeros_like(fg)
    part[100:160, 96:106] = True
    return fg, part


def test_free_ends_continue_a_thin_piece_along_its_axis():
    from anomalyagent.critic.location import free_ends

    fg, part = _long_lead()
    ends = free_ends(part, fg, 10.0)
    ys, xs = np.nonzero(ends)
    assert ys.min() >= 150 and 165 <= ys.max() <= 176  # from the tip (row 159) downwards, ~10 px (+ the line's cap)
    assert xs.min() >= 90 and xs.max() <= 111  # about as wide as the lead
    loose = np.zeros_like(fg)
    loose[170:190, 20:26] = True  # a fragment touching nothing else of the object: no root, no continuation
    assert not free_ends(loose, fg | loose, 10.0).any()


def test_moved_material_may_land_further_beyond_a_thin_parts_end_than_beside_it():
    """A bent lead's tip beyond where the object mask lost the lead (a dark hole) still
    comes from the lead; the same tip as far to the side of the lead does not."""
    fg, part = _long_lead()
    below = np.zeros_like(fg)
    below[170:180, 97:105] = True  # 10-20 px past the tip; MOVED_REACH is 10 px here
    beside = np.zeros_like(fg)
    beside[130:138, 116:126] = True  # 10-20 px to the side
    assert location_term(below, fg, "lead", part=part).value == 0.0
    assert location_term(below, fg, "lead", part=part, moved=True).value == 1.0
    assert location_term(beside, fg, "lead", part=part, moved=True).value == 0.0
    # a compact (not thin) named part gets no continuation
    case = np.zeros_like(fg)
    case[20:100, 50:150] = True
    under = np.zeros_like(fg)
    under[112:122, 97:105] = True
    assert location_term(under, fg & ~part, "lead", part=case, moved=True).value == 0.0


def _case_with_lead():
    """A 100x100 object: a compact case (rows 10-50) and a 5 px lead under it (rows 50-90);
    the named lead part stops at row 70 (a product model that lost the lead in shadow)."""
    fg = np.zeros((100, 100), bool)
    fg[10:50, 25:75] = True
    fg[50:90, 48:53] = True
    part = np.zeros_like(fg)
    part[50:70, 48:53] = True
    return fg, part


def test_a_thin_part_counts_with_the_objects_thin_pieces():
    fg, part = _case_with_lead()
    end = np.zeros_like(fg)
    end[80:88, 48:53] = True  # on the object, on the lead beyond where its named part stops
    grown = thin_continuation(part, fg)
    assert grown[80:90, 48:53].all() and not grown[10:50, 25:75].any()  # the case stays out
    assert location_term(end, fg, "lead", part=part).value == 1.0
    on_case = np.zeros_like(fg)
    on_case[30:38, 40:45] = True  # a lead defect drawn on the case: still off the part
    assert location_term(on_case, fg, "lead", part=part).value == pytest.approx(0.15)
    stub = np.zeros_like(fg)
    stub[50:56, 80:84] = True
    fg2 = fg | stub
    assert thin_continuation(part, fg2)[50:56, 80:84].all()  # a lead stub the part model missed
    case = np.zeros_like(fg)
    case[10:50, 25:75] = True  # a compact part is never widened
    assert np.array_equal(thin_continuation(case, fg), case)
    big = np.ones((8, 8), bool)  # the same scene at 8x (800 px): the opening runs shrunk
    grown8 = thin_continuation(np.kron(part, big), np.kron(fg, big))
    assert grown8[640:720, 384:424].all() and not grown8[80:400, 200:600].any()


def test_size_is_full_within_twice_the_knowledge_range_and_zero_at_four_times():
    assert size_score(0.4, 0.05, 0.2) == 1.0  # twice the upper end: a chip along a whole case top
    assert size_score(0.075, 0.15, 0.4) == 1.0  # half the lower end: only a bent tip annotated
    assert size_score(0.8, 0.05, 0.2) == 0.0 and size_score(0.03, 0.15, 0.4) == pytest.approx(0.0, abs=1e-9)
    assert 0.0 < size_score(0.6, 0.05, 0.2) < 1.0


def test_seam_good_tightens_texture_seams_only():
    """The calibrated ``seam_good`` sets where a texture's seam term is full; objects keep
    0.25 (their real borders run along the part's own edges); zero from 0.45 on both."""
    from anomalyagent.critic.appearance import seam_value

    assert seam_value(0.2, 0.5, 1.2, texture=True, seam_good=0.25) == 1.0
    tight = seam_value(0.2, 0.5, 1.2, texture=True, seam_good=0.1)
    assert tight == pytest.approx((0.45 - 0.2) / (0.45 - 0.1))
    assert seam_value(0.2, 0.5, 1.2, texture=False, seam_good=0.1) == 1.0
    assert seam_value(0.05, 0.5, 1.2, texture=True, seam_good=0.1) == 1.0
    assert seam_value(0.45, 0.5, 1.2, texture=False) == 0.0 == seam_value(0.45, 0.5, 1.2, texture=True, seam_good=0.1)
    with pytest.raises(ValueError, match="seam_good"):
        Calibration(seam_good=0.5)


def test_strength_keeps_ranking_above_its_full_point():
    """Two edits that both clear the full point do not tie: the stronger scores higher,
    by at most STRENGTH_TIE; below the full point the ramp is the plain power law."""
    shares = [0.1, 0.5, 1.0, 1.2, 2.0, 5.0]
    for p in (0.5, 1.0):
        values = [strength_value(s, p) for s in shares]
        assert all(a < b for a, b in zip(values, values[1:]))
        assert all(min(1.0, s) ** p - STRENGTH_TIE <= v <= min(1.0, s) ** p for s, v in zip(shares, values))
    n, e, m = texture_scene()
    faded, fm = corrupt.fade(n, e, m, 0.5)
    strong, weak = visibility_term(make_views(n, e, m), 2.0, 1.0), visibility_term(make_views(n, faded, fm), 2.0, 1.0)
    assert weak.measured["cnr"] >= 2.0 and weak.value < strong.value  # both clear cnr_good 2


def test_views_difference_is_the_plain_delta_e_norm():
    from anomalyagent.critic.views import _lab, make_views

    rng = np.random.default_rng(4)
    for i in range(20):
        normal = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
        edited = normal.copy()
        y, x = (int(v) for v in rng.integers(5, 50, 2))
        edited[y:y + 9, x:x + 12] = rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)
        mask = np.zeros((64, 80), bool)
        mask[y:y + 9, x:x + 12] = True
        v = make_views(normal, edited, mask)
        y0, y1, x0, x1 = v.box
        lab_n, lab_e = _lab(normal[y0:y1, x0:x1]), _lab(edited[y0:y1, x0:x1])
        assert np.array_equal(v.diff, np.sqrt(((lab_e - lab_n) ** 2).sum(axis=2)).astype(np.float32))


def test_shape_measures_on_the_crop_equal_the_full_frame():
    """extent_fraction and aspect_ratio on the mask's crop give the full-frame values
    (masks at the frame's edges, several pieces, pieces of equal area)."""
    import cv2

    def plain_points(m8):
        contours, _ = cv2.findContours(m8, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        return np.concatenate(contours) if contours else np.zeros((0, 1, 2), np.int32)

    def plain_extent(mask):
        pts = plain_points(mask.view(np.uint8))
        if len(pts) == 0:
            return 0.0
        (_, _), (rw, rh), _ = cv2.minAreaRect(pts)
        return float(min(1.0, max(rw, rh, 1.0) / min(mask.shape)))

    def plain_aspect(mask):
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
        if n <= 1:
            return 1.0
        big = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        x, y, w, h = stats[big, :4]
        (_, _), (rw, rh), _ = cv2.minAreaRect(plain_points((labels[y:y + h, x:x + w] == big).view(np.uint8)))
        return float(max(rw, rh, 1.0) / max(min(rw, rh), 1.0))

    rng = np.random.default_rng(8)
    for i in range(300):
        h, w = (int(v) for v in rng.integers(20, 200, 2))
        m = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(0, 4))):
            cv2.ellipse(m, (int(rng.integers(-10, w + 10)), int(rng.integers(-10, h + 10))),
                        (int(rng.integers(1, 40)), int(rng.integers(1, 40))), float(rng.uniform(0, 180)), 0, 360, 1, -1)
        if i % 5 == 0:  # two pieces of the same area
            y, x = int(rng.integers(0, h - 4)), int(rng.integers(0, w - 10))
            m[y:y + 3, x:x + 3] = 1
            m[y + 1:y + 4, x + 6:x + 9] = 1
        if i % 7 == 0:
            m |= (rng.random((h, w)) < 0.02).astype(np.uint8)
        mask = m > 0
        assert extent_fraction(mask) == plain_extent(mask), i
        assert aspect_ratio(mask) == plain_aspect(mask), i
