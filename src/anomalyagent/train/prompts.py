"""GRPO start prompts: (normal training image, category, defect type) of MVTec-layout folders.

Only ``train/good`` images are read (never a test image); the defect types are the
names of the category's ``test/<defect>`` folders (no test image is opened). Images are
shrunk to ``max_side`` pixels so that thousands of rollouts fit in minutes on a CPU.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np

from ..eval.split import GOOD, find_categories, train_images
from ..images import ImageError, read_image
from ..records import Task

log = logging.getLogger(__name__)


@dataclass
class Prompt:
    """One start state: the task and its normal image ((H, W[, 3]) uint8)."""

    task: Task
    image: np.ndarray
    product: Any = None  # the category's ProductModel (episodes then plan on its parts), or None


def shrink(image: np.ndarray, max_side: int | None) -> np.ndarray:
    """``image`` scaled down (area interpolation) so its longer side is at most ``max_side``."""
    if not max_side or max(image.shape[:2]) <= max_side:
        return image
    h, w = image.shape[:2]
    s = max_side / max(h, w)
    return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def defect_types(category_dir: Path) -> list[str]:
    """Names of the category's defect folders (``test/<defect>``, ``good`` excluded), sorted."""
    test = Path(category_dir) / "test"
    return sorted(p.name for p in test.iterdir() if p.is_dir() and p.name != GOOD) if test.is_dir() else []


def read_prompts(data: str | Path, categories: Iterable[str] | None, per_category: int, rng: np.random.Generator,
                 max_side: int | None = 160) -> list[Prompt]:
    """``per_category`` prompts per category: normal images drawn without replacement,
    each paired with a defect type in turn; seeds drawn from ``rng``."""
    wanted = set(categories) if categories is not None else None
    out = []
    for category_dir in find_categories(data):
        name = category_dir.name
        if wanted is not None and name not in wanted:
            continue
        defects = defect_types(category_dir)
        if not defects:
            log.warning("%s: no test/<defect> folders, so no defect types; skipped", category_dir)
            continue
        paths = train_images(category_dir)
        chosen = rng.choice(len(paths), size=min(per_category, len(paths)), replace=False)
        for i, p in enumerate(chosen):
            try:
                image = shrink(read_image(str(paths[int(p)])), max_side)
            except ImageError as exc:
                log.warning("skipping normal image: %s", exc)
                continue
            task = Task(str(paths[int(p)]), name, defects[i % len(defects)], seed=int(rng.integers(2**31)), index=i)
            out.append(Prompt(task, image))
    return out
