"""Location term: is the defect on the part, and where the knowledge base says it occurs?

Two measurements, both on the full-size (H, W) bool mask:

- ``on_object``: share of mask pixels on the foreground estimate (0-1). A defect is a
  property of the part; paint on the backdrop is not a defect of the part. Real
  annotations overhang the object's outline a little (the estimate is soft there), so
  the ramp is full at 85 % and zero at 40 %.
- ``border_distance``: smallest distance from a mask pixel to the part's border, as a
  fraction of min(H, W). For an object the border is the foreground outline; for a
  texture (the surface fills the frame) it is the image border, which is where the
  crop cuts the part (magnetic tiles: the tile edge). Edge-type defects (edge, rim,
  corner, seam) must touch that border; "center" defects must sit near the middle; the
  other locations (surface, anywhere, thread, print, lead) constrain nothing here.

A defect in the wrong region keeps REGION_FLOOR (0.15) of the term, below the judge's
hard-fail line: for the constrained locations (a break *is* a piece missing at an edge)
the region is part of what the defect is. The value stays above zero so that a policy
still sees that on-object-but-misplaced beats off-object.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from .term import TermResult, ramp

EDGE_LOCATIONS = ("edge", "rim", "corner", "seam")
REGION_FLOOR = 0.15  # location value when the defect is on the part but where it does not occur
MOVED_ON, MOVED_FULL = 0.15, 0.35  # on-object ramp for edits that move material (old + new place)
MOVED_REACH = 0.05  # moved material may land this far (fraction of min(H, W)) beside the part
THIN_PART = 0.03  # a named part whose widest point is at most this (half-width, fraction of min(H, W)) is thin
THIN_RADIUS = 16  # px: the largest disc radius thin_continuation opens with at full size
END_SEGMENT = 4.0  # a thin piece's end direction is read over this many half-widths back from its tip


def on_object_fraction(mask: np.ndarray, foreground: np.ndarray) -> float:
    """Share (0-1) of the (H, W) bool ``mask`` lying on the (H, W) bool ``foreground``."""
    n = int(mask.sum())
    return 1.0 if n == 0 else float(np.count_nonzero(foreground[mask])) / n


def border_distance(mask: np.ndarray, foreground: np.ndarray, texture: bool) -> float:
    """Smallest distance (fraction of min(H, W)) from the mask to the part's border.

    texture: the border is the image frame; object: the foreground outline (0 when part
    of the mask lies off the foreground).
    """
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return 1.0
    if texture:
        d = min(int(ys.min()), int(xs.min()), h - 1 - int(ys.max()), w - 1 - int(xs.max()))
        return max(0.0, float(d)) / min(h, w)
    inside = np.pad(foreground.astype(np.uint8), 1)  # the frame counts as outside the part
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 3)[1:-1, 1:-1]
    return float(dist[mask].min()) / min(h, w)


def center_offset(mask: np.ndarray, foreground: np.ndarray) -> float:
    """Distance from the mask's centroid to the foreground's, in foreground radii
    (radius of the disc with the foreground's area)."""
    ys, xs = np.nonzero(mask)
    fy, fx = np.nonzero(foreground)
    if ys.size == 0 or fy.size == 0:
        return 0.0
    radius = np.sqrt(fy.size / np.pi)
    return float(np.hypot(ys.mean() - fy.mean(), xs.mean() - fx.mean()) / max(radius, 1.0))


def region_score(mask: np.ndarray, foreground: np.ndarray, location: str, texture: bool) -> tuple[float, float]:
    """(score 0-1, raw measurement) for the knowledge base's typical ``location``."""
    if location in EDGE_LOCATIONS:
        d = border_distance(mask, foreground, texture)
        return ramp(d, 0.2, 0.06), d  # touching the border (within 6 % of the side) is typical
    if location == "center":
        off = center_offset(mask, foreground)
        return ramp(off, 1.0, 0.5), off
    return 1.0, 0.0


def half_width(part: np.ndarray) -> float:
    """Half-width (px) of ``part`` (H, W) bool at its widest point (0 when empty)."""
    part = np.ascontiguousarray(part, dtype=bool)
    return float(cv2.distanceTransform(np.pad(part.view(np.uint8), 1), cv2.DIST_L2, 3).max())


def is_thin(part: np.ndarray) -> bool:
    """True when ``part`` is a thin part (a lead, a wire, a pin): half-width at most
    THIN_PART of min(H, W)."""
    half = half_width(part)
    return 0.0 < half <= THIN_PART * min(part.shape)


def free_ends(thin: np.ndarray, foreground: np.ndarray, length: float) -> np.ndarray:
    """(H, W) bool: each thin piece of ``thin`` continued past its free end along its own
    axis by ``length`` px, as wide as the piece.

    A piece's free end is the middle of its pixels farthest (within a half-width) from where it meets the rest of
    ``foreground`` (a lead's tip, away from the case); its axis is the direction from the
    centroid of its last END_SEGMENT half-widths to that tip. Pieces that touch nothing
    else of the object (a loose fragment) have no root and get no continuation.
    Why: a lead crossing a dark hole or running into shadow looks like the background, so
    the object mask (and the named part) stop where the lead goes on; a bent or pushed
    lead's tip then lies beyond that stop, on the lead's line (see ``location_term``)."""
    thin = np.ascontiguousarray(thin, dtype=bool)
    out = np.zeros_like(thin)
    half = max(1.0, half_width(thin))
    rest = np.ascontiguousarray(foreground & ~thin, dtype=bool).view(np.uint8)
    root_zone = cv2.dilate(rest, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))) > 0
    n, labels = cv2.connectedComponents(thin.view(np.uint8), connectivity=8)
    for k in range(1, n):
        ys, xs = np.nonzero(labels == k)
        root = root_zone[ys, xs]
        if not root.any() or root.all():
            continue
        ry, rx = ys[root].mean(), xs[root].mean()
        dist = np.hypot(ys - ry, xs - rx)
        tip = dist >= dist.max() - half  # the tip's end face (its middle, not a corner)
        ty, tx = float(ys[tip].mean()), float(xs[tip].mean())
        near = (ys - ty) ** 2 + (xs - tx) ** 2 <= (END_SEGMENT * half) ** 2
        dy, dx = ty - ys[near].mean(), tx - xs[near].mean()
        norm = float(np.hypot(dy, dx))
        if norm < 1e-6:
            continue
        end = (int(round(tx + dx / norm * length)), int(round(ty + dy / norm * length)))
        line = np.zeros(thin.shape, np.uint8)
        cv2.line(line, (int(tx), int(ty)), end, 1, thickness=max(1, int(round(2 * half))))
        out |= line > 0
    return out


