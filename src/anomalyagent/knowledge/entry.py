"""Knowledge-base records: what a defect is physically and how to render it.

The data lives in ``knowledge/data/*.yaml`` (package data, written by us). A user file
(YAML or JSON, same schema) can add or override entries.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..records import _Record

# Where on a part a defect tends to occur; QE's location term and PG's placement read it.
LOCATIONS = ("anywhere", "surface", "edge", "rim", "center", "thread", "print", "lead", "corner", "seam")


@dataclass
class Category(_Record):
    """An object or texture category (``hazelnut``, ``carpet``) or a generic material."""

    name: str
    kind: str  # "object": a part on a background; "texture": the surface fills the frame
    material: str
    dataset: str = ""  # "mvtec_ad", "visa", "magnetic_tile", "generic"
    description: str = ""
    synonyms: list[str] = field(default_factory=list)


@dataclass
class KnowledgeEntry(_Record):
    """One (category, defect) pair.

    ``size`` is the (min, max) longest extent as a fraction of min(H, W). ``priors``
    holds ranges for DefectSpec fields the PG tool samples from, e.g.
    ``{"aspect": [4, 20], "intensity": [0.4, 0.8], "color": "darker", "blend": "feather",
    "count": [1, 1]}``; family-specific keys go under ``priors["params"]``.
    """

    category: str
    defect: str
    family: str  # renderer family name (render.RENDERERS)
    material: str
    formation: str  # how the defect forms physically
    shape: str
    edges: str
    color: str  # one of records.COLOR_RELATIONS
    texture: str
    location: str  # one of LOCATIONS
    size: tuple[float, float] = (0.05, 0.25)
    priors: dict[str, Any] = field(default_factory=dict)
    synonyms: list[str] = field(default_factory=list)
    appearance: str = ""  # free text: what an inspector sees

    def __post_init__(self) -> None:
        self.size = (float(self.size[0]), float(self.size[1]))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "KnowledgeEntry":
        data = dict(data)
        if "size" in data:
            data["size"] = tuple(data["size"])
        return super().from_dict(data)

    def text(self) -> str:
        """The description a policy reads (KR tool observation)."""
        lo, hi = self.size
        return (
            f"{self.defect} on {self.category} ({self.material}). Formation: {self.formation} "
            f"Shape: {self.shape} Edges: {self.edges} Colour: {self.color} than the surrounding surface. "
            f"Texture: {self.texture} Typical location: {self.location}. "
            f"Size: {lo:.0%}-{hi:.0%} of the image's shorter side. {self.appearance}"
        ).strip()


@dataclass
class LookupResult:
    """Answer of ``KnowledgeBase.lookup``: the entry used, how it was found, alternatives."""

    entry: KnowledgeEntry
    match: str  # "exact", "synonym", "search", "generic"
    note: str = ""
    alternatives: list[KnowledgeEntry] = field(default_factory=list)
    category: Category | None = None
