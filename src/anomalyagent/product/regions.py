"""From the knowledge base's words to a region of this image: "lead" -> the leads, "edge" -> the
object's border band, "damaged_case" -> the case.

The defect's own name is read first (a ``cut_lead`` is on a lead even if its entry's
location says "edge"), then the entry's location word. A word with no matching part in
this product falls back to the whole object, and the region's ``note`` says so, so the
PG observation can tell the policy.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# word -> part name produced by parts.split_parts / texture_parts
PART_WORDS = {
    "lead": "lead", "leads": "lead", "leg": "lead", "legs": "lead", "pin": "lead", "pins": "lead",
    "wire": "lead", "terminal": "lead", "prong": "lead",
    "case": "body", "body": "body", "package": "body", "housing": "body", "shell": "body",
    "edge": "edge", "rim": "edge", "border": "edge", "corner": "edge", "outline": "edge", "contour": "edge",
    "side": "edge", "seam": "edge",
    "center": "centre", "centre": "centre", "middle": "centre", "core": "centre",
    "hole": "hole", "opening": "hole", "bore": "hole",
    "surface": "object", "anywhere": "object", "object": "object", "whole": "object",
}
# words that name a real part of some product but not one geometry finds here: fall back, say so
KNOWN_ELSEWHERE = ("thread", "cap", "label", "print", "head", "tip", "top", "bottom", "screen", "lens")
EDGE_WORDS = ("edge", "rim", "border", "corner", "outline", "contour", "side", "seam")


@dataclass
class Region:
    """Where a defect goes: ``name`` (what the observation calls it), ``mask`` (H, W) bool where
    its centre may lie, ``part`` (H, W) bool the part it must stay on (sizes are relative
    to it), ``thin`` when the part is thin and elongated (a lead), ``note`` when the word
    had no matching part and the region fell back."""

    name: str
    mask: np.ndarray
    part: np.ndarray
    thin: bool = False
    note: str = ""
    labels: np.ndarray | None = None  # (H, W) int32 pieces of a thin part (one label per lead)


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z]+", text.lower()) if w]


def resolve_region(location: str, defect_type: str, parts: dict[str, np.ndarray]) -> Region:
    """The region for a defect named ``defect_type`` whose knowledge says ``location``."""
    obj = parts.get("object")
    if obj is None:
        raise ValueError("parts need an 'object' mask")
    named = [PART_WORDS[w] for w in _words(defect_type) if w in PART_WORDS and PART_WORDS[w] not in ("object", "edge")]
    loc_words = _words(location)
    edge = any(w in EDGE_WORDS for w in loc_words)
    target = named[0] if named else next((PART_WORDS[w] for w in loc_words if w in PART_WORDS), None)
    unknown = [w for w in loc_words + _words(defect_type) if w in KNOWN_ELSEWHERE]
    if target is None:
        word = unknown[0] if unknown else (location or "anywhere")
        note = "" if word in ("", "anywhere") else f"no part '{word}' found on this product; placed on the object"
        return Region("object", obj, obj, note=note)
    if target == "object":
        return Region("surface" if "surface" in loc_words else "object", obj, obj)
    part = parts.get(target)
    if part is None or not part.any():
        return Region("object", obj, obj, note=f"no {target} found on this product; placed on the object")
    if target == "lead":
        return Region("lead", part, part, thin=True, labels=parts.get("lead_labels"))
    if target == "body":
        name = "case" if "case" in _words(defect_type) + loc_words else "body"
        if edge and "edge" in parts:  # a chipped case: the body's border band
            band = part & _inner_band(part)
            if band.any():
                return Region(f"{name} edge", band, part)
        return Region(name, part, part)
    if target == "edge":
        return Region("edge", part, obj)
    if target == "centre":
        return Region("centre", part, obj)
    return Region(target, part, part)


def _inner_band(part: np.ndarray) -> np.ndarray:
    import cv2

    side = min(part.shape)
    dist = cv2.distanceTransform(np.pad(part.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    return dist <= max(2.0, 0.05 * side)
