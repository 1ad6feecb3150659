"""Image editors behind the IG tool, by name.

An editor applies a DefectSpec (and its instruction) to the original normal image:
``edit(image, spec, rng) -> (edited, alpha)``; ``alpha`` is the exact soft alpha when the
editor knows it (procedural renderers) and None otherwise (generative editors), in which
case only the MG tool's change detection says what changed.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from ..records import DefectSpec
from ..registry import Registry


class Editor(Protocol):
    def families(self) -> list[str]: ...

    def edit(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]: ...


EDITORS: Registry[Editor] = Registry("image editor")


@EDITORS.register("procedural")
class ProceduralEditor:
    """Physics-informed procedural renderers (``anomalyagent.render``): fast, exact alpha."""

    def families(self) -> list[str]:
        from ..render import RENDERERS

        return RENDERERS.names()

    def edit(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        from ..render import render

        return render(image, spec, rng)
