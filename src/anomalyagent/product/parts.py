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
SNAP_PX = 3  # robust_rectangle: the farthest (px) a side moves to the guide image's edge
ATTACHED = 0.05  # ... and only when less than this share of the lines outside it is a thin part
ATTACH_GAP = 0.025  # a thin piece this close to the body (fraction of min(H, W)) is attached: a lead's root in shadow leaves a gap
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


def robust_rectangle(body: np.ndarray, guide: np.ndarray | None = None, attached: np.ndarray | None = None,
                     snap: int = SNAP_PX) -> tuple[np.ndarray, float]:
    """(rectangle mask (H, W) bool, rectangularity) of a compact body.

    The rectangle lies in the body's own frame (the angle of its minimum-area rectangle);
    each side sits at the MEDIAN of the body's extents over the rows (columns) of that
    frame, so a bump glued to a side (a board hole) or a corner rounded off by blurred
    features moves it little. With a ``guide`` (H, W) float image (the lightness), each
    side where no thin part (``attached`` (H, W) bool) leaves the body then moves by up
    to ``snap`` px to where the guide changes most across it (``_snap_sides``): the
    mask came from blurred features and loses a side whose colour is close to the
    background's (a shiny side), the image's own edge does not.
    Rectangularity: area of body AND rectangle over area of body OR rectangle (1 for a
    clean rectangle, about 0.8 for an ellipse); always of the unsnapped rectangle.
    """
    fit = _rectangle_fit(body)
    if fit is None or guide is None or snap <= 0:
        return (body.astype(bool), 0.0) if fit is None else (fit[2], fit[3])
    return snap_rectangle(fit, guide, attached, snap), fit[3]


def _rectangle_fit(body: np.ndarray) -> tuple | None:
    """(turn (2, 3), sides [top, bottom, left, right] in the turned frame, unsnapped
    rectangle (H, W) bool, rectangularity) of ``robust_rectangle``; None below 16 pixels.
    ``split_parts`` needs the unsnapped rectangle before it snaps the same fit."""
    b = body.astype(np.uint8)
    h, w = b.shape
    count = int(b.sum())
    if count < 16:
        return None
    outline, _ = cv2.findContours(b, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)  # same hull as all pixels
    (cx, cy), _, angle = cv2.minAreaRect(np.concatenate(outline))
    # The smallest turn into the rectangle's frame (any multiple of 90 degrees gives the same
    # frame): an upright body then takes no turn at all, where a 90-degree one resampled it
    # 1 px larger on two sides.
    angle = float(angle) - 90.0 * round(float(angle) / 90.0)
    turn = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, 1.0)
    rot = cv2.warpAffine(b, turn, (w, h), flags=cv2.INTER_NEAREST) > 0
    rows, cols = np.flatnonzero(rot.any(1)), np.flatnonzero(rot.any(0))
    left = np.median(rot[rows].argmax(1))
    right = np.median(w - 1 - rot[rows][:, ::-1].argmax(1))
    top = np.median(rot[:, cols].argmax(0))
    bottom = np.median(h - 1 - rot[:, cols][::-1].argmax(0))
    sides = [int(round(v)) for v in (top, bottom, left, right)]
    rect = np.zeros((h, w), np.uint8)
    rect[sides[0]:sides[1] + 1, sides[2]:sides[3] + 1] = 1
    back = cv2.warpAffine(rect, cv2.invertAffineTransform(turn), (w, h), flags=cv2.INTER_NEAREST) > 0
    union = np.count_nonzero(back | (b > 0))
    score = float(np.count_nonzero(back & (b > 0))) / max(1, union)
    return turn, sides, back, score


