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


def thin_pieces(parts: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(xs, ys, distance from the body px) of each thin part of at least MIN_PIECE_PX
    pixels, in label order, each part's pixels in row-major order; empty when the model
    found no body or no thin part. ``attach_roots`` and ``extend_thin_parts`` take it
    computed once (neither changes the labels or the body)."""
    labels, body = parts.get("lead_labels"), parts.get("body")
    if labels is None or body is None or labels.max() == 0 or not body.any():
        return []
    from_body = cv2.distanceTransform((~body).astype(np.uint8), cv2.DIST_L2, 3)
    ys, xs = np.nonzero(labels)  # one pass: each label's pixels keep their row-major order
    of = labels[ys, xs]
    out = []
    for i in range(1, int(labels.max()) + 1):
        sel = of == i
        if np.count_nonzero(sel) >= MIN_PIECE_PX:
            out.append((xs[sel], ys[sel], from_body[ys[sel], xs[sel]]))
    return out


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
                      tip_px: float = 10.0, half_width: float = 0.25, gap: int = 10,
                      pieces: list | None = None) -> None:
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
    (not to the thin part itself). ``pieces``: ``thin_pieces(parts)`` when the caller has it.

    Speed: the walk reads a few pixels per step, so it runs on Python floats and a bytes
    copy of ``away`` (the same float64 sums in the same order as the numpy version it
    replaced, and the first best candidate as argmax takes it: same masks, ~3x faster).
    """
    h, w = away.shape
    add = np.zeros((h, w), bool)
    seen = np.ascontiguousarray(away, dtype=bool).tobytes()  # seen[r * w + c]: away[r, c]
    add_r: list[int] = []
    add_c: list[int] = []
    floor = math.floor
    for xs, ys, far in (thin_pieces(parts) if pieces is None else pieces):
        end = far >= far.max() - 3.0  # the end of the part, not one corner of it
        tip = np.array([xs[end].mean(), ys[end].mean()], np.float64)
        axis = _best_heading(away, tip, _axis_toward(xs, ys, tip, tip_px))
        normal = np.array([-axis[1], axis[0]])
        length = float(far.max())
        half = max(1.0, half_width * len(xs) / max(length, 1.0))
        offs = np.arange(-np.ceil(half), np.ceil(half) + 1)
        lateral = np.array([0.0, -1.0, 1.0, -2.0, 2.0, -3.0, 3.0])
        # Candidates that leave the frame score -1 (their clipped reads are ignored).
        lat_x, lat_y = (lateral * normal[0]).tolist(), (lateral * normal[1]).tolist()  # 7 each
        off_x, off_y = (offs * normal[0]).tolist(), (offs * normal[1]).tolist()  # k each
        k_len = len(off_x)
        reach = float(np.abs(offs).max()) + 1.0
        # Flanks: just outside the part's own width on both sides. Both unlike the background
        # means the strip has run into a dark region wider than the part (a hole of the board
        # it is pushed into), where it can no longer be told from its surroundings: stop there.
        reach_out = 0.5 * len(xs) / max(length, 1.0) + FLANK_PX
        flank_x, flank_y = float(reach_out * normal[0]), float(reach_out * normal[1])
        ax, ay = float(axis[0]), float(axis[1])

        def enclosed(x: float, y: float) -> bool:  # both flanks of the strip at (x, y) are unlike the background
            for fx, fy in ((x - flank_x, y - flank_y), (x + flank_x, y + flank_y)):
                col = min(max(floor(fx + 0.5), 0), w - 1)
                row = min(max(floor(fy + 0.5), 0), h - 1)
                if not seen[row * w + col]:
                    return False
            return True

        def bridge(x: float, y: float, misses: int) -> None:  # fill the ``misses`` steps before (x, y)
            for back in range(1, misses + 1):
                bx0, by0 = x - back * ax, y - back * ay
                for ox, oy in zip(off_x, off_y):
                    mx, my = floor(bx0 + ox + 0.5), floor(by0 + oy + 0.5)
                    if 0 <= mx < w and 0 <= my < h:
                        add_r.append(my)
                        add_c.append(mx)

        px, py, misses = float(tip[0]), float(tip[1]), 0
        for _ in range(int(length)):
            sx, sy = px + ax, py + ay
            if reach <= sx < w - reach and reach <= sy < h - reach:  # fast path, same choice: lateral 0 comes first and scores the maximum
                cx0 = [floor(sx + o + 0.5) for o in off_x]
                cy0 = [floor(sy + o + 0.5) for o in off_y]
                if all(seen[r * w + c] for r, c in zip(cy0, cx0)) and not enclosed(sx, sy):
                    if misses:
                        bridge(sx, sy, misses)
                    misses = 0
                    px, py = sx, sy
                    add_r.extend(cy0)
                    add_c.extend(cx0)
                    continue
            best_score, best = -2.0, None
            any_inside = False
            for j in range(7):  # candidate centres, the first best kept (as argmax)
                bx, by = sx + lat_x[j], sy + lat_y[j]
                cx = [floor(bx + o + 0.5) for o in off_x]
                cy = [floor(by + o + 0.5) for o in off_y]
                if min(cx) >= 0 and max(cx) < w and min(cy) >= 0 and max(cy) < h:
                    any_inside = True
                    hits = [seen[r * w + c] for r, c in zip(cy, cx)]
                    score = sum(hits) / k_len
                else:
                    hits, score = None, -1.0
                if score > best_score:
                    best_score, best = score, (bx, by, cx, cy, hits)
            if not any_inside:
                break
            bx, by, cx, cy, hits = best
            if best_score >= share and enclosed(bx, by):  # into a hole: the part ends here
                break
            if best_score < share:  # a short break is allowed: a lead's shading changes along it
                misses += 1
                if misses > gap:
                    break
                px, py = sx + lat_x[0], sy + lat_y[0]
                continue
            if misses:  # bridge the break straight
                bridge(bx, by, misses)
            misses = 0
            px, py = bx, by
            for r, c, hit in zip(cy, cx, hits):
                if hit:
                    add_r.append(r)
                    add_c.append(c)
    if add_r:
        add[np.array(add_r, np.intp), np.array(add_c, np.intp)] = True
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


def attach_roots(parts: dict[str, np.ndarray], max_gap: float, tip_px: float = 10.0,
                 pieces: list | None = None) -> None:
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
    for xs, ys, dist in (thin_pieces(parts) if pieces is None else pieces):
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
