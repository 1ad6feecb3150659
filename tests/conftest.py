"""Shared fixtures: synthetic images and MVTec-layout trees built from a seeded generator.

Nothing here is downloaded and no real dataset image is used.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from anomalyagent.synthetic import object_image, texture_image  # noqa: F401  (re-exported for tests)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Product models built by tests are cached in a fresh folder per test process, never in
# ~/.cache, and that folder is removed when the process ends.
if "ANOMALYAGENT_CACHE" not in os.environ:
    _CACHE = tempfile.mkdtemp(prefix="anomalyagent-cache-")
    os.environ["ANOMALYAGENT_CACHE"] = _CACHE
    atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)


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


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen3-VL saved to disk (built locally, offline, about 5 s once per worker)."""
    pytest.importorskip("transformers")
    pytest.importorskip("trl")
    from anomalyagent.models.tiny_vlm import build_tiny_qwen3_vl

    return build_tiny_qwen3_vl(tmp_path_factory.mktemp("tiny_vlm"))
