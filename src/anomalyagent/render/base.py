"""The renderer contract used by the IG tool's procedural backend.

A renderer family draws one kind of defect. It reads a DefectSpec (geometry relative to
the image, appearance) and returns the edited image and the exact soft alpha of what it
changed:

    render(image, spec, rng, scene=None) -> (edited, alpha)
    image, edited: (H, W) or (H, W, 3) uint8 RGB, same shape and dtype
    alpha: (H, W) float32 in [0, 1]; > 0.5 where the change is visible, < 0.05 where
           the pixels are untouched

Renderers are deterministic given ``rng`` and never modify ``image`` in place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..records import DefectSpec
from ..registry import Registry


@dataclass(frozen=True)
class Param:
    """One documented parameter a family reads: a DefectSpec field or a ``params`` key."""

    name: str
    kind: str  # "float", "int", "choice", "point"
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "default": self.default, "help": self.help}
        if self.low is not None:
            out["low"], out["high"] = self.low, self.high
        if self.choices:
            out["choices"] = list(self.choices)
        return out


class Renderer(Protocol):
    name: str
    description: str
    parameters: tuple[Param, ...]

    def render(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator,
               scene: Any = None) -> tuple[np.ndarray, np.ndarray]: ...


RENDERERS: Registry[Renderer] = Registry("renderer")


def check_image(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"renderers take (H, W) or (H, W, 3) uint8 images, got {image.dtype} {image.shape}")


def render(image: np.ndarray, spec: DefectSpec, rng: np.random.Generator,
           scene: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Render ``spec`` on ``image`` with the family it names.

    ``scene`` (render.scene.Scene, optional) tells structural families where the object
    and its parts are and gives them other normal images and a defect bank; without it
    they estimate the part from colour and fill from this image's own background.
    """
    check_image(image)
    renderer = RENDERERS.create(spec.family)
    edited, alpha = renderer.render(image, spec, rng, scene)
    assert edited.shape == image.shape and edited.dtype == np.uint8, spec.family
    assert alpha.shape == image.shape[:2], spec.family
    return edited, np.clip(alpha.astype(np.float32), 0.0, 1.0)
