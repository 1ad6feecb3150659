"""product/leads.py: following a thin part past its tip, and back to the body over a gap; the
Python-float walk gives the numpy version's masks."""
from __future__ import annotations

import math

import cv2
import numpy as np

from anomalyagent.product.leads import (FLANK_PX, MIN_PIECE_PX, _add_to_object, _axis_toward, _best_heading,
                                        attach_roots, extend_thin_parts, thin_pieces)
from anomalyagent.product.parts import split_parts


def lead_scene(gap: int) -> dict[str, np.ndarray]:
    obj = np.zeros((128, 128), bool)
    obj[20:60, 40:90] = True  # body
    obj[60 + gap:95, 62:69] = True  # a lead, ``gap`` px off the body (its root in shadow)
    return split_parts(obj, 6)


def test_a_lead_is_followed_into_shadow_but_not_into_a_hole():
    parts = lead_scene(0)
    away = np.zeros((128, 128), bool)
    away[95:110, 62:69] = True  # the lead goes on in shadow ...
    yy, xx = np.mgrid[:128, :128]
    away |= (yy - 118) ** 2 + (xx - 65) ** 2 <= 12 ** 2  # ... into a hole wider than itself
    extend_thin_parts(parts, away)
    assert parts["object"][96:104, 63:68].all()  # the shadowed stretch, flanked by board
    assert not parts["object"][116:, :].any()  # deep in the hole both flanks are dark: stop


def test_a_lead_root_gap_is_closed_up_to_the_limit():
    parts = lead_scene(3)
    assert not parts["object"][60:63, 64:67].any()
    lead = parts["lead"].copy()
    attach_roots(parts, max_gap=6.0)
    assert parts["object"][60:63, 64:67].all() and parts["edge"][60:63, 64:67].all()
    assert not parts["object"][60:63, :58].any() and not parts["object"][60:63, 73:].any()
    assert np.array_equal(parts["lead"], lead)  # plans stay on the seen lead
    far = lead_scene(3)
    attach_roots(far, max_gap=2.0)  # a gap wider than the limit: another object, not a root
    assert not far["object"][60:63, 64:67].any()


def plain_thin_pieces(parts):
    """The reference: each label's pixels from its own full-frame comparison."""
    labels, body = parts.get("lead_labels"), parts.get("body")
    if labels is None or body is None or labels.max() == 0 or not body.any():
        return
    from_body = cv2.distanceTransform((~body).astype(np.uint8), cv2.DIST_L2, 3)
    for i in range(1, int(labels.max()) + 1):
        ys, xs = np.nonzero(labels == i)
        if len(xs) >= MIN_PIECE_PX:
            yield xs, ys, from_body[ys, xs]


def numpy_extend_thin_parts(parts: dict[str, np.ndarray], away: np.ndarray, share: float = 0.6,
                      tip_px: float = 10.0, half_width: float = 0.25, gap: int = 10) -> None:
    """The numpy version ``extend_thin_parts`` replaced (the reference)."""
    h, w = away.shape
    add = np.zeros((h, w), bool)
    for xs, ys, far in plain_thin_pieces(parts):
        end = far >= far.max() - 3.0  # the end of the part, not one corner of it
        tip = np.array([xs[end].mean(), ys[end].mean()], np.float64)
        axis = _best_heading(away, tip, _axis_toward(xs, ys, tip, tip_px))
        normal = np.array([-axis[1], axis[0]])
        length = float(far.max())
        half = max(1.0, half_width * len(xs) / max(length, 1.0))
        offs = np.arange(-np.ceil(half), np.ceil(half) + 1)
        lateral = np.array([0.0, -1.0, 1.0, -2.0, 2.0, -3.0, 3.0])
        # Candidates that leave the frame score -1 (their clipped reads are ignored).
        lat_x, lat_y = lateral * normal[0], lateral * normal[1]  # (7,)
        off_x, off_y = offs * normal[0], offs * normal[1]  # (k,)
        reach = float(np.abs(offs).max()) + 1.0
        # Flanks: just outside the part's own width on both sides. Both unlike the background
        # means the strip has run into a dark region wider than the part (a hole of the board
        # it is pushed into), where it can no longer be told from its surroundings: stop there.
        reach_out = 0.5 * len(xs) / max(length, 1.0) + FLANK_PX
        flank_x, flank_y = float(reach_out * normal[0]), float(reach_out * normal[1])

        def enclosed(x: float, y: float) -> bool:  # both flanks of the strip at (x, y) are unlike the background
            for fx, fy in ((x - flank_x, y - flank_y), (x + flank_x, y + flank_y)):
                col = min(max(math.floor(fx + 0.5), 0), w - 1)
                row = min(max(math.floor(fy + 0.5), 0), h - 1)
                if not away[row, col]:
                    return False
            return True

        def straight_ok(x: float, y: float) -> bool:  # the whole cross-section at (x, y) is inside
            return reach <= x < w - reach and reach <= y < h - reach

        def bridge(x: float, y: float, misses: int) -> None:  # fill the ``misses`` steps before (x, y)
            for back in range(1, misses + 1):
                mx = np.floor(x - back * axis[0] + off_x + 0.5).astype(np.intp)
                my = np.floor(y - back * axis[1] + off_y + 0.5).astype(np.intp)
                ok = (mx >= 0) & (mx < w) & (my >= 0) & (my < h)
                add[my[ok], mx[ok]] = True

        px, py, misses = float(tip[0]), float(tip[1]), 0
        for _ in range(int(length)):
            sx, sy = px + axis[0], py + axis[1]
            if straight_ok(sx, sy):  # fast path, same choice: lateral 0 comes first and scores the maximum
                cx0 = np.floor(sx + off_x + 0.5).astype(np.intp)
                cy0 = np.floor(sy + off_y + 0.5).astype(np.intp)
                if away[cy0, cx0].all() and not enclosed(sx, sy):
                    if misses:
                        bridge(sx, sy, misses)
                    misses = 0
                    px, py = sx, sy
                    add[cy0, cx0] = True
                    continue
            bx, by = sx + lat_x, sy + lat_y  # (7,) candidate centres
            cx = np.floor(bx[:, None] + off_x[None] + 0.5).astype(np.intp)  # (7, k)
            cy = np.floor(by[:, None] + off_y[None] + 0.5).astype(np.intp)
            inside = (cx.min(1) >= 0) & (cx.max(1) < w) & (cy.min(1) >= 0) & (cy.max(1) < h)
            if not inside.any():
                break
            hits = away[np.clip(cy, 0, h - 1), np.clip(cx, 0, w - 1)]
            score = np.where(inside, hits.mean(1), -1.0)
            k = int(np.argmax(score))
            if score[k] >= share and enclosed(float(bx[k]), float(by[k])):  # into a hole: the part ends here
                break
            if score[k] < share:  # a short break is allowed: a lead's shading changes along it
                misses += 1
                if misses > gap:
                    break
                px, py = float(bx[0]), float(by[0])
                continue
            if misses:  # bridge the break straight
                bridge(float(bx[k]), float(by[k]), misses)
            misses = 0
            px, py = float(bx[k]), float(by[k])
            row = hits[k] & inside[k]
            add[cy[k][row], cx[k][row]] = True
    add &= ~parts["object"]
    # Object (and its edge band) only: the lead part that plans use stays what was seen,
    # so a defect is not planned on an inferred stretch (which may run on into a hole).
    _add_to_object(parts, add)



