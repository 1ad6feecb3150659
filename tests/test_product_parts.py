"""product/parts.py: the fast paths give the bytes of their plain versions."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from anomalyagent.product.parts import piece_shape, running_median, split_parts


def plain_piece_shape(piece: np.ndarray) -> tuple[float, float, float]:
    """The reference: the rectangle of ALL the piece's pixels."""
    ys, xs = np.nonzero(piece)
    (_, _), (w, h), angle = cv2.minAreaRect(np.stack([xs, ys], 1).astype(np.float32))
    length = float(max(w, h, 1.0))
    theta = angle if w >= h else angle + 90.0
    return length, max(float(len(xs)) / length, 1.0), float((-theta) % 180.0)


def random_shapes(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    out = []
    for i in range(n):
        m = np.zeros((int(rng.integers(20, 200)), int(rng.integers(20, 200))), np.uint8)
        if i % 3 == 0:
            cv2.ellipse(m, tuple(int(v) for v in rng.integers(0, 200, 2)), tuple(int(v) for v in rng.integers(1, 60, 2)),
                        float(rng.uniform(0, 180)), 0, 360, 1, -1)
        elif i % 3 == 1:
            cv2.line(m, tuple(int(v) for v in rng.integers(0, 200, 2)), tuple(int(v) for v in rng.integers(0, 200, 2)), 1,
                     int(rng.integers(1, 7)))
        else:
            m[:] = rng.random(m.shape) < rng.uniform(0.01, 0.9)
        if np.count_nonzero(m) >= 3:
            out.append(m > 0)
    return out


def test_piece_shape_from_the_rim_equals_all_pixels():
    for piece in random_shapes(np.random.default_rng(0), 150) + [np.ones((30, 40), bool)]:
        assert piece_shape(piece) == plain_piece_shape(piece)
        ys, xs = np.nonzero(piece)
        y0, x0 = int(ys.min()), int(xs.min())
        assert piece_shape(piece[y0:, x0:], (y0, x0)) == plain_piece_shape(piece)


def test_running_median_matches_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(1)
    for _ in range(300):
        values = rng.integers(0, 256, int(rng.integers(1, 120))).astype(np.int64)
        size = int(rng.integers(1, 40)) | 1
        got, want = running_median(values, size), ndimage.median_filter(values, size=size, mode="nearest")
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_split_parts_finds_thin_parts_beside_a_body():
    m = np.zeros((128, 128), np.uint8)
    cv2.rectangle(m, (40, 20), (88, 60), 1, -1)
    for x in (50, 64, 78):
        cv2.line(m, (x, 60), (x, 110), 1, 3)
    parts = split_parts(m > 0, 6)
    assert int(parts["lead_labels"].max()) == 3
    assert parts["body"][40, 64] and not parts["body"][100, 64] and parts["lead"][100, 64]


def test_rectangle_sides_snap_to_the_image_edge_but_not_where_parts_attach():
    """A body mask that lost 2 px of its right side (a shiny side) and gained 2 px on the
    left (a shadow) gets its sides back from the image's own edges; the bottom side, where
    the leads leave, stays where the mask put it even though the image's strongest edge
    there is 3 px lower (a shadow line under the case)."""
    guide = np.full((128, 128), 0.7, np.float32)
    guide[20:61, 40:89] = 0.1  # the case, rows 20..60, columns 40..88
    guide[61:64, 40:89] = 0.05  # its shadow below: a stronger step at row 63/64 than at 60/61
    for x in (50, 64, 78):
        guide[64:110, x - 1:x + 2] = 0.9
    mask = np.zeros((128, 128), np.uint8)
    mask[20:61, 38:87] = 1  # left side 2 px out, right side 2 px in
    for x in (50, 64, 78):
        cv2.line(mask, (x, 61), (x, 110), 1, 3)
    plain = split_parts(mask > 0, 6, rectangular=True)
    snapped = split_parts(mask > 0, 6, rectangular=True, guide=guide)
    cols = np.flatnonzero(snapped["body"][40])
    assert (cols.min(), cols.max()) == (40, 88)
    assert np.flatnonzero(plain["body"][:, 64]).max() == np.flatnonzero(snapped["body"][:, 64]).max() == 60
    assert int(snapped["lead_labels"].max()) == 3


def component_masks(rng: np.random.Generator, n: int, size: int = 128) -> list[np.ndarray]:
    """Bodies with leads, bumps, specks and stray pieces at random places (some at the frame edge)."""
    out = []
    for i in range(n):
        m = np.zeros((size, size + int(rng.integers(0, 40))), np.uint8)
        x, y = (int(v) for v in rng.integers(-10, size - 20, 2))
        cv2.rectangle(m, (x, y), (x + int(rng.integers(15, 70)), y + int(rng.integers(15, 60))), 1, -1)
        for _ in range(int(rng.integers(0, 5))):
            a, b = (tuple(int(v) for v in rng.integers(-5, size + 5, 2)) for _ in range(2))
            cv2.line(m, a, b, 1, int(rng.integers(1, 5)))
        for _ in range(int(rng.integers(0, 4))):
            cv2.circle(m, tuple(int(v) for v in rng.integers(0, size, 2)), int(rng.integers(1, 12)), 1, -1)
        if i % 4 == 0:
            m |= (rng.random(m.shape) < 0.01).astype(np.uint8)
        out.append(m)
    return out


def test_body_and_pieces_in_the_box_equals_the_full_frame():
    from anomalyagent.product.parts import _body_and_pieces, open_body, robust_rectangle

    for m in component_masks(np.random.default_rng(5), 120):
        for radius in (4, 6):
            body = open_body(m, radius)
            rect = robust_rectangle(body)[0].astype(np.uint8)
            for o, b in ((m, body), ((m & (1 - body)) | rect, rect)):
                fast, plain = _body_and_pieces(o, b, radius), _body_and_pieces(o, b, radius, crop=False)
                for got, want in zip(fast, plain):
                    assert got.dtype == want.dtype and np.array_equal(got, want)
