"""render/blend.py's optical edge: an edit's border spreads like a camera edge (two or
more pixels), its interior keeps its detail, and a hard blend stays a one-pixel step.

The sharpness measure is the critic's own (critic/appearance.py: share of the step across
the mask boundary that happens between two adjacent pixels; 1 for a binary cut-out,
~0.3-0.5 for camera edges)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from anomalyagent.critic.appearance import boundary_pairs, seam_term, step_sharpness
from anomalyagent.critic.views import lightness, make_views
from anomalyagent.foreground import foreground
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.planning import sample_spec
from anomalyagent.render import RENDERERS, render
from anomalyagent.render.blend import EDGE_BAND, finish, optical_edge, visibility_alpha, window_for
from anomalyagent.render.shapes import Box
from anomalyagent.synthetic import object_image, object_rgb, spec_for


def _grey(seed: int = 0, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(120.0 + rng.normal(0.0, 3.0, (size, size)), 0, 255).astype(np.uint8)


def _sharpness(image: np.ndarray, mask: np.ndarray) -> float:
    lum = lightness(image)
    s1, s3 = boundary_pairs(lum, mask, ~mask)
    return step_sharpness(s1, s3)


def test_optical_edge_spreads_a_one_pixel_step_and_keeps_the_interior():
    before = _grey()
    square = np.zeros(before.shape, bool)
    square[20:44, 20:44] = True
    after = before.copy()
    after[square] = before[square] - 50
    alpha = visibility_alpha(before, after, window_for(before.shape))
    assert _sharpness(after, alpha > 0.5) > 0.9  # as drawn: a cut-out
    soft = optical_edge(before, after, alpha)
    assert soft.dtype == np.uint8 and soft.shape == after.shape
    new_alpha = visibility_alpha(before, soft, window_for(before.shape))
    assert _sharpness(soft, new_alpha > 0.5) < 0.65
    # The outline stays where it was (the spread is symmetric about alpha = 0.5).
    assert abs(int((new_alpha > 0.5).sum()) - int(square.sum())) < 0.1 * square.sum()
    k = np.ones((2 * EDGE_BAND + 7, 2 * EDGE_BAND + 7), np.uint8)
    interior = cv2.erode(square.astype(np.uint8), k).astype(bool)
    outside = ~cv2.dilate(square.astype(np.uint8), k).astype(bool)
    assert np.array_equal(soft[interior], after[interior])
    assert np.array_equal(soft[outside], before[outside])


def test_optical_edge_leaves_an_invisible_edit_alone():
    before = _grey(1)
    after = before.copy()
    after[30, 30] += 1
    alpha = np.zeros(before.shape, np.float32)
    assert np.array_equal(optical_edge(before, after, alpha), after)


def test_finish_gives_a_binary_weight_a_camera_edge_unless_told_not_to():
    image = np.repeat(_grey(2)[:, :, None], 3, axis=2)
    box = Box(16, 48, 16, 48)  # y0, y1, x0, x1
    target = np.full((32, 32, 3), 60.0, np.float32)
    weight = np.zeros((32, 32), np.float32)
    weight[6:26, 6:26] = 1.0
    hard, hard_alpha = finish(image, box, target, weight, edge=False)
    soft, soft_alpha = finish(image, box, target, weight)
    assert _sharpness(hard, hard_alpha > 0.5) > 0.9
    assert _sharpness(soft, soft_alpha > 0.5) < 0.65


@pytest.mark.parametrize("defect", ["crack", "hole"])
def test_planned_feather_renders_pass_the_seam_term_and_hard_ones_fail_it(defect):
    """The regression behind the reverse-synthesis fixtures: knowledge-base hazelnut
    defects on the 96 px test part. Before the optical edge, their feathered borders were
    one-pixel steps and the critic's seam term rejected them (value 0)."""
    entry = KnowledgeBase.default().lookup("hazelnut", defect).entry
    for seed in range(4):
        rng = np.random.default_rng(seed)
        normal = object_image(rng, 96)
        spec = sample_spec(entry, normal, foreground(normal, "object"), rng)
        values = {}
        for blend in ("feather", "hard"):
            edited, alpha = render(normal, spec.replace(blend=blend), np.random.default_rng(seed))
            values[blend] = seam_term(make_views(normal, edited, alpha > 0.5), texture=False).value
        assert values["feather"] >= 0.5, (seed, values)
        assert values["hard"] < 0.2, (seed, values)


def test_every_family_renders_a_feathered_border_the_seam_term_accepts():
    image = object_rgb(256)
    failing = {}
    for family in RENDERERS.names():
        edited, alpha = render(image, spec_for(family), np.random.default_rng(1))
        value = seam_term(make_views(image, edited, alpha > 0.5), texture=False).value
        if value < 0.5:
            failing[family] = round(value, 2)
    assert not failing, failing
