"""Structural families on a synthetic component scene (a dark case with three metal
leads on a perforated or plain board): warp moves the part's pixels, displace's mask
covers the old and the new place, missing shows the background, not black."""
from __future__ import annotations

import numpy as np
import pytest

from anomalyagent.change import delta_e
from anomalyagent.render import render
from anomalyagent.render.background import background_plate
from anomalyagent.render.scene import Scene, select_part
from anomalyagent.synthetic import component_scene, spec_for

BOARDS = ("perforated", "plain")


def scene_for(board, parts=True):
    image, masks = component_scene(256, 0, board)
    if not parts:
        return image, masks, Scene()
    return image, masks, Scene(foreground=masks["object"], parts={"lead": masks["lead"], "case": masks["case"]})


def board_like(pixels, image, masks):
    """Share of ``pixels`` (N, 3) whose colour is within 40 (max channel) of some board pixel
    colour cluster: the copper or the dark holes/tracks of the board."""
    board = image[~masks["object"]].astype(np.int16)
    ref = np.unique((board // 16) * 16 + 8, axis=0)
    q = pixels.astype(np.int16)
    d = np.abs(q[:, None, :] - ref[None, :, :]).max(axis=2).min(axis=1)
    return float((d <= 24).mean())


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("parts", [True, False], ids=["part_mask", "colour_estimate"])
def test_warp_moves_the_pixels_of_the_part(board, parts):
    image, masks, scene = scene_for(board, parts)
    spec = spec_for("warp", center=(0.62, 0.8), size=0.3, intensity=0.8, params={"part": "lead", "bend": 35.0})
    edited, alpha = render(image, spec, np.random.default_rng(0), scene)
    right = masks["lead"] & (np.arange(256)[None, :] > 0.56 * 256)
    lower = right & (np.arange(256)[:, None] > 0.75 * 256)
    # The far end of the lead left its place: those pixels now look like board.
    gone = lower & (alpha > 0.5)
    assert gone.sum() > 0.5 * lower.sum()
    assert board_like(edited[gone], image, masks) > 0.8
    # ...and lead-coloured pixels appear where there was board.
    metal = (edited.astype(np.int16).min(axis=2) > 130) & ~masks["object"]
    assert metal.sum() > 0.3 * lower.sum()
    # The case and the other leads stay as they were.
    assert np.array_equal(edited[masks["case"]], image[masks["case"]])


@pytest.mark.parametrize("board", BOARDS)
def test_displace_mask_covers_old_and_new_place(board):
    image, masks, scene = scene_for(board)
    spec = spec_for("displace", center=(0.5, 0.3), size=0.4, params={"part": "case", "mode": "rotate", "rotation": 30.0})
    edited, alpha = render(image, spec, np.random.default_rng(0), scene)
    old = masks["case"]
    assert (alpha[old] > 0.5).mean() > 0.99
    # New place: the rotated case's corners stick out of the old rectangle onto the board.
    new_dark = (edited.astype(np.int16).max(axis=2) < 90) & ~old & (np.arange(256)[:, None] < 0.6 * 256)
    board_dark = (image.astype(np.int16).max(axis=2) < 90) & ~old & (np.arange(256)[:, None] < 0.6 * 256)
    stuck_out = new_dark & ~board_dark
    assert stuck_out.sum() > 200
    assert (alpha[stuck_out] > 0.5).mean() > 0.95
    # Every masked pixel changed (the alpha contract), nothing far away did.
    diff = np.abs(edited.astype(np.int16) - image.astype(np.int16)).max(axis=2)
    assert (diff[alpha > 0.5] > 0).all()
    far = np.zeros_like(old)
    far[200:, :] = True
    assert np.array_equal(edited[far & ~masks["lead"]], image[far & ~masks["lead"]])


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("extent,part", [("part", "case"), ("tip", "lead")])
def test_missing_shows_background_not_black(board, extent, part):
    image, masks, scene = scene_for(board)
    center = (0.5, 0.3) if part == "case" else (0.62, 0.75)
    spec = spec_for("missing", center=center, size=0.3, params={"extent": extent, "part": part, "cut": 0.4})
    edited, alpha = render(image, spec, np.random.default_rng(0), scene)
    removed = masks[part] & (alpha > 0.5)
    assert removed.sum() > (0.9 if extent == "part" else 0.3) * (masks[part].sum() if extent == "part" else masks["lead"].sum() / 3)
    pixels = edited[removed]
    assert board_like(pixels, image, masks) > 0.85
    if board == "plain":  # no dark board features: nothing black where the part was
        assert float(np.percentile(pixels.astype(np.float32).mean(axis=1), 5)) > 90


def test_missing_blob_at_object_edge_reveals_board():
    image, masks, scene = scene_for("plain")
    spec = spec_for("missing", center=(0.32, 0.3), size=0.2, color="lighter", params={"fill": "background"})
    edited, alpha = render(image, spec, np.random.default_rng(1), scene)
    inside = masks["case"] & (alpha > 0.5) & (delta_e(image, edited) > 10)
    assert inside.sum() > 100
    assert board_like(edited[inside], image, masks) > 0.8


def test_background_plate_uses_a_registered_normal_image():
    image, masks = component_scene(256, 0, "plain")
    # Another normal image of the "category" with the part shifted away.
    image, masks = component_scene(256, 0, "perforated")
    # The same board with the part elsewhere: the part's place filled with board from four
    # board periods away (the pitch is 256 / 7 px), the part pasted 110 px to the right.
    base, base_masks = component_scene(256, 3, "perforated")
    obj = base_masks["object"]
    other = base.copy()
    other[obj] = np.roll(base, int(round(4 * 256 / 7)), axis=1)[obj]
    other_fg = np.roll(obj, 110, axis=1)
    other[other_fg] = np.roll(base, 110, axis=1)[other_fg]
    hole = masks["case"]
    scene = Scene(foreground=masks["object"], normals=(other,), normal_masks=(other_fg,))
    plate, source = background_plate(image, hole, scene, np.random.default_rng(0))
    assert source == "normal"
    assert board_like(plate[hole], image, masks) > 0.9
    # The other image's board, registered: it matches ours better than ours varies.
    ring = ~masks["object"] & ~other_fg & (np.abs(np.arange(256)[None, :] - 128) < 80) & (np.arange(256)[:, None] < 140)
    ours = image[ring].astype(np.float32)
    assert float(np.abs(plate[ring].astype(np.float32) - ours).mean()) < 0.5 * float(ours.std()) + 2.0


def test_select_part_prefers_the_named_part_component():
    image, masks, scene = scene_for("perforated")
    part = select_part(image, (0.62, 0.8), 30.0, scene, "lead")
    assert part.sum() > 100 and (part & masks["lead"]).sum() == part.sum()
    assert part[:, : int(0.56 * 256)].sum() == 0  # only the right-hand lead


def test_split_shows_the_background_in_the_gap():
    """A nut-like part on a dark cloth split in two: the gap shows the cloth, and the mask
    covers the gap and the moved piece."""
    from anomalyagent.synthetic import object_rgb

    image = object_rgb(256)
    yy, xx = np.mgrid[0:256, 0:256] / 256.0
    fg = ((xx - 0.5) / 0.38) ** 2 + ((yy - 0.52) / 0.42) ** 2 < 1.0
    spec = spec_for("split", center=(0.5, 0.5), size=0.9, intensity=0.8)
    edited, alpha = render(image, spec, np.random.default_rng(1), Scene(foreground=fg))
    inner = fg & (np.hypot(xx - 0.5, yy - 0.52) < 0.3)
    cloth = edited.astype(np.int16).max(axis=2) < 70  # the dark background
    gap = inner & cloth
    assert gap.sum() > 300  # a wide gap, not a hairline
    assert (alpha[gap] > 0.5).mean() > 0.97  # all but the anti-aliased rim of what stayed
    # The moved piece keeps the part's colours (it was moved, not repainted).
    piece = inner & (alpha > 0.5) & ~cloth
    assert piece.sum() > 1000 and float(edited[piece][:, 0].mean()) > 100


def test_split_on_a_texture_is_a_dark_recess():
    from anomalyagent.synthetic import texture_gray

    image = texture_gray(128)
    edited, alpha = render(image, spec_for("split", center=(0.5, 0.5), size=0.5, intensity=0.8), np.random.default_rng(0))
    changed = alpha > 0.5
    assert changed.sum() > 50
    assert float(edited[changed].mean()) < float(image[changed].mean())


def test_part_centroid_is_part_axis_centre_bit_for_bit():
    from anomalyagent.render.structure import part_axis, part_centroid

    rng = np.random.default_rng(11)
    for i in range(50):
        mask = rng.random((int(rng.integers(2, 90)), int(rng.integers(2, 90)))) < rng.uniform(0.01, 1.0)
        if mask.sum() == 0:
            continue
        assert np.array_equal(part_centroid(mask), part_axis(mask)[0]), i


def test_displace_resamples_the_moved_part_bicubically(monkeypatch):
    """A rotated part keeps its pixel-scale detail (the critic's resolution check): bicubic
    keeps more of a fine grain's high-pass energy than bilinear, and displace uses it."""
    import cv2

    import anomalyagent.render.families.displace as displace_module
    from anomalyagent.render.structure import affine_layer, rotation_about

    rng = np.random.default_rng(2)
    grain = np.clip(128 + rng.normal(0, 20, (96, 96, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((96, 96), bool)
    mask[24:72, 24:72] = True
    matrix = rotation_about(np.array([47.5, 47.5]), 33.0)

    def detail(img):
        f = img.astype(np.float32)
        return float(np.std((f - cv2.GaussianBlur(f, (0, 0), 1.0))[34:62, 34:62]))

    linear = affine_layer(grain, mask, matrix)[0]
    cubic = affine_layer(grain, mask, matrix, cv2.INTER_CUBIC)[0]
    assert detail(cubic) > 1.15 * detail(linear)
    seen = []

    def spy(*args, **kwargs):
        seen.append(args[3] if len(args) > 3 else kwargs.get("interpolation"))
        return affine_layer(*args, **kwargs)

    monkeypatch.setattr(displace_module, "affine_layer", spy)
    image, masks = component_scene(96, 0)
    spec = spec_for("displace", center=(0.5, 0.3), params={"mode": "rotate", "whole": "true"})
    render(image, spec, np.random.default_rng(0), Scene(foreground=masks["object"]))
    assert seen == [cv2.INTER_CUBIC]
