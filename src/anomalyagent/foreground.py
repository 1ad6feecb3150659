"""Foreground estimate: where the object is, so that defects land on it.

Object categories (a hazelnut on a dark cloth) get a mask of the object; texture
categories (carpet, tile surfaces) are all foreground. The estimate is deliberately
simple and fast (< 2 ms at 256 px): the background colour is the median of a border
band, the object is what differs from it (a Lab distance above the background's own
spread), cleaned by morphology, holes filled, largest component kept.
"""
from __future__ import annotations

import cv2
import numpy as np

from .images import to_rgb


def _border_band(image: np.ndarray, width: int) -> np.ndarray:
    return np.concatenate(
        [image[:width].reshape(-1, image.shape[-1]), image[-width:].reshape(-1, image.shape[-1]),
         image[:, :width].reshape(-1, image.shape[-1]), image[:, -width:].reshape(-1, image.shape[-1])]
    )


def object_mask(image: np.ndarray) -> np.ndarray:
    """(H, W) bool mask of the main object against a roughly uniform background."""
    h, w = image.shape[:2]
    scale = 128.0 / max(h, w)
    small = cv2.resize(image, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA) if scale < 1 else image
    lab = cv2.cvtColor(to_rgb(small), cv2.COLOR_RGB2LAB).astype(np.float32)
    lab = cv2.GaussianBlur(lab, (5, 5), 0)
    band = max(2, min(lab.shape[:2]) // 16)
    border = _border_band(lab, band)
    background = np.median(border, axis=0)
    distance = np.linalg.norm(lab - background, axis=2)
    # Threshold: above the background's own spread (border pixels' distance to their
    # median), and above 0.4 x Otsu's split so soft shadows stay out. Otsu alone splits a
    # part with a bright and a dark side (a hazelnut's lit top vs its dark red base).
    scale = 255.0 / max(float(distance.max()), 1e-6)
    d8 = np.clip(distance * scale, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(d8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    spread = float(np.percentile(np.linalg.norm(border - background, axis=1), 99))
    threshold = max(1.5 * spread, 0.4 * otsu / scale, 4.0)
    fg = (distance > threshold).astype(np.uint8) * 255
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, kernel)
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, kernel, iterations=2)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if count <= 1:
        return np.ones((h, w), bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    fg = (labels == largest).astype(np.uint8) * 255
    # Fill holes: flood the background from the border; what is not reached is inside.
    flood = fg.copy()
    mask = np.zeros((fg.shape[0] + 2, fg.shape[1] + 2), np.uint8)
    cv2.floodFill(flood, mask, (0, 0), 255)
    fg = fg | cv2.bitwise_not(flood)
    fg = cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR) > 127
    if fg.mean() < 0.02:  # nothing sensible found: do not restrict placement
        return np.ones((h, w), bool)
    return fg


def looks_like_texture(image: np.ndarray) -> bool:
    """Guess for unknown categories: the border looks like the centre (a texture)."""
    lab = cv2.cvtColor(to_rgb(image), cv2.COLOR_RGB2LAB).astype(np.float32)
    h, w = lab.shape[:2]
    band = max(2, min(h, w) // 16)
    border = np.median(_border_band(lab, band), axis=0)
    centre = np.median(lab[h // 4: 3 * h // 4, w // 4: 3 * w // 4].reshape(-1, 3), axis=0)
    return float(np.linalg.norm(border - centre)) < 12.0


def foreground(image: np.ndarray, kind: str = "auto") -> np.ndarray:
    """(H, W) bool: where defects may go. ``kind`` is "object", "texture" or "auto"."""
    if kind == "auto":
        kind = "texture" if looks_like_texture(image) else "object"
    if kind == "texture":
        return np.ones(image.shape[:2], bool)
    return object_mask(image)
