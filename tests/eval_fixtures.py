"""A tiny MVTec-layout category with real-looking anomalies and masks, from a seeded generator."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def surface(rng: np.random.Generator, size: int = 40) -> np.ndarray:
    noise = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 1.5)
    return np.clip(128 + 25 * noise / noise.std(), 0, 255).astype(np.uint8)


def make_category(root: Path, n_train: int = 6, n_good: int = 2, per_defect: int = 3,
                  defects: tuple[str, ...] = ("hole", "scratch"), size: int = 40, seed: int = 0) -> Path:
    """Write <root>/train/good, test/good, test/<defect> and ground_truth/<defect> (grayscale PNGs)."""
    rng = np.random.default_rng(seed)
    for i in range(n_train):
        _write(root / "train" / "good" / f"{i:03d}.png", surface(rng, size))
    for i in range(n_good):
        _write(root / "test" / "good" / f"{i:03d}.png", surface(rng, size))
    for defect in defects:
        for i in range(per_defect):
            img = surface(rng, size)
            mask = np.zeros((size, size), np.uint8)
            x, y = (int(v) for v in rng.integers(6, size - 12, 2))
            if defect == "hole":
                cv2.circle(mask, (x + 3, y + 3), 4, 255, -1)
            else:
                cv2.line(mask, (x, y), (x + 10, y + 6), 255, 2)
            img[mask > 0] = 30
            _write(root / "test" / defect / f"{i:03d}.png", img)
            _write(root / "ground_truth" / defect / f"{i:03d}_mask.png", mask)
    return root


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)
