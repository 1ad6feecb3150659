"""The learned policy's action space: the next tool, and an IG edit relative to the current spec.

All heads are categorical (a discrete action has an exact log-probability and an exact
KL, which GRPO needs):

- ``tool``: PG, IG, QE, KR, MG or answer;
- for IG: ``family`` (keep, or one of the editor's families), ``blend`` (keep or one
  of BLEND_MODES), ``location`` (keep, or one cell of a GRID x GRID grid over the image;
  the centre goes to the pixel of that cell nearest its middle where the defect may go:
  the product model's region for it, else the foreground's placement region; a cell
  holding none snaps to the nearest such pixel, so an edit never leaves the object), ``size``
  (a factor on the current size), ``intensity`` (a step added to the current intensity),
  ``advice`` (keep, or follow the critic's last advice on aspect, colour and texture the
  way the rule policy does, ``planning.refine``: the fields these heads cannot set).

Relative size/intensity bins keep the action meaningful whatever the category's scale;
the absolute grid cell lets the policy put the defect where it sees the part.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..records import BLEND_MODES, DefectSpec

TOOLS = ("PG", "IG", "QE", "KR", "MG", "answer")
SIZE_FACTORS = (0.5, 0.71, 1.0, 1.41, 2.0)
INTENSITY_STEPS = (-0.3, -0.15, 0.0, 0.15, 0.3)
KEEP = "keep"
HEADS = ("tool", "family", "blend", "location", "size", "intensity", "advice")
IG_HEADS = HEADS[1:]


@dataclass(frozen=True)
class ActionSpace:
    """Sizes and meanings of the heads (stored with the weights so they stay in step)."""

    families: tuple[str, ...]
    blends: tuple[str, ...] = BLEND_MODES
    grid: int = 4
    size_factors: tuple[float, ...] = SIZE_FACTORS
    intensity_steps: tuple[float, ...] = INTENSITY_STEPS
    tools: tuple[str, ...] = field(default=TOOLS)
    advice: bool = True  # the advice head; False for checkpoints made before it existed

    def heads(self) -> tuple[str, ...]:
        """The heads this space has (HEADS, less ``advice`` for an older checkpoint)."""
        return tuple(h for h in HEADS if h != "advice" or self.advice)

    def sizes(self) -> dict[str, int]:
        """Number of classes per head."""
        return {"tool": len(self.tools), "family": 1 + len(self.families), "blend": 1 + len(self.blends),
                "location": 1 + self.grid * self.grid, "size": len(self.size_factors),
                "intensity": len(self.intensity_steps), **({"advice": 2} if self.advice else {})}

    def to_dict(self) -> dict[str, Any]:
        return {"families": list(self.families), "blends": list(self.blends), "grid": self.grid,
                "size_factors": list(self.size_factors), "intensity_steps": list(self.intensity_steps),
                "tools": list(self.tools), "advice": self.advice}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ActionSpace":
        return cls(families=tuple(data["families"]), blends=tuple(data["blends"]), grid=int(data["grid"]),
                   size_factors=tuple(float(x) for x in data["size_factors"]),
                   intensity_steps=tuple(float(x) for x in data["intensity_steps"]), tools=tuple(data["tools"]),
                   advice=bool(data.get("advice", False)))  # a checkpoint without the key predates the head

    # -- labels from a demonstrated edit -------------------------------------------------
    def cell(self, center: tuple[float, float]) -> int:
        """Grid cell index (row-major) of an (x, y) centre in [0, 1]^2."""
        col = min(int(center[0] * self.grid), self.grid - 1)
        row = min(int(center[1] * self.grid), self.grid - 1)
        return row * self.grid + col

    def encode_edit(self, before: DefectSpec, after: dict[str, Any]) -> dict[str, int]:
        """Head labels of the IG call ``after`` (its arguments) made from spec ``before``."""
        family = after.get("family", before.family)
        blend = after.get("blend", before.blend)
        center = tuple(after.get("center", before.center))
        size = float(after.get("size", before.size))
        intensity = float(after.get("intensity", before.intensity))
        moved = abs(center[0] - before.center[0]) + abs(center[1] - before.center[1]) > 1e-6
        ratio = math.log(max(size, 1e-4) / max(before.size, 1e-4))
        return {
            "family": 0 if family == before.family or family not in self.families else 1 + self.families.index(family),
            "blend": 0 if blend == before.blend or blend not in self.blends else 1 + self.blends.index(blend),
            "location": 1 + self.cell(center) if moved else 0,
            "size": int(np.argmin([abs(ratio - math.log(f)) for f in self.size_factors])),
            "intensity": int(np.argmin([abs(intensity - before.intensity - s) for s in self.intensity_steps])),
        }

    # -- an edit from chosen classes -----------------------------------------------------
    def place(self, cell: int, fg: np.ndarray) -> tuple[float, float]:
        """Centre for grid ``cell`` on the (H, W) bool mask ``fg`` (``snap``)."""
        return snap(fg, cell, self.grid)

    def decode_edit(self, before: DefectSpec, choice: dict[str, int], fg: np.ndarray, place=None) -> DefectSpec:
        """The spec an IG call sets from the chosen classes (bounded to valid values).
        ``place(cell, size)``: the centre for a cell, given the edit's new size (the caller
        knows where the defect may go: the product model's region, or the foreground's
        placement region); None: ``self.place(cell, fg)``. The ``advice`` head is applied
        by the caller (it needs the critic's advice and the knowledge entry)."""
        spec = before
        if choice["family"] > 0:
            spec = spec.replace(family=self.families[choice["family"] - 1])
        if choice["blend"] > 0:
            spec = spec.replace(blend=self.blends[choice["blend"] - 1])
        size = round(min(0.9, max(0.01, spec.size * self.size_factors[choice["size"]])), 4)
        intensity = min(1.0, max(0.05, spec.intensity + self.intensity_steps[choice["intensity"]]))
        if choice["location"] > 0:
            cell = choice["location"] - 1
            spec = spec.replace(center=place(cell, size) if place is not None else self.place(cell, fg))
        return spec.replace(size=size, intensity=round(intensity, 3))


def snap(mask: np.ndarray, cell: int, grid: int) -> tuple[float, float]:
    """(x, y) in [0, 1]^2: the pixel of the (H, W) bool ``mask`` in grid ``cell`` (row-major,
    ``grid`` x ``grid`` cells) nearest the cell's middle; when the cell holds none, the mask
    pixel nearest that middle anywhere in the image, so a chosen cell beside the object
    still gives an edit on it (the cell's middle only when the mask is empty)."""
    h, w = mask.shape
    row, col = divmod(cell, grid)
    y0, y1 = row * h // grid, (row + 1) * h // grid
    x0, x1 = col * w // grid, (col + 1) * w // grid
    cy, cx = (y0 + y1 - 1) / 2.0, (x0 + x1 - 1) / 2.0
    ys, xs = np.nonzero(mask[y0:y1, x0:x1])
    if len(ys):
        ys, xs = ys + y0, xs + x0
    else:
        ys, xs = np.nonzero(mask)
    if len(ys):
        i = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
        cy, cx = ys[i], xs[i]
    return (round(float(cx) / max(w - 1, 1), 4), round(float(cy) / max(h - 1, 1), 4))