def thin_continuation(part: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """``part`` (H, W) bool plus the thin pieces of ``foreground``, when the part itself is
    thin (a lead, a wire, a pin: its half-width at most THIN_PART of min(H, W)); the part
    unchanged otherwise.

    Why: the product model names parts on its own segmentation of the image, and where a
    lead runs on in shadow, darker or bent, or is cut to a stub too short to count as
    elongated, its named part stops short or misses it while the object mask goes on: a
    defect there is on a lead. "Thin pieces" are what an opening with a disc twice the
    part's half-width removes from the object (the part's own width class); the compact
    body stays out, so a lead defect drawn on the case still lies off the part."""
    part = np.ascontiguousarray(part, dtype=bool)
    half = half_width(part)
    if half <= 0.0 or half > THIN_PART * min(part.shape):
        return part
    fg = np.ascontiguousarray(foreground, dtype=bool).view(np.uint8)
    h, w = fg.shape
    # Large discs are slow (O(pixels x radius)): above THIN_RADIUS px the opening runs on a
    # copy shrunk so the disc is THIN_RADIUS px (the body is a coarse notion).
    scale = max(1.0, 2.0 * half / THIN_RADIUS)
    small = fg if scale == 1.0 else (cv2.resize(fg * 255, (max(1, round(w / scale)), max(1, round(h / scale))),
                                                interpolation=cv2.INTER_AREA) > 127).astype(np.uint8)
    r = int(np.ceil(2.0 * half / scale)) + 1
    body = cv2.morphologyEx(small, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    # The opening also rounds the body's corners (by at most 0.41 r): grown back by r / 2,
    # the body keeps its corners and only what sticks out of it stays thin.
    k = (r + 1) // 2
    body = cv2.dilate(body, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    if scale != 1.0:
        body = cv2.resize(body, (w, h), interpolation=cv2.INTER_NEAREST)
    thin = (fg > 0) & (body == 0)
    return part | thin


def reach_masks(foreground: np.ndarray, part: np.ndarray | None, moved: bool,
                side: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(object, part) (H, W) bool as ``location_term`` reads them: the part with its thin
    continuation, and for moved material both run on past a thin part's free ends and
    grown by MOVED_REACH of ``side`` px (min(H, W) of the image; see ``location_term``).
    Depends on the image's masks only, not on the edit."""
    if part is not None:
        thin = is_thin(part)
        part = thin_continuation(part, foreground)
        if moved and thin:
            ends = free_ends(part, foreground, MOVED_REACH * side)
            part, foreground = part | ends, foreground | ends
    if moved:
        r = max(1, int(round(MOVED_REACH * side)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        foreground = cv2.dilate(np.ascontiguousarray(foreground, dtype=bool).view(np.uint8), kernel) > 0
        if part is not None:
            part = cv2.dilate(np.ascontiguousarray(part, dtype=bool).view(np.uint8), kernel) > 0
    return foreground, part


def location_term(mask: np.ndarray, foreground: np.ndarray, location: str = "anywhere", texture: bool = False,
                  part: np.ndarray | None = None, moved: bool = False, memo: Any = None) -> TermResult:
    """The location term (see the module docstring); ``mask``/``foreground``: (H, W) bool;
    ``part``: (H, W) bool of the named part (product model), or None.

    With a part, the defect must also lie mostly on it (same ramp as ``on_object``: a cut
    lead drawn on the case is on the object but not where the defect is) and the region
    rules are read against the part's outline instead of the whole object's.

    ``moved``: the edit moves or removes material (a bent lead, a rotated part, a piece
    broken off): its mask covers the old place (on the part) and the new one (often the
    background), so only MOVED_ON of it needs to have been on the object / the part
    (full at MOVED_FULL) - the piece must come from the part, not from the backdrop - and
    the object and part count as grown by MOVED_REACH: a bent lead's annotated tip lies
    beside the straight lead, on the board (real masks often mark only the new place).
    A thin part counts with the object's thin pieces that continue it (``thin_continuation``);
    for moved material a thin part (and the object) also runs on past its free ends along
    its axis by MOVED_REACH (``free_ends``) before both grow by MOVED_REACH: beyond a
    lead's end a bent tip may lie twice as far as beside it, since the object mask often
    loses a lead where it crosses a dark hole or shadow (transistor's test bent lead: its
    annotated tip lay 15 px below the mask's end at 256 px, where the lead crosses a hole).
    Cost: a randomly moved copy of a lead defect lands within that reach more often
    (docs/benchmarks.md, critic section).

    ``memo``: a store with ``get_or_make(key, make)`` (render.memo.RenderMemo, one per
    sample): the object and part as read (``reach_masks``) are kept by the digests of the
    masks, so a sample's later judgements reuse them (same result)."""
    if memo is not None:  # the same object and part in every judgement of a sample: computed once
        from ..render.memo import digest

        hashed = getattr(memo, "digest_of", digest)  # the sample's object mask: hashed once (RenderMemo.digest_of)
        key = ("location_masks", hashed(np.ascontiguousarray(foreground, dtype=bool)),
               hashed(None if part is None else np.ascontiguousarray(part, dtype=bool)), bool(moved), min(mask.shape))
        foreground, part = memo.get_or_make(key, lambda: reach_masks(foreground, part, moved, min(mask.shape)))
    else:
        foreground, part = reach_masks(foreground, part, moved, min(mask.shape))
    frac = on_object_fraction(mask, foreground)
    low, full = (MOVED_ON, MOVED_FULL) if moved else (0.4, 0.85)
    on = ramp(frac, low, full)
    on_part, part_frac = 1.0, 1.0
    if part is not None:
        part_frac = on_object_fraction(mask, part)
        on_part = ramp(part_frac, low, full)
    region, raw = region_score(mask, part if part is not None else foreground, location, texture)
    value = on * (REGION_FLOOR + (1.0 - REGION_FLOOR) * min(region, on_part))
    result = TermResult("location", value, {"on_object": frac, "on_part": part_frac, "region": region,
                                            "region_measure": raw})
    if on < 0.5:
        result.parameter, result.direction = "location", "move_onto_object"
        result.text = (f"{1 - frac:.0%} of the defect lies off the object; move its centre onto the part, "
                       "away from the background.")
    elif on_part < 0.5:
        result.parameter, result.direction = "location", "move_onto_part"
        result.text = (f"{1 - part_frac:.0%} of the defect lies off the part it belongs to; move it onto that part.")
    elif region < 0.5:
        result.parameter, result.direction = "location", f"move_to_{location}"
        where = "the part's border" if location in EDGE_LOCATIONS else "the middle of the part"
        result.text = f"This defect typically occurs at the {location}; move it to {where}."
    return result
