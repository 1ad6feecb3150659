"""Load images and masks for the detector at a fixed square size, into memory.

Why in memory: the CPU preset trains for about a minute on a few hundred images of 128 px;
decoding files every step would cost more than the network. Images of any size (the
magnetic tiles vary per file) are resized to ``size`` x ``size``; grayscale images are
replicated to 3 channels so one network serves every category.

Arrays: images (N, size, size, 3) uint8; masks (N, size, size) bool.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from ..images import read_image, read_mask, to_rgb
from ..data import index_mvtec
from .split import EvalItem


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W) or (H, W, 3) uint8 -> (size, size, 3) uint8 (area filter when shrinking)."""
    h, w = image.shape[:2]
    interp = cv2.INTER_AREA if size < min(h, w) else cv2.INTER_LINEAR
    return to_rgb(cv2.resize(image, (size, size), interpolation=interp))


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """(H, W) bool -> (size, size) bool: area-averaged coverage > 0.5."""
    cover = cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return cover > 0.5


def load_images(paths: Iterable[str | Path], size: int) -> np.ndarray:
    """(N, size, size, 3) uint8 of the images at ``paths``."""
    arrays = [resize_image(read_image(p), size) for p in paths]
    return np.stack(arrays) if arrays else np.zeros((0, size, size, 3), np.uint8)


def load_pairs(pairs: Iterable[tuple[str | Path, str | Path | None]], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Images and masks of (image, mask-or-None) pairs; a None mask means all normal.

    A mask whose size differs from its image raises ImageError naming the mask file.
    """
    images, masks = [], []
    for image_path, mask_path in pairs:
        image = read_image(image_path)
        mask = np.zeros(image.shape[:2], bool) if mask_path in (None, "") else read_mask(mask_path, image.shape[:2])
        images.append(resize_image(image, size))
        masks.append(resize_mask(mask, size))
    if not images:
        return np.zeros((0, size, size, 3), np.uint8), np.zeros((0, size, size), bool)
    return np.stack(images), np.stack(masks)


def load_items(items: list[EvalItem], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Real test or reserved images with their masks (good images: all-False masks)."""
    return load_pairs([(it.image, it.mask or None) for it in items], size)


def synthetic_pairs(root: str | Path, category: str | None = None) -> list[tuple[Path, Path]]:
    """(image, mask) pairs written by the synthesis pipeline under ``root``.

    The writer produces the MVTec layout (``<root>/<category>/test/<defect>/NNN.png`` with
    ``ground_truth/<defect>/NNN_mask.png``), read by ``data.index_mvtec``; ``category``
    None takes every category folder. A synthetic image without its mask raises an error
    naming it.
    """
    root = Path(root)
    cats = [root / category] if category else [p for p in sorted(root.iterdir()) if (p / "test").is_dir()]
    pairs: list[tuple[Path, Path]] = []
    for cat in cats:
        for it in index_mvtec(cat):
            if it.is_anomaly:
                pairs.append((Path(it.image), Path(it.mask)))
    return pairs


def to_tensor_batch(images: np.ndarray):
    """(B, S, S, 3) uint8 -> (B, 3, S, S) float32 tensor in [0, 1]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float().div_(255.0)
