"""What the learned policy reads of the product model, and of the critic's advice.

Two groups of cheap state features, added to ``features.state_vector``:

- ``RegionView`` / ``region_features``: the product model's masks for this image
  (``Conversation.regions``: "object", "body", "lead", "edge", ...; empty without a
  product model) turned into the region this defect belongs on (the same
  ``product.regions.resolve_region`` the PG tool plans with): which kind of part it is,
  its area share, a GRID x GRID map of where it is, and, per turn, whether the current
  plan lies on it (centre on the part, share of the planned footprint on it). Without a
  product model the "part" is the foreground estimate and ``has_regions`` is 0, so one
  network serves both.
- ``advice_features``: the critic's last advice beyond the signed parameter flags
  (features.ADVICE): the texture direction (and "smooth"), a colour relation named,
  a location that names the edge, the size ``scale`` it asks for (log), and the current
  colour and finish, which the ``advice`` head (space.py) may change.

Shapes: ``region_features`` (REGION_DIM,), ``advice_features`` (ADVICE_DIM,) float32,
values in about [-1, 1].
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..records import COLOR_RELATIONS, TEXTURES, DefectSpec

PART_KINDS = ("object", "body", "lead", "edge", "centre", "hole")
GRID = 4
# has_regions, part kind one-hot, fell back, thin, part / allowed / object area shares,
# centre on part, centre on object, footprint share on part, part grid
REGION_DIM = 1 + len(PART_KINDS) + 2 + 3 + 3 + GRID * GRID
FOLLOWED = ("aspect", "color", "texture")  # what the advice head applies (space.py)
# texture +-1 and "smooth", colour relation named, location names the edge, log size scale,
# any followable advice, current colour and finish one-hots
ADVICE_DIM = 2 + 1 + 1 + 1 + 1 + len(COLOR_RELATIONS) + len(TEXTURES)
FOLLOW_AT = 5  # index in advice_features of "some advice the advice head can follow"


def _grid(mask: np.ndarray) -> np.ndarray:
    small = cv2.resize(mask.astype(np.float32), (GRID, GRID), interpolation=cv2.INTER_AREA)
    return small.reshape(-1).astype(np.float32)


def _kind(name: str) -> str:
    """The part kind of a Region name ("case edge" -> edge, "surface" -> object, "case" -> body)."""
    words = name.split()
    if "edge" in words:
        return "edge"
    if words and words[0] in ("case", "body"):
        return "body"
    return words[0] if words and words[0] in PART_KINDS else "object"


@dataclass
class RegionView:
    """The region a defect belongs on, for one episode.

    ``part`` (H, W) bool: the part it must stay on; ``allowed`` (H, W) bool: where its
    centre may go (a band for an edge defect); ``fixed`` (REGION_DIM - 3,) float32: the
    features that do not change during the episode.
    """

    part: np.ndarray
    allowed: np.ndarray
    obj: np.ndarray
    fixed: np.ndarray
    has_regions: bool

    @classmethod
    def build(cls, regions: dict[str, Any] | None, fg: np.ndarray, location: str, defect: str) -> "RegionView":
        """From the product model's masks (``regions``; None or {} without one) and the
        foreground estimate ``fg`` (H, W) bool; masks of another shape are ignored."""
        masks = {k: v for k, v in (regions or {}).items()
                 if isinstance(v, np.ndarray) and v.dtype == bool and v.shape == fg.shape}
        kind = np.zeros(len(PART_KINDS), np.float32)
        flags = np.zeros(2, np.float32)
        if masks.get("object") is not None and masks["object"].any():
            from ..product.regions import resolve_region

            region = resolve_region(location, defect, masks)
            part, allowed, obj = region.part, region.mask, masks["object"]
            kind[PART_KINDS.index(_kind(region.name))] = 1.0
            flags[:] = (float(bool(region.note)), float(region.thin))
            has = True
        else:
            part = allowed = obj = fg
            kind[0] = 1.0
            has = False
        if not allowed.any():
            allowed = part if part.any() else np.ones_like(fg)
        areas = np.array([part.mean(), allowed.mean(), obj.mean()], np.float32)
        fixed = np.concatenate([[float(has)], kind, flags, areas, _grid(part)]).astype(np.float32)
        return cls(part, allowed, obj, fixed, has)

    def place(self, cell: int, grid: int, size: float | None = None) -> tuple[float, float]:
        """Centre for grid ``cell`` on the region (``space.snap``: the allowed pixel in the
        cell nearest its middle, else the nearest allowed pixel anywhere). ``size`` (fraction
        of min(H, W)): keep to the allowed pixels far enough inside the part for a defect of
        that size to stay on it (0.45 of its size, else a third, as
        ``planning.placement_region``), when there are any; else (a part too thin for it:
        a lead) to the allowed pixels along the part's middle line (deeper inside it than
        half the deepest), as PG places on a thin part, never the part's border nearest the cell."""
        from .space import snap

        mask = self.allowed
        dist = cv2.distanceTransform(np.pad(self.part.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
        if size is not None:
            side = min(mask.shape)
            for reach in (0.45, 1.0 / 3.0):
                inner = mask & (dist > max(1.0, reach * size * side))
                if inner.any():
                    return snap(inner, cell, grid)
        inside = dist[mask]
        if inside.size and inside.max() > 0:
            mask = mask & (dist > 0.5 * float(inside.max()))
        return snap(mask, cell, grid)


def _on(mask: np.ndarray, center: tuple[float, float]) -> float:
    h, w = mask.shape
    x = min(max(int(round(center[0] * (w - 1))), 0), w - 1)
    y = min(max(int(round(center[1] * (h - 1))), 0), h - 1)
    return float(mask[y, x])


def region_features(view: RegionView, spec: DefectSpec | None) -> np.ndarray:
    """(REGION_DIM,) float32: ``view``'s fixed features and where ``spec`` lies on it."""
    from ..planning import on_part_fraction

    if spec is None:
        live = np.zeros(3, np.float32)
    else:
        live = np.array([_on(view.part, spec.center), _on(view.obj, spec.center), on_part_fraction(spec, view.part)], np.float32)
    fixed = view.fixed
    # fixed = [has, kind (6), flags (2), areas (3), grid (16)]: live goes before the grid
    return np.concatenate([fixed[:12], live, fixed[12:]]).astype(np.float32)


def advice_features(advice: list[dict[str, Any]], spec: DefectSpec | None) -> np.ndarray:
    """(ADVICE_DIM,) float32 from the last QE's advice items (empty when the edit was not judged)."""
    from ..critic.advice import advice_scale

    texture = np.zeros(2, np.float32)  # increase / decrease as +-1; "smooth"
    relation = edge = scale = follow = 0.0
    for item in advice:
        p, d = item.get("parameter", ""), item.get("direction", "")
        if p == "texture":
            if d == "smooth":
                texture[1] = 1.0
            else:
                texture[0] = 1.0 if d == "increase" else -1.0
        elif p == "color" and d in COLOR_RELATIONS:
            relation = 1.0
        elif p == "location" and d == "move_to_edge":
            edge = 1.0
        elif p == "size":
            s = advice_scale(item)
            scale = math.log(s) / math.log(4.0) if s else scale
        follow = max(follow, float(p in FOLLOWED))
    color = np.zeros(len(COLOR_RELATIONS), np.float32)
    finish = np.zeros(len(TEXTURES), np.float32)
    if spec is not None:
        if spec.color in COLOR_RELATIONS:
            color[COLOR_RELATIONS.index(spec.color)] = 1.0
        if spec.texture in TEXTURES:
            finish[TEXTURES.index(spec.texture)] = 1.0
    return np.concatenate([texture, [relation, edge, scale, follow], color, finish]).astype(np.float32)


def followed_advice(advice: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The advice items the ``advice`` head applies (aspect, colour, texture)."""
    return [a for a in advice if isinstance(a, dict) and a.get("parameter") in FOLLOWED]


__all__ = ["ADVICE_DIM", "FOLLOWED", "PART_KINDS", "REGION_DIM", "RegionView", "advice_features", "followed_advice",
           "region_features"]
