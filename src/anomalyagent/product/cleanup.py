"""Clean-up of the masks ``ProductModel.locate`` gets from its pixel classifier.

The classifier sees blurred colour, so thin parts come out a little fat, a shadow strip
beside a lead can pass for one more lead, and a lead's end in shadow is lost; these
functions fix that from geometry and from the image's own background statistics. All
masks are (H, W) bool at the working side unless said otherwise.
"""
from __future__ import annotations

import cv2
import numpy as np

AWAY_Z = 2.0  # unlike_background: distance from the background median per channel, in its own MADs


def unlike_background(colour: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose colour (H, W, C), in any channel, is far from this image's
    typical background (median where prob < 0.1): farther than AWAY_Z median absolute
    deviations of the background pixels themselves in that channel (the board's dark gaps
    and holes count, its plain surface does not; a grey lead on a copper board that matches
    it in lightness still differs in hue). A (H, W) array is one channel."""
    colour = colour[..., None] if colour.ndim == 2 else colour
    bg = prob[::2, ::2] < 0.1  # every 4th pixel is plenty for a median
    out = np.zeros(prob.shape, bool)
    if bg.sum() < 25:
        return out
    for c in range(colour.shape[2]):
        plane = np.ascontiguousarray(colour[..., c])  # one strided copy, then contiguous passes (same values)
        values = plane[::2, ::2][bg]
        ref = float(np.median(values))
        mad = float(np.median(np.abs(values - ref))) + 1e-6
        out |= np.abs(plane - ref) > AWAY_Z * mad
    return out


def thin_to_core(parts: dict[str, np.ndarray]) -> None:
    """Peel one pixel (4-neighbour erosion) off the thin parts in the object mask, in place.

    Why: the classifier's colour features are blurred (sigma 1 px and more), so the
    located outline of a part a few px wide runs about a pixel outside it on each side
    (the lead's dark rim and its shadow on the board); found on the dev half of the hand
    labels (docs/benchmarks.md). Bodies keep their outline, and so does the lead part
    that plans use (the planner keeps to a lead's distinct core anyway; peeling it too
    cost bent_lead plans about 5 points of part hit rate on the labelled images)."""
    lead = parts.get("lead")
    if lead is None or not lead.any():
        return
    core = cv2.erode(lead.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))) > 0
    drop = lead & ~core
    for name in ("object", "edge", "centre"):
        if name in parts:
            parts[name] = parts[name] & ~drop


def keep_recurring_pieces(parts: dict[str, np.ndarray], count: int) -> None:
    """Keep the ``count`` largest thin parts (the number that recurs across the normal set,
    e.g. a transistor's 3 leads); extra thin pieces (a shadow strip beside a lead) leave the
    lead and the object masks. In place; nothing happens when count is 0 or not exceeded."""
    labels = parts.get("lead_labels")
    if labels is None or count <= 0 or labels.max() <= count:
        return
    areas = np.bincount(labels.ravel())[1:]
    keep = 1 + np.argsort(areas)[::-1][:count]
    drop = (labels > 0) & ~np.isin(labels, keep)
    for name in ("object", "lead", "edge", "centre"):
        if name in parts:
            parts[name] = parts[name] & ~drop
    relabel = np.zeros(labels.max() + 1, np.int32)
    relabel[np.sort(keep)] = np.arange(1, len(keep) + 1)
    parts["lead_labels"] = relabel[labels]


def resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``mask`` (H, W) resized to ``shape`` (h, w): bool masks bilinearly, thresholded at one half; label
    maps (int) by nearest neighbour."""
    h, w = shape
    if mask.dtype == bool:
        return cv2.resize(mask.astype(np.uint8) * 255, (w, h), interpolation=cv2.INTER_LINEAR) > 127
    return cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
