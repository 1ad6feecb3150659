"""Grey-level morphology with a disc (OpenCV's ellipse kernel) as a union of rectangles.

Why: OpenCV runs a non-rectangular kernel point by point (a 21 px disc: over 300 shifted
maxima per pixel) but a rectangle separably (a row pass and a column pass). A disc's rows
are centred runs whose half-width shrinks away from the middle row, so the disc is the
union of a few centred rectangles (7 for 21 px), and a dilation by a union is the maximum
of the dilations by its members (an erosion, the minimum): the same values, exactly, and
OpenCV's default border (outside pixels never win) holds for every member. The background
plate's lighting match closes two crops with a ~21 px disc; this takes a third off that.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np


@lru_cache(maxsize=32)
def disc_rectangles(ksize: int) -> tuple[tuple[int, int], ...]:
    """((half height, half width), ...) of centred rectangles whose union is
    ``cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (ksize, ksize))``; () when it is not
    such a union (then callers use the kernel itself)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (ksize, ksize))
    r = ksize // 2
    if ksize % 2 == 0 or kernel.shape != (ksize, ksize):
        return ()
    half = []
    for row in kernel:
        on = np.flatnonzero(row)
        if on.size == 0 or on[0] != r - (on[-1] - r) or on.size != on[-1] - on[0] + 1:
            return ()  # an empty, off-centre or broken row
        half.append(int(on[-1]) - r)
    rects = tuple((max(abs(i - r) for i in range(ksize) if half[i] >= b), b) for b in sorted(set(half)))
    union = np.zeros_like(kernel)
    for a, b in rects:
        union[r - a:r + a + 1, r - b:r + b + 1] = 1
    return rects if np.array_equal(union, kernel) else ()


def _by_rectangles(op, reduce, image: np.ndarray, ksize: int) -> np.ndarray:
    rects = disc_rectangles(ksize)
    if not rects:
        return op(image, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (ksize, ksize)))
    out = None
    for a, b in rects:
        part = op(image, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * b + 1, 2 * a + 1)))
        out = part if out is None else reduce(out, part, out=out)
    return out


def dilate_disc(image: np.ndarray, ksize: int) -> np.ndarray:
    """``cv2.dilate(image, ellipse kernel ksize x ksize)``, the same values."""
    return _by_rectangles(cv2.dilate, np.maximum, image, ksize)


def erode_disc(image: np.ndarray, ksize: int) -> np.ndarray:
    """``cv2.erode(image, ellipse kernel ksize x ksize)``, the same values."""
    return _by_rectangles(cv2.erode, np.minimum, image, ksize)


def close_disc(image: np.ndarray, ksize: int) -> np.ndarray:
    """``cv2.morphologyEx(image, cv2.MORPH_CLOSE, ellipse kernel ksize x ksize)``, the same values."""
    return erode_disc(dilate_disc(image, ksize), ksize)
