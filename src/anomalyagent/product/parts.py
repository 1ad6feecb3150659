"""Parts of a product from its object mask: compact body, thin elongated parts, border, core, holes.

Geometry, not appearance, separates the parts, so the same rule holds for a transistor
(case + three leads), a screw (head + thread) or a nut (one body): a morphological
opening with a disc of radius ``radius`` keeps the compact body and drops everything
thinner than the disc; what it drops is a thin part when it is elongated and attached to
the body (a lead), and background clutter otherwise (a board hole merged with the case
outline is compact and small, so it goes). The border is a band inside the outline, the
core the inner half of the object, holes the background the object encloses.

All masks are (H, W) bool; lengths are px unless a name says ``_frac`` (fraction of
min(H, W)).
"""
from __future__ import annotations

import cv2
import numpy as np

THIN_ELONGATION = 3.0  # length / mean width above which a dropped piece counts as a thin part
KEEP_PIECE = 0.03
TRIM_WINDOW = 0.16  # running-median window of trim_bumps, as a fraction of min(H, W)  # a non-thin dropped piece is kept (an appendage) above this share of the object


def disk(radius: int) -> np.ndarray:
    r = max(1, int(radius))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def open_body(mask: np.ndarray, radius: int) -> np.ndarray:
    """Opening by a disc of ``radius`` px (uint8 0/1 in and out), run at half resolution:
    the body is a coarse notion and a large disc is slow at full size (about 1 ms this way)."""
    h, w = mask.shape
    if radius < 4:
        return cv2.morphologyEx(mask, cv2.MORPH_OPEN, disk(radius))
    small = cv2.resize(mask * 255, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    small = cv2.morphologyEx((small > 127).astype(np.uint8), cv2.MORPH_OPEN, disk(radius // 2))
    return (cv2.resize(small * 255, (w, h), interpolation=cv2.INTER_LINEAR) > 127).astype(np.uint8) & mask


def running_median(values: np.ndarray, size: int) -> np.ndarray:
    """Median over a centred window of odd ``size`` of a 1-D array, the ends repeated:
    ``scipy.ndimage.median_filter(values, size, mode="nearest")`` with the same values,
    without importing scipy (a fifth of a second on the first located image)."""
    half = size // 2
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(values, half, mode="edge"), size)
    return np.partition(windows, half, axis=1)[:, half].astype(values.dtype, copy=False)


def trim_bumps(mask: np.ndarray, window: int) -> np.ndarray:
    """Remove short excursions from a compact body's outline (uint8 0/1 in, bool out).

    Each row's leftmost and rightmost pixel, and each column's top and bottom pixel, are
    running-median filtered over ``window`` rows (columns); pixels outside the filtered
    extents go. A board hole glued to a case's side is a bump a few rows high and goes; a
    straight side, a corner or a smooth curve is (nearly) a monotone run of extents, which a
    median keeps. Only removes pixels, never adds.
    """
    keep = mask.astype(bool).copy()
    for axis in (0, 1):
        m = keep if axis == 0 else keep.T
        present = m.any(1)
        if present.sum() < 3:
            continue
        idx = np.flatnonzero(present)
        first = m[idx].argmax(1)
        last = m.shape[1] - 1 - m[idx][:, ::-1].argmax(1)
        w = max(3, min(int(window), len(idx)) | 1)
        lo = running_median(first, w)
        hi = running_median(last, w)
        cols = np.arange(m.shape[1])[None]
        band = np.zeros_like(m)
        band[idx] = (cols >= lo[:, None]) & (cols <= hi[:, None])
        keep &= band if axis == 0 else band.T
    return keep


def robust_rectangle(body: np.ndarray) -> tuple[np.ndarray, float]:
    """(rectangle mask (H, W) bool, rectangularity) of a compact body.

    The rectangle lies in the body's own frame (the angle of its minimum-area rectangle);
    each side sits at the MEDIAN of the body's extents over the rows (columns) of that
    frame, so a bump glued to a side (a board hole) or a corner rounded off by blurred
    features moves it little. Rectangularity: area of body AND rectangle over area of
    body OR rectangle (1 for a clean rectangle, about 0.8 for an ellipse).
    """
    b = body.astype(np.uint8)
    h, w = b.shape
    count = int(b.sum())
    if count < 16:
        return body.astype(bool), 0.0
    outline, _ = cv2.findContours(b, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)  # same hull as all pixels
    (cx, cy), _, angle = cv2.minAreaRect(np.concatenate(outline))
    turn = cv2.getRotationMatrix2D((float(cx), float(cy)), float(angle), 1.0)
    rot = cv2.warpAffine(b, turn, (w, h), flags=cv2.INTER_NEAREST) > 0
    rows, cols = np.flatnonzero(rot.any(1)), np.flatnonzero(rot.any(0))
    left = np.median(rot[rows].argmax(1))
    right = np.median(w - 1 - rot[rows][:, ::-1].argmax(1))
    top = np.median(rot[:, cols].argmax(0))
    bottom = np.median(h - 1 - rot[:, cols][::-1].argmax(0))
    rect = np.zeros((h, w), np.uint8)
    rect[int(round(top)):int(round(bottom)) + 1, int(round(left)):int(round(right)) + 1] = 1
    back = cv2.warpAffine(rect, cv2.invertAffineTransform(turn), (w, h), flags=cv2.INTER_NEAREST) > 0
    union = np.count_nonzero(back | (b > 0))
    return back, float(np.count_nonzero(back & (b > 0))) / max(1, union)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool ``mask`` with every background region not reached from the frame filled."""
    m = np.pad(mask.astype(np.uint8), 1) * 255
    flood = m.copy()
    cv2.floodFill(flood, np.zeros((m.shape[0] + 2, m.shape[1] + 2), np.uint8), (0, 0), 255)
    return ((m | cv2.bitwise_not(flood)) > 0)[1:-1, 1:-1]


def piece_shape(piece: np.ndarray, origin: tuple[int, int] = (0, 0)) -> tuple[float, float, float]:
    """(length px, mean width px, orientation deg) of one connected piece.

    Length is the longer side of the minimum-area rectangle (the chord of a bent lead),
    width is area / length; orientation is that side's angle, counter-clockwise from +x
    (the DefectSpec convention, image y pointing down). ``piece`` may be a crop whose
    top-left pixel is ``origin`` (y, x) in the frame: the points stay in frame coordinates.
    """
    p8 = (np.asarray(piece) != 0).astype(np.uint8)
    area = int(np.count_nonzero(p8))
    if area < 3:
        return float(area), 1.0, 0.0
    # The rectangle depends only on the convex hull, and every pixel on the hull has a
    # neighbour outside the piece: the rim's pixels give the same rectangle (same bytes)
    # as all of them, at a fraction of the cost for a whole object.
    rim = p8 > cv2.erode(p8, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    ys, xs = np.nonzero(rim)
    if origin != (0, 0):
        ys, xs = ys + origin[0], xs + origin[1]
    (_, _), (w, h), angle = cv2.minAreaRect(np.stack([xs, ys], 1).astype(np.float32))
    length = float(max(w, h, 1.0))
    width = float(area) / length
    theta = angle if w >= h else angle + 90.0  # cv2 angle of the "w" side, clockwise in image coords
    return length, max(width, 1.0), float((-theta) % 180.0)


def split_parts(obj: np.ndarray, radius: int, rectangular: bool = False) -> dict[str, np.ndarray]:
    """Decompose the (H, W) bool object mask; returns non-empty masks among
    ``object`` (cleaned), ``body``, ``lead`` (all thin parts), ``edge``, ``centre``, ``hole``,
    and ``lead_labels`` (int32, one label per thin part) when thin parts exist.

    ``rectangular``: the product's body is a rectangle (its normal set says so, see
    ``ProductModel``): the body is replaced by its ``robust_rectangle``."""
    h, w = obj.shape
    side = min(h, w)
    o = obj.astype(np.uint8)
    if not o.any():
        return {}
    body = open_body(o, radius)
    if rectangular and body.any():
        rect = robust_rectangle(body)[0].astype(np.uint8)
        o = (o & (1 - body)) | rect  # bumps beyond the rectangle leave with the old body
        obj = o > 0
        body = rect
    count, labels, stats, _ = cv2.connectedComponentsWithStats(body, connectivity=8)
    if count > 1:  # keep the body's main pieces (a second object in view counts too)
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = 1 + np.flatnonzero(areas >= 0.2 * areas.max())
        body = np.isin(labels, keep).astype(np.uint8)
    body = trim_bumps(body, TRIM_WINDOW * side).astype(np.uint8)
    rest = o & (1 - cv2.dilate(body, disk(2)))
    near = cv2.dilate(body, disk(4)) > 0
    obj_area = float(o.sum())
    thin = np.zeros_like(o)
    extra = np.zeros_like(o)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(rest, connectivity=8)
    for i in range(1, count):
        area = stats[i, cv2.CC_STAT_AREA]
        if area < max(6, 0.0005 * side * side):
            continue
        # the piece's bounding box only (same points, same order as the full frame: same bytes)
        x0, y0 = stats[i, cv2.CC_STAT_LEFT], stats[i, cv2.CC_STAT_TOP]
        box = (slice(y0, y0 + stats[i, cv2.CC_STAT_HEIGHT]), slice(x0, x0 + stats[i, cv2.CC_STAT_WIDTH]))
        piece = labels[box] == i
        length, width, _ = piece_shape(piece, (y0, x0))
        if length / width >= THIN_ELONGATION and length >= 2.0 * radius and (piece & near[box]).any():
            thin[box][piece] = 1
        elif area >= KEEP_PIECE * obj_area:
            extra[box][piece] = 1
    if thin.any():  # re-attach the strip cut off next to the body
        thin = cv2.dilate(thin, disk(2)) & o & (1 - body)
    clean = (body | thin | extra) > 0
    if not clean.any():
        clean = obj.astype(bool)
    filled = fill_holes(clean)
    holes = filled & ~obj.astype(bool)
    if holes.sum() < 0.002 * h * w:
        holes[:] = False
    clean = filled & ~holes
    parts: dict[str, np.ndarray] = {"object": clean}
    parts["body"] = (body > 0) & clean if body.any() else clean.copy()
    if thin.any():
        parts["lead"] = (thin > 0) & clean
        n, lab = cv2.connectedComponents(parts["lead"].astype(np.uint8), connectivity=8)
        parts["lead_labels"] = lab.astype(np.int32)
    dist = cv2.distanceTransform(np.pad(clean.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    band = max(2.0, 0.04 * side)
    parts["edge"] = clean & (dist <= band)
    if dist.max() > 0:
        parts["centre"] = dist >= 0.5 * float(dist.max())
    if holes.any():
        parts["hole"] = holes
    return parts


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
    it); at most the part's own length. Only ``away`` pixels (and bridges) are added, to
    the object and edge masks (not to the thin part itself).
    """
    labels, body = parts.get("lead_labels"), parts.get("body")
    if labels is None or body is None or labels.max() == 0 or not body.any():
        return
    h, w = labels.shape
    from_body = cv2.distanceTransform((~body).astype(np.uint8), cv2.DIST_L2, 3)
    add = np.zeros((h, w), bool)
    for i in range(1, int(labels.max()) + 1):
        ys, xs = np.nonzero(labels == i)
        if len(xs) < 10:
            continue
        far = from_body[ys, xs]
        end = far >= far.max() - 3.0  # the end of the part, not one corner of it
        tip = np.array([xs[end].mean(), ys[end].mean()], np.float64)
        near = np.hypot(xs - tip[0], ys - tip[1]) < tip_px
        pts = np.stack([xs[near], ys[near]], 1).astype(np.float64)
        centre = pts.mean(0)
        axis = np.linalg.svd(pts - centre, full_matrices=False)[2][0]
        if np.dot(tip - centre, axis) < 0:
            axis = -axis
        axis = _best_heading(away, tip, axis)
        normal = np.array([-axis[1], axis[0]])
        length = float(far.max())
        half = max(1.0, half_width * len(xs) / max(length, 1.0))
        offs = np.arange(-np.ceil(half), np.ceil(half) + 1)
        lateral = np.array([0.0, -1.0, 1.0, -2.0, 2.0, -3.0, 3.0])
        # Candidates that leave the frame score -1 (their clipped reads are ignored).
        lat_x, lat_y = lateral * normal[0], lateral * normal[1]  # (7,)
        off_x, off_y = offs * normal[0], offs * normal[1]  # (k,)
        reach = float(np.abs(offs).max()) + 1.0

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
                if away[cy0, cx0].all():
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
    if not add.any():
        return
    # Object (and its edge band) only: the lead part that plans use stays what was seen,
    # so a defect is not planned on an inferred stretch (which may run on into a hole).
    parts["object"] = parts["object"] | add
    if "edge" in parts:
        parts["edge"] = parts["edge"] | add


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


def texture_parts(shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Parts of a full-frame texture: the whole frame, its border band and its centre."""
    h, w = shape
    side = min(h, w)
    whole = np.ones((h, w), bool)
    yy, xx = np.mgrid[0:h, 0:w]
    to_frame = np.minimum(np.minimum(yy, h - 1 - yy), np.minimum(xx, w - 1 - xx))
    return {"object": whole, "body": whole, "edge": to_frame < max(2.0, 0.06 * side),
            "centre": to_frame >= 0.25 * side}


def describe(parts: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Geometric descriptors per part: area (share of the image), count of pieces, length and
    width (fractions of min(H, W)) and elongation of the largest piece."""
    out: dict[str, dict[str, float]] = {}
    for name, mask in parts.items():
        if name == "lead_labels" or not mask.any():
            continue
        side = float(min(mask.shape))
        n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        big = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        length, width, _ = piece_shape(lab == big)
        out[name] = {"area": float(mask.mean()), "count": float(n - 1), "length": length / side,
                     "width": width / side, "elongation": length / width}
        if name == "body":
            out[name]["rectangularity"] = robust_rectangle(lab == big)[1]
    return out
