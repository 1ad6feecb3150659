"""Generative IG editors: a diffusers inpainting pipeline and an OpenAI-compatible image-edit endpoint.

Both edit inside the region the plan names (``plan_region``: the spec's centre, size,
aspect and angle as an ellipse, grown by ``margin``) with the instruction as prompt,
(``scene``, the episode's object and part masks, is accepted and not used yet) and
paste the result back into the ORIGINAL image through a feathered version of that
region: a generative model also drifts pixels it was not asked to touch (VAE round
trip, resampling), and MG's change mask must show the defect, not that drift. They know
no exact alpha, so they return ``alpha=None`` and MG's change detection makes the mask.
"""
from __future__ import annotations

import math
import threading
from typing import Any

import cv2
import numpy as np

from ..records import DefectSpec
from .editors import EDITORS

DIFFUSERS_HINT = "the diffusers editor needs the diffusers extra: pip install 'anomalyagent[diffusers]' (and torch)"


def plan_region(spec: DefectSpec, shape: tuple[int, ...], margin: float = 1.3, min_pixels: int = 8) -> np.ndarray:
    """(H, W) bool ellipse where the edit may happen: centre (x, y) fractions, length =
    size * min(H, W) * margin, width = length / aspect (at least ``min_pixels``), rotated
    by ``angle`` degrees counter-clockwise."""
    h, w = shape[:2]
    length = max(float(min_pixels), spec.size * min(h, w) * margin)
    width = max(float(min_pixels), length / max(spec.aspect, 1.0))
    region = np.zeros((h, w), np.uint8)
    center = (int(round(spec.center[0] * (w - 1))), int(round(spec.center[1] * (h - 1))))
    cv2.ellipse(region, center, (int(math.ceil(length / 2)), int(math.ceil(width / 2))), -float(spec.angle), 0, 360, 1, -1)
    return region.astype(bool)


def paste(original: np.ndarray, generated: np.ndarray, region: np.ndarray, feather: float = 2.0) -> np.ndarray:
    """``generated`` (any size, RGB) inside ``region`` over ``original``, edges feathered (pixels)."""
    h, w = original.shape[:2]
    gen = cv2.resize(generated, (w, h), interpolation=cv2.INTER_AREA) if generated.shape[:2] != (h, w) else generated
    if original.ndim == 2:
        gen = cv2.cvtColor(gen, cv2.COLOR_RGB2GRAY) if gen.ndim == 3 else gen
    elif gen.ndim == 2:
        gen = np.repeat(gen[..., None], 3, axis=2)
    alpha = cv2.GaussianBlur(region.astype(np.float32), (0, 0), feather) if feather > 0 else region.astype(np.float32)
    a = alpha[..., None] if original.ndim == 3 else alpha
    out = original.astype(np.float32) * (1 - a) + gen.astype(np.float32) * a
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _families() -> list[str]:
    from ..render import RENDERERS

    return RENDERERS.names()


def _check(name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")


@EDITORS.register("diffusers")
class DiffusersInpaintEditor:
    """A diffusers inpainting pipeline (any model id in the local cache, or a folder).

    ``model``: e.g. a Stable Diffusion inpainting checkpoint; ``device``: "cpu", "cuda"...;
    ``steps``: denoising steps; ``guidance``: classifier-free guidance scale; ``size``:
    working resolution in pixels (square, a multiple of 8); ``margin``: region growth;
    ``dtype``: "float32" / "float16" / "bfloat16"; ``negative_prompt``. Seeds come
    from the episode's rng, so the same task gives the same image on the same device.
    """

    def __init__(self, model: str, device: str = "cpu", steps: int = 30, guidance: float = 7.5, size: int = 512,
                 margin: float = 1.3, dtype: str = "float32", negative_prompt: str = "blurry, cartoon, text, watermark",
                 local_files_only: bool = True) -> None:
        try:
            import torch
            from diffusers import AutoPipelineForInpainting
        except ImportError as exc:
            raise ImportError(f"{DIFFUSERS_HINT} ({exc})") from None
        _check("steps", steps, 1, 1000)
        _check("guidance", guidance, 0, 50)
        _check("margin", margin, 1, 4)
        if not isinstance(size, int) or size % 8 or not 64 <= size <= 4096:
            raise ValueError(f"size must be a multiple of 8 in [64, 4096], got {size!r}")
        torch_dtype = getattr(torch, dtype, None)
        if torch_dtype is None:
            raise ValueError(f"dtype {dtype!r}: use float32, float16 or bfloat16")
        self.torch = torch
        self.pipe = AutoPipelineForInpainting.from_pretrained(model, torch_dtype=torch_dtype,
                                                              local_files_only=local_files_only).to(device)
        self.pipe.set_progress_bar_config(disable=True)
        self.device, self.steps, self.guidance, self.size = device, int(steps), float(guidance), size
        self.margin, self.negative_prompt = float(margin), negative_prompt
        self.lock = threading.Lock()

    def families(self) -> list[str]:
        return _families()

    def edit(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator, scene: Any = None) -> tuple[np.ndarray, None]:
        from PIL import Image

        region = plan_region(spec, image.shape, self.margin)
        rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
        init = Image.fromarray(cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA))
        mask = Image.fromarray(cv2.resize(region.astype(np.uint8) * 255, (self.size, self.size), interpolation=cv2.INTER_NEAREST))
        seed = int(rng.integers(2**31))
        with self.lock:
            generator = self.torch.Generator(device="cpu").manual_seed(seed)
            result = self.pipe(prompt=spec.instruction or spec.defect_type, negative_prompt=self.negative_prompt,
                               image=init, mask_image=mask, height=self.size, width=self.size,
                               num_inference_steps=self.steps, guidance_scale=self.guidance, generator=generator,
                               output_type="np")
        generated = np.clip(np.round(np.asarray(result.images[0]) * 255), 0, 255).astype(np.uint8)
        return paste(image, generated, region), None


@EDITORS.register("openai")
class OpenAIImageEditor:
    """An OpenAI-compatible ``/images/edits`` endpoint (``base_url``, ``model``,
    ``api_key_env``, ``timeout``, ``retries``, ``backoff``; ``size``: e.g. "1024x1024",
    sent when given; ``margin``: region growth)."""

    def __init__(self, base_url: str, model: str, api_key_env: str | None = None, timeout: float = 300.0,
                 retries: int = 3, backoff: float = 1.0, size: str | None = None, margin: float = 1.3) -> None:
        from ..models.openai_api import OpenAIClient

        _check("margin", margin, 1, 4)
        self.client = OpenAIClient(base_url, model, api_key_env, timeout, retries, backoff)
        self.params = {"size": size} if size else {}
        self.margin = float(margin)

    def families(self) -> list[str]:
        return _families()

    def edit(self, image: np.ndarray, spec: DefectSpec, rng: np.random.Generator, scene: Any = None) -> tuple[np.ndarray, None]:
        from ..models.openai_api import ModelError
        from .base import CallError

        region = plan_region(spec, image.shape, self.margin)
        try:
            generated, _ = self.client.edit_image(image, region, spec.instruction or spec.defect_type, **self.params)
        except ModelError as exc:
            raise CallError(f"IG backend failed: {exc}") from None
        return paste(image, generated, region), None
