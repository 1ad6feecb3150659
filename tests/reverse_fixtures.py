"""A small MVTec-layout tree with synthetic "real" anomalies for the reverse-synthesis tests.

Anomalies are drawn with our own renderers on seeded synthetic normal images, so the
true spec and mask of every anomaly are known; no dataset image is used.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from anomalyagent.foreground import foreground
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.planning import sample_spec
from anomalyagent.render import render
from anomalyagent.synthetic import object_image
from conftest import write_image

SIZE = 96


def make_anomaly(rng: np.random.Generator, defect: str, category: str = "hazelnut") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(normal, anomaly, mask): a knowledge-base-planned ``defect`` rendered on a fresh normal."""
    normal = object_image(rng, SIZE)
    entry = KnowledgeBase.default().lookup(category, defect).entry
    spec = sample_spec(entry, normal, foreground(normal, "object"), rng).replace(defect_type=defect, category=category)
    anomaly, alpha = render(normal, spec, rng)
    return normal, anomaly, alpha > 0.5


def reverse_tree(root: Path, per_defect: int = 3, defects: tuple[str, ...] = ("crack", "cut"), seed: int = 7) -> Path:
    """``root``/hazelnut with 6 normal training images, ``per_defect`` anomalies of each
    defect (with masks) and one good test image; returns the category folder."""
    cat = root / "hazelnut"
    rng = np.random.default_rng(seed)
    for i in range(6):
        write_image(cat / "train" / "good" / f"{i:03d}.png", object_image(rng, SIZE))
    write_image(cat / "test" / "good" / "000.png", object_image(rng, SIZE))
    for defect in defects:
        for i in range(per_defect):
            _, anomaly, mask = make_anomaly(rng, defect)
            write_image(cat / "test" / defect / f"{i:03d}.png", anomaly)
            write_image(cat / "ground_truth" / defect / f"{i:03d}_mask.png", mask.astype(np.uint8) * 255)
    return cat
