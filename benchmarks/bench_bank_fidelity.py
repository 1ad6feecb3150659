"""Does a pasted bank defect keep its own depth? (issue 10, transplant family)

For each category under --data: a defect bank of the reserved first third (as the
few-shot bench builds it; never a test anomaly), then for each defect type --n pastes
onto normal training images resized to --size px, centred, at the knowledge-free size
0.4, for each blend. The defect's local contrast is the mean grey level of a 3 px ring
around its placed mask minus the mean inside it. "placed" is the bank defect as moved,
turned and scaled onto the image before any harmonisation or blending
(``Transplant.from_bank``); "pasted" is the finished edit on the same mask. The ratio
pasted / placed (median over the pastes) is 1 when the defect keeps its depth; under 1
it has faded, over 1 it was deepened.

    python benchmarks/bench_bank_fidelity.py --data ../shared/data --out runs/bank_fid \
        --json docs/results/bank_fidelity.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from anomalyagent.bank import DefectBank, build_bank
from anomalyagent.eval.split import find_categories
from anomalyagent.images import ImageError, read_image
from anomalyagent.records import DefectSpec
from anomalyagent.render.base import RENDERERS
from anomalyagent.render.scene import Scene

BLENDS = ("hard", "feather", "poisson")


def _gray(a: np.ndarray) -> np.ndarray:
    return (a if a.ndim == 2 else cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)).astype(np.float32)


def local_contrast(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean grey of the 3 px ring around ``mask`` minus the mean inside it."""
    ring = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool) & ~mask
    g = _gray(image)
    return float(g[ring].mean() - g[mask].mean())


def measure(bank: DefectBank, category: str, defect: str, normals: list[np.ndarray], n: int) -> dict:
    family = RENDERERS.create("transplant")
    ratios: dict[str, list[float]] = {b: [] for b in BLENDS}
    placed_all = []
    for i in range(n):
        image = normals[i % len(normals)]
        for blend in BLENDS:
            spec = DefectSpec(family="transplant", defect_type=defect, category=category, center=(0.5, 0.5),
                              size=0.4, intensity=0.5, blend=blend, params={"source": "bank"})
            layer, region = family.from_bank(image, spec, bank, np.random.default_rng(i))
            if region.sum() < 4 or (~region).sum() < 4:
                continue
            placed = local_contrast(layer, region)
            edited, _ = family.draw(image, spec, np.random.default_rng(i), Scene(bank=bank))
            if abs(placed) < 2.0:  # too faint to have a depth to keep
                continue
            ratios[blend].append(local_contrast(edited, region) / placed)
            if blend == BLENDS[0]:
                placed_all.append(abs(placed))
    row = {"category": category, "defect": defect, "pastes": len(ratios["hard"]),
           "placed_contrast_median": float(np.median(placed_all)) if placed_all else None}
    for b in BLENDS:
        row[f"ratio_{b}"] = float(np.median(ratios[b])) if ratios[b] else None
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="MVTec root or one category folder")
    p.add_argument("--out", type=Path, required=True, help="banks are built under here")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--n", type=int, default=20, help="pastes per defect type and blend")
    p.add_argument("--size", type=int, default=256)
    a = p.parse_args(argv)
    rows = []
    start = time.time()
    for cat_dir in find_categories(a.data):
        folder = a.out / cat_dir.name
        if not (folder / "index.json").exists():
            build_bank(cat_dir, folder, reserved_only=True)
        bank = DefectBank.load(folder)
        normals = []
        for f in sorted((cat_dir / "train" / "good").iterdir())[:10]:
            try:
                normals.append(cv2.resize(read_image(f), (a.size, a.size), interpolation=cv2.INTER_AREA))
            except ImageError as err:
                print(f"skipped: {err}", file=sys.stderr)
        for defect in sorted({e.defect for e in bank.entries}):
            rows.append(measure(bank, cat_dir.name, defect, normals, a.n))
            r = rows[-1]
            print(f"{r['category']:14s} {r['defect']:14s} n={r['pastes']:3d} placed {r['placed_contrast_median'] or 0:6.1f}  "
                  + "  ".join(f"{b} {r['ratio_' + b] if r['ratio_' + b] is not None else float('nan'):.2f}" for b in BLENDS))
    summary = {b: float(np.median([r[f"ratio_{b}"] for r in rows if r[f"ratio_{b}"] is not None])) for b in BLENDS}
    print("median ratio over types: " + "  ".join(f"{b} {v:.2f}" for b, v in summary.items()))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"rows": rows, "median_ratio": summary, "n": a.n, "size": a.size,
                                      "seconds": round(time.time() - start, 1)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