def random_lead_scene(rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A body with 1-4 leads at random angles, and an ``away`` mask in which the leads go on
    (with breaks), run into holes, or stop, plus scattered dark pixels."""
    size = int(rng.integers(96, 200))
    obj = np.zeros((size, size), np.uint8)
    away = np.zeros((size, size), np.uint8)
    cx, cy = int(rng.integers(size // 3, 2 * size // 3)), int(rng.integers(size // 4, size // 2))
    bw, bh = int(rng.integers(size // 8, size // 4)), int(rng.integers(size // 10, size // 5))
    cv2.rectangle(obj, (cx - bw, cy - bh), (cx + bw, cy + bh), 1, -1)
    for _ in range(int(rng.integers(1, 5))):
        t = float(rng.uniform(0.2, np.pi - 0.2))
        x0, y0 = cx + int(rng.integers(-bw + 3, bw - 3)), cy + bh + int(rng.integers(0, 4))
        length, width = int(rng.integers(size // 6, size // 3)), int(rng.integers(2, 6))
        x1, y1 = int(x0 + np.cos(t) * length), int(y0 + np.sin(t) * length)
        cv2.line(obj, (x0, y0), (x1, y1), 1, width)
        x2, y2 = int(x1 + np.cos(t) * length * 0.6), int(y1 + np.sin(t) * length * 0.6)
        cv2.line(away, (x1, y1), (x2, y2), 1, width + int(rng.integers(-1, 2)))
        for _ in range(int(rng.integers(0, 3))):  # breaks in the shadowed stretch
            bx, by = int(rng.integers(min(x1, x2), max(x1, x2) + 1)), int(rng.integers(min(y1, y2), max(y1, y2) + 1))
            cv2.circle(away, (bx, by), int(rng.integers(1, 4)), 0, -1)
        if rng.random() < 0.5:  # a hole wider than the lead at its end
            cv2.circle(away, (x2, y2), int(rng.integers(4, 12)), 1, -1)
    noise = rng.random((size, size)) < 0.02
    parts = split_parts(obj > 0, max(2, size // 40))
    return parts, (away > 0) | noise


def test_extend_thin_parts_and_thin_pieces_give_the_numpy_versions_masks():
    rng = np.random.default_rng(11)
    walked = 0
    for i in range(120):
        parts, away = random_lead_scene(rng)
        if "lead_labels" not in parts:
            continue
        got = [tuple(a.tolist() for a in p) for p in thin_pieces(parts)]
        want = [tuple(a.tolist() for a in p) for p in plain_thin_pieces(parts)]
        assert got == want, i
        a, b = {k: v.copy() for k, v in parts.items()}, {k: v.copy() for k, v in parts.items()}
        extend_thin_parts(a, away, pieces=thin_pieces(a))
        numpy_extend_thin_parts(b, away)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a), i
        walked += int(not np.array_equal(a["object"], parts["object"]))
    assert walked >= 40  # most scenes extend some lead
