"""Shared base for renderer families: the documented DefectSpec fields they read and the
input checks, so each family file only says how its defect looks.

A family subclasses ``Family``, sets ``name`` (= its registry key and file name),
``description`` and ``parameters``, and implements ``draw(image, spec, rng)`` returning
(edited uint8, alpha float32); ``render`` validates the input and the spec first.
"""
from __future__ import annotations

import numpy as np

from ..records import BLEND_MODES, COLOR_RELATIONS, DefectSpec
from .base import Param, check_image


def center_param() -> Param:
    return Param("center", "point", (0.5, 0.5), 0.0, 1.0, help="(x, y) of the defect centre, fractions of width and height")


def size_param(default: float, low: float, high: float, what: str = "longest extent") -> Param:
    return Param("size", "float", default, low, high, help=f"{what} as a fraction of min(H, W)")


def aspect_param(default: float, low: float, high: float, what: str = "length / width") -> Param:
    return Param("aspect", "float", default, low, high, help=what)


def angle_param() -> Param:
    return Param("angle", "float", 0.0, -180.0, 180.0, help="orientation, degrees counter-clockwise from +x")


def intensity_param(default: float, what: str) -> Param:
    return Param("intensity", "float", default, 0.0, 1.0, help=what)


def color_param(default: str, what: str = "relation of the defect's colour to the surface") -> Param:
    return Param("color", "choice", default, choices=COLOR_RELATIONS, help=what)


def blend_param() -> Param:
    return Param("blend", "choice", "feather", choices=BLEND_MODES,
                 help="edge transition: feather (soft), hard (a 1 px step) or poisson (gradient-domain blend: cv2.seamlessClone's equations)")


def extra_param(name: str, kind: str, default, low=None, high=None, help: str = "") -> Param:
    """A family-specific key read from ``spec.params``."""
    return Param(f"params.{name}", kind, default, low, high, help=help)


def edge_width(spec: DefectSpec, soft_px: float, unit: float) -> float:
    """Feather width (px) of an outline: ``soft_px`` for feather, twice that for poisson
    (the softest setting: a wider ramp, then the gradient-domain blend), ~1 px for hard.

    The soft width never exceeds 2 % (poisson: 4 %) of the image so a large stain keeps
    a defined edge.
    """
    if spec.blend == "hard":
        return 1.0
    if spec.blend == "poisson":
        return float(np.clip(2.0 * soft_px, 1.0, max(1.0, 0.04 * unit)))
    return float(np.clip(soft_px, 1.0, max(1.0, 0.02 * unit)))


def read_param(spec: DefectSpec, key: str, default, low: float | None = None, high: float | None = None):
    """``spec.params[key]`` as a float clipped to [low, high], or ``default`` when absent.

    Keys follow the knowledge base's family priors (knowledge/data/families.yaml), so a
    planner can pass an entry's sampled ``params`` straight through.
    """
    value = spec.params.get(key)
    if value is None or isinstance(value, (str, bool)):
        return default
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    if not np.isfinite(value):
        return default
    if low is not None:
        value = max(low, value)
    if high is not None:
        value = min(high, value)
    return value


def line_width(spec: DefectSpec, width_px: float, unit: float, max_fraction: float) -> float:
    """Width (px) of a line-like defect: ``params.width`` (fraction of min(H, W)) when
    given, else ``width_px`` (= length / aspect), kept in [0.8 px, max_fraction x unit]."""
    width = read_param(spec, "width", width_px / unit, 0.001, max_fraction) * unit
    return float(np.clip(width, 0.8, max_fraction * unit + 0.8))




class Family:
    """Base class of a renderer family (see module docstring).

    ``uses_scene``: ``draw`` takes a fourth argument, the render.scene.Scene (object,
    parts, normal images, bank). ``handles_texture`` / ``handles_blend``: the family
    applies ``spec.texture`` / ``spec.blend`` itself; otherwise render/controls.py does
    it around ``draw``. ``spec.params["count"]`` instances are always drawn here.
    """

    name = ""
    description = ""
    parameters: tuple[Param, ...] = ()
    uses_scene = False
    handles_texture = False
    handles_blend = False
    # The alpha a family returns may cover pixels it labels but did not visibly change
    # (a pasted real defect's own mask, transplant.py); a texture or blend control applied
    # afterwards then keeps that cover instead of re-measuring only the visible change.
    keeps_label = False
    # The family moves the image's own pixels (a part bent, moved or split): a grain-adding
    # texture restores their resampled-away detail instead of drawing a grain (controls.py),
    # and its alpha keeps the part's old and new place after a control, as ``keeps_label``
    # (where they overlap in like colours nothing visibly changed, yet both are the defect).
    moves_pixels = False

    def render(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator,
               scene=None) -> tuple[np.ndarray, np.ndarray]:
        """Edited copy of ``image`` and the (H, W) float32 alpha of what visibly changed."""
        from .controls import apply_blend, apply_texture, finalize, instance_specs

        check_image(image)
        problems = spec.validate()
        numbers = (*spec.center, spec.size, spec.angle, spec.aspect, spec.intensity)
        if not all(isinstance(v, (int, float)) and np.isfinite(v) for v in numbers):
            problems.append(f"centre, size, angle, aspect and intensity must be finite numbers, got {numbers}")
        if problems:
            raise ValueError(f"{self.name}: invalid spec: {'; '.join(problems)}")
        current = image
        alpha_all = np.zeros(image.shape[:2], np.float32)
        for one in instance_specs(image.shape, spec, scene, rng):
            # Families draw "poisson" like feather (with edge_width's wider ramp); the
            # gradient-domain blend is applied afterwards (controls.apply_blend).
            edited, alpha = self.draw(current, one, rng, scene) if self.uses_scene else self.draw(current, one, rng)
            touched = False
            if not self.handles_texture and one.texture != "keep":
                edited, touched = apply_texture(current, edited, alpha, one, rng, self.moves_pixels), True
            if not self.handles_blend and one.blend != "feather":
                edited, touched = apply_blend(current, edited, alpha, one.blend), True
            if touched:
                drawn = alpha
                edited, alpha = finalize(current, edited)
                if self.keeps_label or self.moves_pixels:
                    alpha = np.maximum(alpha, drawn)
            alpha_all = np.maximum(alpha_all, alpha)
            current = edited
        return current, alpha_all

    def draw(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def describe(self) -> dict:
        """Name, description and documented parameters (``anomalyagent renderers``)."""
        return {"name": self.name, "description": self.description, "parameters": [p.to_dict() for p in self.parameters]}
