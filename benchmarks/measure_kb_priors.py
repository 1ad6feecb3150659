"""Measure knowledge-base priors (size, aspect, colour relation) from real defect masks.

Why: the hazelnut and magnetic_tile entries in ``knowledge/data`` should not be guesses;
this script is the evidence for the numbers written there. For every real anomaly with a
mask it measures, on the mask's largest connected component and on the whole mask:

- ``area``: mask pixels / (H * W), the whole mask;
- ``extent``: longest side of the minimum-area rectangle around all mask pixels, as a
  fraction of min(H, W) (the KnowledgeEntry ``size`` convention);
- ``aspect``: long / short side of the largest component's minimum-area rectangle (>= 1);
- ``contrast``: mean luminance inside the mask minus mean luminance in a ring 3-9 px
  around it (grey levels 0-255); negative = darker than the surroundings.

Per defect type it prints the 10th/50th/90th percentiles and the share of darker masks,
plus a suggested ``size`` and ``aspect`` range (10th-90th percentile, rounded outward).

Usage::

    python benchmarks/measure_kb_priors.py [--data /work/shared/data] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

import cv2
import numpy as np

from anomalyagent.images import read_image, read_mask, to_gray

log = logging.getLogger("measure_kb_priors")


def measure_one(gray: np.ndarray, mask: np.ndarray) -> dict[str, float] | None:
    """Geometry and contrast of one (H, W) bool mask over its (H, W) uint8 image."""
    if not mask.any():
        return None
    h, w = mask.shape
    m8 = mask.astype(np.uint8)
    pts = cv2.findNonZero(m8)
    (_, _), (rw, rh), _ = cv2.minAreaRect(pts)
    extent = max(rw, rh, 1.0) / min(h, w)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m8, connectivity=8)
    big = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    comp = cv2.findNonZero((labels == big).astype(np.uint8))
    (_, _), (cw, ch), _ = cv2.minAreaRect(comp)
    aspect = max(cw, ch, 1.0) / max(min(cw, ch), 1.0)
    outer = cv2.dilate(m8, np.ones((19, 19), np.uint8)).astype(bool)
    inner = cv2.dilate(m8, np.ones((7, 7), np.uint8)).astype(bool)
    ring = outer & ~inner
    g = gray.astype(np.float64)
    contrast = float(g[mask].mean() - g[ring].mean()) if ring.any() else 0.0
    return {
        "area": float(mask.mean()),
        "extent": float(min(extent, 1.0)),
        "aspect": float(aspect),
        "contrast": contrast,
        "components": float(n - 1),
    }


def measure_category(root: Path) -> dict[str, list[dict[str, float]]]:
    """All measurements of one MVTec-layout category folder, keyed by defect type."""
    out: dict[str, list[dict[str, float]]] = {}
    gt = root / "ground_truth"
    for defect_dir in sorted(p for p in gt.iterdir() if p.is_dir()):
        rows = []
        for mask_path in sorted(defect_dir.glob("*_mask.png")):
            stem = mask_path.name[: -len("_mask.png")]
            candidates = sorted((root / "test" / defect_dir.name).glob(stem + ".*"))
            if not candidates:
                log.warning("%s: no test image for this mask, skipped", mask_path)
                continue
            gray = to_gray(read_image(candidates[0]))
            row = measure_one(gray, read_mask(mask_path, gray.shape[:2]))
            if row is not None:
                rows.append(row)
        out[defect_dir.name] = rows
    return out


def summarise(rows: list[dict[str, float]]) -> dict[str, object]:
    """Percentiles and a suggested prior range for one defect type."""
    def pct(key: str) -> list[float]:
        return [round(float(np.percentile([r[key] for r in rows], q)), 3) for q in (10, 50, 90)]

    ext, asp = pct("extent"), pct("aspect")
    darker = float(np.mean([r["contrast"] < 0 for r in rows]))
    return {
        "n": len(rows),
        "area_p10_50_90": pct("area"),
        "extent_p10_50_90": ext,
        "aspect_p10_50_90": asp,
        "contrast_p10_50_90": pct("contrast"),
        "components_median": float(np.median([r["components"] for r in rows])),
        "share_darker": round(darker, 2),
        "suggested_size": [math.floor(ext[0] * 100) / 100 or 0.01, min(1.0, math.ceil(ext[2] * 100) / 100)],
        "suggested_aspect": [max(1.0, math.floor(asp[0] * 2) / 2), math.ceil(asp[2] * 2) / 2],
        "suggested_color": "darker" if darker >= 0.7 else "lighter" if darker <= 0.3 else "mixed",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/work/shared/data", help="folder holding the categories")
    parser.add_argument("--categories", default="hazelnut,magnetic_tile")
    parser.add_argument("--json", default="", help="optional path for the full summary")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    summary: dict[str, dict[str, object]] = {}
    for cat in args.categories.split(","):
        root = Path(args.data) / cat
        if not (root / "ground_truth").is_dir():
            raise SystemExit(f"{root}: no ground_truth folder (expected the MVTec layout)")
        for defect, rows in measure_category(root).items():
            if not rows:
                continue
            s = summarise(rows)
            summary[f"{cat}/{defect}"] = s
            log.info("%s/%s: %s", cat, defect, json.dumps(s))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
