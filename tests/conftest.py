"""Shared fixtures: synthetic images and MVTec-layout trees built from a seeded generator.

Nothing here is downloaded and no real dataset image is used.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def object_image(rng: np.random.Generator, size: int = 96, gray: bool = False) -> np.ndarray:
    """A textured brown ellipse (a nut-like part) on a dark, slightly noisy background."""
    h = w = size
    img = np.full((h, w, 3), 20, np.float32) + rng.normal(0, 2, (h, w, 3))
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy = w * rng.uniform(0.45, 0.55), h * rng.uniform(0.45, 0.55)
    inside = ((xx - cx) / (0.36 * w)) ** 2 + ((yy - cy) / (0.30 * h)) ** 2 <= 1
    grain = cv2.GaussianBlur(rng.normal(0, 14, (h, w)).astype(np.float32), (0, 0), 1.2)
    shade = 1.0 - 0.35 * (((xx - cx) / w) ** 2 + ((yy - cy) / h) ** 2) * 4
    base = np.array([150, 105, 60], np.float32)
    img[inside] = (base[None] * shade[inside][:, None] + grain[inside][:, None])
    img = np.clip(img, 0, 255).astype(np.uint8)
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if gray else img


def texture_image(rng: np.random.Generator, size: int = 96, gray: bool = True) -> np.ndarray:
    """A fine-grained surface filling the frame (like a magnetic tile or fabric)."""
    noise = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 1.5)
    img = 120 + 18 * noise / max(float(noise.std()), 1e-6)
    img = np.clip(img, 0, 255).astype(np.uint8)
    return img if gray else cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)


def write_image(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def object_tree(tmp_path: Path) -> Path:
    """An MVTec-layout category 'hazelnut' with 4 synthetic RGB normal images (96 px)."""
    root = tmp_path / "hazelnut"
    rng = np.random.default_rng(1)
    for i in range(4):
        write_image(root / "train" / "good" / f"{i:03d}.png", object_image(rng))
    return root


@pytest.fixture
def texture_folder(tmp_path: Path) -> Path:
    """A plain folder 'magnetic_tile' of 3 grayscale texture images of different sizes."""
    root = tmp_path / "magnetic_tile"
    rng = np.random.default_rng(2)
    for i, size in enumerate((80, 96, 112)):
        write_image(root / f"tile_{i}.png", texture_image(rng, size))
    return root
