"""Realism statistics: our rendered defects against the real ones, per defect type.

Why: a renderer can look plausible in a contact sheet and still be the wrong size, the
wrong shape or far too strong. For every real defect type in the data folder we compare
four distributions between the real masks (with their images) and our renders (alpha >
0.5, on the same category's normal images, specs drawn by the planner from the
knowledge-base priors, i.e. exactly what the PG tool would ask for):

- ``area``: mask pixels / (H * W);
- ``elong``: long / short side of the largest component's minimum-area rectangle;
- ``boundary``: median luminance gradient magnitude (Sobel / 8, grey levels per px) on a
  band one pixel either side of the mask outline: how sharp and strong the edge is;
- ``interior``: |mean luminance inside the mask - mean luminance in a ring 3-9 px
  around it| (grey levels): how much darker or lighter the defect is overall.

It prints, per defect type and statistic, the real median, our median and their ratio
(ours / real); a ratio outside [0.5, 2] is flagged. Real images and masks are only
read, never copied.

Honest by construction: the real side uses each category's RESERVED first third of
anomalies only (eval/split.py), the only part a prior may be tuned on. ``--include-test``
reads every anomaly for a look at the whole distribution; it then prints a banner that the
numbers include the test two-thirds and must not be used to set priors.

Usage::

    python benchmarks/bench_realism.py [--data /work/shared/data] [--n 30] [--seed 0]
        [--override magnetic_tile/fray:size=0.35,1.0] [--override magnetic_tile/uneven:params.band=true]

``--override`` tries a different prior for one entry without editing the knowledge base
(``size=lo,hi``, ``aspect=lo,hi``, ``intensity=lo,hi``, ``family="name"`` or ``params.KEY=VALUE``): the
evidence for a suggested knowledge-base change.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import sys
from pathlib import Path

import cv2
import numpy as np

from anomalyagent.eval.split import split_category
from anomalyagent.foreground import foreground
from anomalyagent.images import IMAGE_SUFFIXES, read_image, read_mask, to_gray
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.planning import sample_spec
from anomalyagent.render import render

STATS = ("area", "elong", "boundary", "interior")
log = logging.getLogger("bench_realism")


def measure(image: np.ndarray, mask: np.ndarray) -> dict[str, float] | None:
    """The four statistics of one (H, W) bool ``mask`` over its image; None when empty."""
    if mask.sum() < 3:
        return None
    gray = to_gray(image).astype(np.float32)
    m8 = mask.astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(m8, connectivity=8)
    big = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    (_, _), (w, h), _ = cv2.minAreaRect(cv2.findNonZero((labels == big).astype(np.uint8)))
    elong = max(w, h, 1.0) / max(min(w, h), 1.0)
    k3 = np.ones((3, 3), np.uint8)
    band = (cv2.dilate(m8, k3) > 0) & ~(cv2.erode(m8, k3) > 0)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    boundary = float(np.median(np.hypot(gx, gy)[band]))
    ring = (cv2.dilate(m8, np.ones((19, 19), np.uint8)) > 0) & ~(cv2.dilate(m8, np.ones((7, 7), np.uint8)) > 0)
    interior = abs(float(gray[mask].mean()) - float(gray[ring].mean())) if ring.any() else 0.0
    return {"area": float(mask.mean()), "elong": float(elong), "boundary": boundary, "interior": interior}


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def real_stats(root: Path, category: str, defect: str, include_test: bool = False) -> list[dict[str, float]]:
    """Statistics of the real masks of one type: the reserved third only unless ``include_test``."""
    split = split_category(root / category)
    records = split.reserved + ([it for it in split.test if it.is_anomaly] if include_test else [])
    out = []
    for it in (r for r in records if r.defect == defect):
        image = read_image(it.image)
        mask = read_mask(it.mask, image.shape[:2])
        m = measure(image, mask)
        if m:
            out.append(m)
    return out


def apply_overrides(entry, overrides: list[str]):
    """A copy of ``entry`` with ``category/defect:field=value`` overrides that name it."""
    priors = copy.deepcopy(entry.priors)
    size, family = entry.size, entry.family
    for item in overrides:
        target, _, assignment = item.partition(":")
        if target != f"{entry.category}/{entry.defect}":
            continue
        key, _, value = assignment.partition("=")
        parsed = json.loads(f"[{value}]") if "," in value else json.loads(value)
        if key == "size":
            size = tuple(parsed)
        elif key == "family":
            family = parsed
        elif key.startswith("params."):
            priors.setdefault("params", {})[key[len("params."):]] = parsed
        else:
            priors[key] = parsed
    return dataclasses.replace(entry, size=size, priors=priors, family=family)


def our_stats(root: Path, kb: KnowledgeBase, category: str, defect: str, n: int, seed: int,
              overrides: list[str] = ()) -> list[dict[str, float]]:
    """Render ``n`` defects of this type on the category's normal images, specs from the KB."""
    entry = apply_overrides(kb.lookup(category, defect).entry, list(overrides))
    cat = kb.category(category)
    kind = cat.kind if cat else "auto"
    normals = images_in(root / category / "train" / "good")
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        image = read_image(normals[i % len(normals)])
        fg = foreground(image, kind)
        spec = sample_spec(entry, image, fg, rng)
        edited, alpha = render(image, spec, rng)
        m = measure(edited, alpha > 0.5)
        if m:
            out.append(m)
    return out


