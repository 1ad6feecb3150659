"""Following a product's thin parts (leads) beyond where the pixel classifier lost them.

A lead's end often lies in shadow where it enters the board, and there looks like the
board's own dark gaps, so no colour model calls it object; geometry says it continues.
All masks are (H, W) bool at the working side; directions are unit (x, y) vectors.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

FLANK_PX = 2.0  # flank samples this far (px) outside the part's half width (see extend_thin_parts)
MIN_PIECE_PX = 10  # thin parts smaller than this are not followed


def _thin_pieces(parts: dict[str, np.ndarray]):
    """(xs, ys, distance from the body px) of each thin part of at least MIN_PIECE_PX
    pixels; nothing when the model found no body or no thin part."""
    labels, body = parts.get("lead_labels"), parts.get("body")
    if labels is None or body is None or labels.max() == 0 or not body.any():
        return
    from_body = cv2.distanceTransform((~body).astype(np.uint8), cv2.DIST_L2, 3)
    for i in range(1, int(labels.max()) + 1):
        ys, xs = np.nonzero(labels == i)
        if len(xs) >= MIN_PIECE_PX:
            yield xs, ys, from_body[ys, xs]


def _axis_toward(xs: np.ndarray, ys: np.ndarray, point: np.ndarray, radius: float) -> np.ndarray:
    """Unit principal axis of the part's pixels within ``radius`` px of ``point``, pointing
    from their centre toward ``point`` (the part's own direction at its tip or root)."""
    near = np.hypot(xs - point[0], ys - point[1]) < radius
    pts = np.stack([xs[near], ys[near]], 1).astype(np.float64)
    centre = pts.mean(0)
    axis = np.linalg.svd(pts - centre, full_matrices=False)[2][0]
    return -axis if np.dot(point - centre, axis) < 0 else axis


def _add_to_object(parts: dict[str, np.ndarray], add: np.ndarray) -> None:
    """Add ``add`` to the object mask and its edge band (never to the thin part itself, so
    plans keep to what was seen)."""
    if add.any():
        parts["object"] = parts["object"] | add
        if "edge" in parts:
            parts["edge"] = parts["edge"] | add


def extend_thin_parts(parts: dict[str, np.ndarray], away: np.ndarray, share: float = 0.6,
                      tip_px: float = 10.0, half_width: float = 0.25, gap: int = 10) -> None:
    """Follow each thin part beyond its tip while a strip of its width continues, in place.

    Why: a lead's end often lies in shadow (where it enters the board) and there looks
    like the board's own dark gaps, so no colour model calls it object; but it continues
    the lead. From each thin part's tip (its pixel farthest from the body), step 1 px at a
    time along the tip's direction (principal axis of the part within ``tip_px`` of the
    tip; the tip is the centre of its pixels within 3 px of the farthest from the body),
    re-centring by up to 3 px sideways, while at least ``share`` of a cross-section
    ``2 * half_width`` times the part's mean width wide is ``away`` (H, W) bool (unlike the
    local background), bridging breaks of up to ``gap`` px (a lead's shading changes along
    it); at most the part's own length. The walk ends where both flanks of the strip (just
    outside the part's width) are ``away`` too: the part has run into a dark region wider
    than itself (a hole of the board it goes through) and ends there; what lies beyond is
    not bridged. Only ``away`` pixels (and bridges) are added, to the object and edge masks
    (not to the thin part itself).
    """
    h, w = away.shape
    add = np.zeros((h, w), bool)
    for xs, ys, far in _thin_pieces(parts):
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


def _best_heading(away: np.ndarray, tip: np.ndarray, axis: np.ndarray, reach: int = 20,
                  turn: float = 40.0) -> np.ndarray:
    """The unit direction within ``turn`` degrees of ``axis`` whose ray from ``tip`` (steps 3
    to ``reach`` px) crosses the most ``away`` pixels: a lead bent just at the tip keeps
    going in its new direction."""
    h, w = away.shape
    angles = np.deg2rad(np.arange(-turn, turn + 1e-6, 10.0))
    dirs = np.stack([axis[0] * np.cos(angles) - axis[1] * np.sin(angles),
                     axis[0] * np.sin(angles) + axis[1] * np.cos(angles)], 1)  # (A, 2)
    steps = np.arange(3, reach + 1, dtype=np.float64)
    xs = np.clip(np.floor(tip[0] + dirs[:, 0, None] * steps[None] + 0.5).astype(int), 0, w - 1)
    ys = np.clip(np.floor(tip[1] + dirs[:, 1, None] * steps[None] + 0.5).astype(int), 0, h - 1)
    score = away[ys, xs].mean(1) - 0.001 * np.abs(angles)  # ties: the straightest
    return dirs[int(np.argmax(score))]


def attach_roots(parts: dict[str, np.ndarray], max_gap: float, tip_px: float = 10.0) -> None:
    """Close the gap between each thin part and the body, in place (object and edge masks).

    Why: where a lead leaves the body it lies in the body's shadow, darker than the rest
    of it, and the classifier often loses its first few px, so the located lead floats
    just off the body. From the part's root (the centre of its pixels within 2 px of the
    closest to the body), a strip of the part's mean width is drawn along the part's own
    axis there (principal axis of its pixels within ``tip_px`` of the root, turned toward
    the body) until it meets the body, when the gap is at most ``max_gap`` px.
    """
    body = parts.get("body")
    if body is None:
        return
    h, w = body.shape
    add = np.zeros((h, w), bool)
    for xs, ys, dist in _thin_pieces(parts):
        gap = float(dist.min())
        if gap <= 1.5 or gap > max_gap:
            continue
        root_px = dist <= gap + 2.0
        root = np.array([xs[root_px].mean(), ys[root_px].mean()], np.float64)
        axis = _axis_toward(xs, ys, root, tip_px)  # from the part's inside toward its root
        normal = np.array([-axis[1], axis[0]])
        half = 0.5 * len(xs) / max(float(dist.max()) - gap, 1.0)  # mean half width
        offs = np.arange(-np.floor(half), np.floor(half) + 1)
        for step in range(int(np.ceil(gap)) + 2):
            cx = np.clip(np.floor(root[0] + step * axis[0] + offs * normal[0] + 0.5).astype(np.intp), 0, w - 1)
            cy = np.clip(np.floor(root[1] + step * axis[1] + offs * normal[1] + 0.5).astype(np.intp), 0, h - 1)
            add[cy, cx] = True
            if body[cy, cx].all():
                break
    add &= ~body
    _add_to_object(parts, add)
