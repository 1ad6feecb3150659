"""render/poisson.py and the Poisson paths of render/blend.py: the sine-transform solve
gives cv2.seamlessClone's result, and the fast paths (a widened rectangle, the keep_colour
step on the region's box with a pyramid blur) stay within a stated distance of the
full-resolution reference built here from cv2.seamlessClone and the original code."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from anomalyagent.render.blend import clone_grow, composite, poisson_clone
from anomalyagent.render.poisson import clone_rect, fast_span, solve_dirichlet
from anomalyagent.render.structure import affine_layer, rotation_about
from anomalyagent.synthetic import component_scene, object_rgb, texture_gray

SCENE, MASKS = component_scene(256, 0)


def _moved_case(angle: float = 25.0, shift=(18.0, -10.0)):
    """(image, moved layer, coverage (H, W) float, case mask): the component scene's case
    rotated and shifted (a misplaced part, as displace moves it)."""
    case = MASKS["case"]
    ys, xs = np.nonzero(case)
    matrix = rotation_about(np.array([xs.mean(), ys.mean()]), angle, shift)
    moved, cov = affine_layer(SCENE, case, matrix, cv2.INTER_CUBIC)
    cov = np.clip((cov - 0.5) * 4.0 + 0.5, 0.0, 1.0)  # relocate's hard-edged coverage
    return SCENE, moved, cov, case


def _tight(region: np.ndarray):
    reg = region.copy()
    reg[:2], reg[-2:], reg[:, :2], reg[:, -2:] = False, False, False, False
    ys, xs = np.nonzero(reg)
    return reg, (int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1)


def _opencv_clone(dst, src, region, mixed=False):
    """The reference: cv2.seamlessClone over ``region`` (as render/blend.py called it before)."""
    reg, (y0, y1, x0, x1) = _tight(region)
    center = (x0 + (x1 - x0) // 2, y0 + (y1 - y0) // 2)
    out = cv2.seamlessClone(src, dst, reg.astype(np.uint8) * 255, center, cv2.MIXED_CLONE if mixed else cv2.NORMAL_CLONE)
    return np.where(reg[:, :, None], out, dst), reg


def _reference_composite(image, layer, cov, keep_colour):
    """composite(..., "poisson") as it was: cv2.seamlessClone, then the keep_colour step at
    full resolution on the whole image."""
    k = clone_grow(image.shape)
    square = np.ones((2 * k + 1, 2 * k + 1), np.uint8)
    region = cv2.dilate((cov > 0.5).astype(np.uint8), square).astype(bool)
    out, _ = _opencv_clone(image, layer, region)
    if keep_colour:
        core = cv2.erode((cov > 0.5).astype(np.uint8), square).astype(np.float32)
        wgt = cv2.GaussianBlur(core, (0, 0), max(1.0, k / 2.0))[:, :, None]
        lf, of = layer.astype(np.float32), out.astype(np.float32)
        shift = cv2.GaussianBlur(lf - of, (0, 0), max(2.0, 2.0 * k))
        out = np.clip(np.round(of + wgt * shift), 0, 255).astype(np.uint8)
    return out, region, cv2.erode((cov > 0.5).astype(np.uint8), square).astype(bool)


@pytest.mark.parametrize("mixed", [False, True])
def test_clone_rect_is_opencvs_seamless_clone(mixed):
    # The case pasted 20 px lower: NORMAL and MIXED clone over the region's own rectangle.
    src = np.roll(SCENE, 20, axis=0)
    region = cv2.dilate(np.roll(MASKS["case"], 20, axis=0).astype(np.uint8), np.ones((11, 11), np.uint8)).astype(bool)
    ref, reg = _opencv_clone(SCENE, src, region, mixed)
    _, (y0, y1, x0, x1) = _tight(region)
    ours = SCENE.copy()
    solved = clone_rect(SCENE[y0:y1, x0:x1], src[y0:y1, x0:x1], reg[y0:y1, x0:x1], mixed)
    ours[y0:y1, x0:x1][reg[y0:y1, x0:x1]] = solved[reg[y0:y1, x0:x1]]
    d = np.abs(ours.astype(int) - ref.astype(int))[reg]
    assert d.max() <= 1 and (d == 0).mean() > 0.98, (d.max(), (d == 0).mean())
    # and it is a real blend: far from a plain paste near the border
    assert np.abs(ours.astype(int) - src.astype(int))[reg].mean() > 5.0


def test_poisson_clone_with_a_widened_rectangle_stays_near_opencv():
    # poisson_clone widens the rectangle to a fast transform length: the border moves out
    # by a few px, the result moves little (measured here: mean 0.2, max 6 grey levels).
    image, moved, cov, _ = _moved_case()
    k = clone_grow(image.shape)
    region = cv2.dilate((cov > 0.5).astype(np.uint8), np.ones((2 * k + 1, 2 * k + 1), np.uint8)).astype(bool)
    ref, reg = _opencv_clone(image, moved, region)
    ours, note = poisson_clone(image, moved, region)
    assert note == ""
    d = np.abs(ours.astype(int) - ref.astype(int))[reg]
    assert d.mean() < 0.6 and d.max() <= 12, (d.mean(), d.max())
    assert (ours[~reg] == image[~reg]).all()


def test_grey_images_are_cloned_per_plane():
    grey = texture_gray(96)
    src = np.roll(grey, 9, axis=1) // 2 + 60
    region = np.zeros(grey.shape, bool)
    region[30:70, 20:75] = True
    out_grey, _ = poisson_clone(grey, src, region)
    out_rgb, _ = poisson_clone(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB), cv2.cvtColor(src, cv2.COLOR_GRAY2RGB), region)
    assert out_grey.ndim == 2 and (out_rgb[:, :, 0] == out_grey).all() and (out_rgb[:, :, 2] == out_grey).all()


def test_solve_dirichlet_inverts_the_5_point_laplacian():
    rhs = np.random.default_rng(0).normal(size=(2, 37, 54)).astype(np.float32)
    u = np.pad(solve_dirichlet(rhs.copy()).astype(np.float64), ((0, 0), (1, 1), (1, 1)))
    lap = u[:, :-2, 1:-1] + u[:, 2:, 1:-1] + u[:, 1:-1, :-2] + u[:, 1:-1, 2:] - 4.0 * u[:, 1:-1, 1:-1]
    assert np.abs(lap - rhs).max() < 1e-3


def test_fast_span_widens_to_a_smooth_length_inside_the_image():
    for a0, a1, size in [(14, 229, 256), (0, 179, 256), (200, 256, 256), (3, 40, 41), (5, 12, 300)]:
        b0, b1 = fast_span(a0, a1, size)
        assert 0 <= b0 <= a0 and a1 <= b1 <= size
        n = b1 - b0 - 1
        for p in (2, 3, 5, 7):
            while n % p == 0:
                n //= p
        assert n == 1 or (b0, b1) == (a0, a1)
    assert fast_span(10, 190, 256) == (10, 191)  # 180 - 1 = 179 is prime: one more px


def test_keep_colour_fast_path_matches_the_full_resolution_reference():
    # The speed path (sine-transform solve on a widened box, keep_colour on the region's
    # box with a pyramid blur) against cv2.seamlessClone + the full-image keep_colour step.
    image, moved, cov, _ = _moved_case()
    ours, note = composite(image, moved, cov, "poisson", keep_colour=True)
    ref, region, core = _reference_composite(image, moved, cov, keep_colour=True)
    assert note == ""
    band = region & ~core
    d = np.abs(ours.astype(int) - ref.astype(int)).mean(axis=2)
    assert d[band].mean() < 0.6 and d[core].mean() < 0.3 and d.max() <= 12, (d[band].mean(), d[core].mean(), d.max())
    assert (ours[~region] == image[~region]).all()


def test_keep_colour_keeps_the_part_and_blends_only_the_seam():
    # A case moved onto the board: inside the part (its coverage eroded by the clone
    # margin) the moved pixels are kept; without keep_colour the plain Poisson clone
    # pulls them towards the board's colour; the seam band is a gradient blend, not the
    # feathered paste.
    image, moved, cov, _ = _moved_case()
    k = clone_grow(image.shape)
    square = np.ones((4 * k + 1, 4 * k + 1), np.uint8)
    deep = cv2.erode((cov > 0.5).astype(np.uint8), square).astype(bool)
    kept, _ = composite(image, moved, cov, "poisson", keep_colour=True)
    plain, _ = composite(image, moved, cov, "poisson")
    feather, _ = composite(image, moved, cov, "feather")
    in_kept = np.abs(kept.astype(int) - moved.astype(int))[deep].mean()
    in_plain = np.abs(plain.astype(int) - moved.astype(int))[deep].mean()
    assert in_kept < 1.5 and in_plain > 3.0 * in_kept, (in_kept, in_plain)
    ring = cv2.dilate((cov > 0.5).astype(np.uint8), np.ones((2 * k + 1, 2 * k + 1), np.uint8)).astype(bool) & ~deep
    assert np.abs(kept.astype(int) - feather.astype(int))[ring].mean() > 5.0


def test_mixed_clone_with_a_widened_rectangle_stays_near_opencv():
    # MIXED_CLONE (the surface families' Poisson): the striped part's gradients where they
    # are stronger than the board's, over a rectangle whose length (91 px) is not fast.
    src = object_rgb(256)
    region = np.zeros(src.shape[:2], bool)
    region[60:151, 50:170] = True
    ref, reg = _opencv_clone(SCENE, src, region, mixed=True)
    ours, note = poisson_clone(SCENE, src, region, mixed=True)
    d = np.abs(ours.astype(int) - ref.astype(int))[reg]
    assert note == "" and d.mean() < 0.6 and d.max() <= 12, (d.mean(), d.max())
    assert np.abs(ours.astype(int) - SCENE.astype(int))[reg].mean() > 3.0  # the blend did something


def test_keep_colour_on_a_grey_image_matches_the_rgb_result():
    image, moved, cov, _ = _moved_case()
    grey, grey_moved = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.cvtColor(moved, cv2.COLOR_RGB2GRAY)
    out, note = composite(grey, grey_moved, cov, "poisson", keep_colour=True)
    rgb, _ = composite(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB), cv2.cvtColor(grey_moved, cv2.COLOR_GRAY2RGB), cov,
                       "poisson", keep_colour=True)
    assert note == "" and out.shape == grey.shape and (rgb[:, :, 1] == out).all()