def defect_types(root: Path) -> list[tuple[str, str]]:
    pairs = []
    for cat in sorted(p for p in root.iterdir() if (p / "ground_truth").is_dir()):
        for d in sorted(p for p in (cat / "ground_truth").iterdir() if p.is_dir()):
            pairs.append((cat.name, d.name))
    return pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/work/shared/data")
    parser.add_argument("--n", type=int, default=30, help="renders per defect type")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--override", action="append", default=[], help="category/defect:field=value (repeatable)")
    parser.add_argument("--json", default="", help="also write the medians and ratios to this JSON file")
    parser.add_argument("--include-test", action="store_true",
                        help="also read the test two-thirds (printed with a warning; never tune priors on it)")
    args = parser.parse_args()
    if args.include_test:
        print("WARNING: real statistics include the TEST two-thirds of the anomalies; for reading only, "
              "do not set knowledge-base priors from these numbers.\n")
    cv2.setNumThreads(1)
    root = Path(args.data)
    kb = KnowledgeBase.default()
    print("| defect type | n real / ours | " + " | ".join(f"{s}: real, ours, ratio" for s in STATS) + " |")
    print("|---|---|" + "---|" * len(STATS))
    flagged = []
    results: dict = {"command": "python benchmarks/bench_realism.py " + " ".join(sys.argv[1:]),
                     "real": "all anomalies (test two-thirds included)" if args.include_test else "reserved first third",
                     "types": {}}
    for category, defect in defect_types(root):
        real = real_stats(root, category, defect, args.include_test)
        ours = our_stats(root, kb, category, defect, args.n, args.seed, args.override)
        cells = []
        row = results["types"][f"{category}/{defect}"] = {"n_real": len(real), "n_ours": len(ours)}
        for s in STATS:
            r = float(np.median([m[s] for m in real])) if real else float("nan")
            o = float(np.median([m[s] for m in ours])) if ours else float("nan")
            ratio = o / r if r > 0 else float("nan")
            row[s] = {k: (round(v, 5) if np.isfinite(v) else None) for k, v in (("real", r), ("ours", o), ("ratio", ratio))}
            bad = not (0.5 <= ratio <= 2.0)
            if bad:
                flagged.append(f"{category}/{defect} {s} {ratio:.2f}")
            fmt = "{:.4f}" if s == "area" else "{:.1f}"
            cells.append(f"{fmt.format(r)}, {fmt.format(o)}, {ratio:.2f}{' **x**' if bad else ''}")
        print(f"| {category}/{defect} | {len(real)} / {len(ours)} | " + " | ".join(cells) + " |")
    print()
    print(f"outside a factor of 2: {', '.join(flagged) if flagged else 'none'}")
    if args.json:
        if args.include_test:
            print("not writing --json: the numbers include the test two-thirds", file=sys.stderr)
            return 2
        results["outside_factor_2"] = flagged
        Path(args.json).write_text(json.dumps(results, indent=1, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
