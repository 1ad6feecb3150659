"""Image editors behind the IG tool, by name.

An editor applies a DefectSpec (and its instruction) to the original normal image:
``edit(image, spec, rng, scene=None) -> (edited, alpha)``; ``alpha`` is the exact soft
alpha when the editor knows it (procedural renderers) and None otherwise (generative
editors), in which case only the MG tool's change detection says what changed.
``scene`` (render.scene.Scene) carries what the episode knows beyond the pixels: the
object mask, named part masks, other normal images and a defect bank
(``scene_from_state`` builds it from an EpisodeState).

``spec_from_call`` is how the IG tool turns a call into a spec: the instruction text is
parsed over the plan (render/instruction.py), then the call's structured fields
override it, so a policy that writes only text drives the procedural editor too.
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ..records import DefectSpec
from ..registry import Registry


class Editor(Protocol):
    def families(self) -> list[str]: ...

    def edit(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator,
             scene: Any = None) -> tuple[np.ndarray, np.ndarray | None]: ...


EDITORS: Registry[Editor] = Registry("image editor")


def scene_from_state(state: Any) -> Any:
    """A render.scene.Scene from an EpisodeState: its foreground, and the part masks,
    normal images and defect bank when the state carries them (``parts``, ``normals``,
    ``bank`` attributes; a product model adds them)."""
    from ..render.scene import Scene

    parts = getattr(state, "parts", None) or {}
    if not isinstance(parts, dict):  # a product model object: take its named masks
        parts = dict(getattr(parts, "masks", {}) or {})
    # Only (H, W) bool masks are parts (a product model may also keep label images).
    parts = {k: v for k, v in parts.items() if isinstance(v, np.ndarray) and v.dtype == bool and v.ndim == 2}
    return Scene(foreground=getattr(state, "foreground", None), parts=parts,
                 normals=tuple(getattr(state, "normals", ()) or ()),
                 normal_masks=tuple(getattr(state, "normal_masks", ()) or ()), bank=getattr(state, "bank", None),
                 memo=getattr(state, "memo", None))


def spec_from_call(plan: DefectSpec, instruction: str, overrides: dict[str, Any], families: list[str]) -> DefectSpec:
    """The spec an IG call asks for: ``plan`` < what ``instruction`` states < ``overrides``."""
    from ..render.instruction import apply_instruction

    return apply_instruction(plan, instruction, families).replace(**overrides)


@EDITORS.register("procedural")
class ProceduralEditor:
    """Physics-informed procedural renderers (``anomalyagent.render``): fast, exact alpha."""

    def families(self) -> list[str]:
        from ..render import RENDERERS

        return RENDERERS.names()

    def edit(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator,
             scene: Any = None) -> tuple[np.ndarray, np.ndarray]:
        from ..render import render

        return render(image, spec, rng, scene)