def snap_rectangle(fit: tuple, guide: np.ndarray, attached: np.ndarray | None, snap: int = SNAP_PX) -> np.ndarray:
    """(H, W) bool: the rectangle of ``_rectangle_fit``'s ``fit`` with its sides snapped to
    ``guide``'s edges (``robust_rectangle``)."""
    turn, sides, back, _ = fit
    h, w = back.shape
    g = cv2.warpAffine(np.asarray(guide, np.float32), turn, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    a = np.zeros((h, w), bool) if attached is None else \
        cv2.warpAffine(attached.astype(np.uint8), turn, (w, h), flags=cv2.INTER_NEAREST) > 0
    top, bottom, left, right = _snap_sides(g, a, *sides, snap)
    rect = np.zeros((h, w), np.uint8)
    rect[top:bottom + 1, left:right + 1] = 1
    return cv2.warpAffine(rect, cv2.invertAffineTransform(turn), (w, h), flags=cv2.INTER_NEAREST) > 0


def _snap_sides(guide: np.ndarray, attached: np.ndarray, top: int, bottom: int, left: int, right: int,
                snap: int) -> tuple[int, int, int, int]:
    """Each side of the rectangle rows top..bottom, columns left..right (inclusive) of the
    (H, W) ``guide``, moved by at most ``snap`` px (either way: blurred features lose a
    side that looks like the background, and add a dark shadow next to a dark side) to
    the position where the guide's mean absolute step across the side (over the middle
    three fifths of its length) is largest; ties go to the smaller move. A side moves only
    when the (H, W) bool mask of thin parts ``attached`` is (nearly, < ATTACHED) empty in
    the ``2 * snap`` lines outside its middle: where parts leave the body (a transistor's leads
    below its case) the side is not an outline against the background, and the strongest
    edge there is a part's or the shadow's under the body."""
    h, w = guide.shape
    ty, tx = (bottom - top) // 5, (right - left) // 5
    span_y = slice(max(0, top + ty), max(1, bottom - ty + 1))  # middle of the left and right sides
    span_x = slice(max(0, left + tx), max(1, right - tx + 1))  # middle of the top and bottom sides
    rows, cols = guide[span_y], guide[:, span_x]
    across_x = np.abs(np.diff(rows, axis=1)).mean(0)  # (W-1,): step between column j and j+1
    across_y = np.abs(np.diff(cols, axis=0)).mean(1)  # (H-1,): step between row i and i+1

    def best(at: int, steps: np.ndarray, first_inside: bool) -> int:
        lines = slice(max(0, at - 2 * snap), at) if first_inside else slice(at + 1, at + 2 * snap + 1)
        strip = attached[lines, span_x] if steps is across_y else attached[span_y, lines]
        if strip.size == 0 or float(strip.mean()) >= ATTACHED:
            return at
        moves = [m for m in range(-snap, snap + 1) if 0 <= at + m - first_inside < len(steps)]
        if not moves:
            return at
        scores = [steps[at + m - first_inside] - 1e-6 * abs(m) for m in moves]
        return at + moves[int(np.argmax(scores))]

    return (best(top, across_y, True), best(bottom, across_y, False),
            best(left, across_x, True), best(right, across_x, False))


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


def _body_and_pieces(o: np.ndarray, body: np.ndarray, radius: int,
                     crop: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(body, thin, extra) uint8 (H, W) masks from the object mask ``o`` and its opened
    ``body`` (uint8 0/1, body inside o): the body's main pieces with bumps trimmed; the thin,
    elongated pieces of the rest attached to it (leads); other pieces large enough to keep
    (appendages).

    ``crop``: work inside the bounding box of ``o | body`` only (same bytes: every output
    lies inside ``o``, dilations add nothing beyond their source pixels, a row's extents
    and a piece's shape do not depend on where the frame starts, and each connected piece
    is handled on its own, so label order does not matter); a transistor's box is about
    a third of the frame."""
    side = min(o.shape)
    if crop:
        both = o | body
        rows, cols = np.flatnonzero(both.any(1)), np.flatnonzero(both.any(0))
        if rows.size and (rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1) < both.size:
            box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
            found = _pieces_in(np.ascontiguousarray(o[box]), np.ascontiguousarray(body[box]), radius, side,
                               (int(rows[0]), int(cols[0])))
            out = tuple(np.zeros_like(o) for _ in found)
            for full, part in zip(out, found):
                full[box] = part
            return out
    return _pieces_in(o, body, radius, side, (0, 0))


def _pieces_in(o: np.ndarray, body: np.ndarray, radius: int, side: int,
               origin: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_body_and_pieces`` on a crop whose top-left pixel is ``origin`` (y, x) of a frame
    with shorter side ``side`` px."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(body, connectivity=8)
    if count > 1:  # keep the body's main pieces (a second object in view counts too)
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = 1 + np.flatnonzero(areas >= 0.2 * areas.max())
        body = np.isin(labels, keep).astype(np.uint8)
    body = trim_bumps(body, TRIM_WINDOW * side).astype(np.uint8)
    rest = o & (1 - cv2.dilate(body, disk(2)))
    near = cv2.dilate(body, disk(max(4, round(ATTACH_GAP * side)))) > 0
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
        length, width, _ = piece_shape(piece, (origin[0] + y0, origin[1] + x0))
        if length / width >= THIN_ELONGATION and length >= 2.0 * radius and (piece & near[box]).any():
            thin[box][piece] = 1
        elif area >= KEEP_PIECE * obj_area:
            extra[box][piece] = 1
    if thin.any():  # re-attach the strip cut off next to the body
        thin = cv2.dilate(thin, disk(2)) & o & (1 - body)
    return body, thin, extra


def split_parts(obj: np.ndarray, radius: int, rectangular: bool = False,
                guide: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Decompose the (H, W) bool object mask; returns non-empty masks among
    ``object`` (cleaned), ``body``, ``lead`` (all thin parts), ``edge``, ``centre``, ``hole``,
    and ``lead_labels`` (int32, one label per thin part) when thin parts exist.

    ``rectangular``: the product's body is a rectangle (its normal set says so, see
    ``ProductModel``): the body is replaced by its ``robust_rectangle``, its sides snapped
    to the edges of ``guide`` (H, W) float (the image's lightness) when given."""
    h, w = obj.shape
    side = min(h, w)
    o = obj.astype(np.uint8)
    if not o.any():
        return {}
    body = open_body(o, radius)
    if rectangular and body.any():
        attached = None
        fit = _rectangle_fit(body)  # the fit once: unsnapped for the thin parts, then snapped
        if guide is not None and fit is not None:  # thin parts of the unsnapped split: a side they leave from is not snapped
            first = fit[2].astype(np.uint8)
            attached = _body_and_pieces((o & (1 - body)) | first, first, radius)[1] > 0
        if fit is None:
            rect = body.astype(bool).astype(np.uint8)
        elif guide is None or SNAP_PX <= 0:
            rect = fit[2].astype(np.uint8)
        else:
            rect = snap_rectangle(fit, guide, attached).astype(np.uint8)
        o = (o & (1 - body)) | rect  # bumps beyond the rectangle leave with the old body
        obj = o > 0
        body = rect
    body, thin, extra = _body_and_pieces(o, body, radius)
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
