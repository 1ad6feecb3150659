"""Renderer speed: median milliseconds per family at 256x256 (and optionally 1024x1024)
on one core.

Why: the IG tool runs the renderer inside every episode turn; the budget is 20 ms per
render at 256 px so that thousands of samples stay cheap. OpenCV is pinned to one
thread and torch is not imported, so the number is a single-core cost.

Images: the seeded synthetic fixtures of the tests (an RGB part on cloth and a grey
texture), or real normal images with ``--data`` (hazelnut and magnetic_tile resized to
the benchmark size). Specs: the typical spec of each family at a few seeds.

Usage::

    python benchmarks/bench_renderers.py [--size 256] [--repeats 15] [--data /work/shared/data]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from anomalyagent.images import read_image
from anomalyagent.records import DefectSpec
from anomalyagent.render import RENDERERS, render

from anomalyagent.synthetic import TYPICAL, object_rgb, texture_gray


def load_images(size: int, data: str | None) -> list[np.ndarray]:
    if not data:
        return [object_rgb(size), texture_gray(size)]
    root = Path(data)
    paths = [sorted((root / "hazelnut/train/good").iterdir())[0], sorted((root / "magnetic_tile/train/good").iterdir())[0]]
    return [cv2.resize(read_image(p), (size, size), interpolation=cv2.INTER_AREA) for p in paths]


def time_family(family: str, images: list[np.ndarray], repeats: int) -> float:
    """Median wall-clock ms of one render of ``family`` over images x repeats (1 warm-up)."""
    times = []
    for image in images:
        for seed in range(repeats + 1):
            spec = DefectSpec(family=family, center=(0.45, 0.5), **{**TYPICAL[family], "angle": float(seed * 37 % 180)})
            rng = np.random.default_rng(seed)
            t0 = time.perf_counter()
            render(image, spec, rng)
            if seed:  # the first call warms caches
                times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--data", default=None, help="use real normal images from this data root")
    parser.add_argument("--budget-ms", type=float, default=20.0)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    assert "torch" not in sys.modules
    images = load_images(args.size, args.data)
    print(f"| family | median ms at {args.size}x{args.size} (1 thread) |")
    print("|---|---|")
    slow = []
    for family in RENDERERS.names():
        ms = time_family(family, images, args.repeats)
        print(f"| {family} | {ms:.2f} |")
        if ms > args.budget_ms:
            slow.append(family)
    if slow:
        print(f"over the {args.budget_ms:.0f} ms budget: {', '.join(slow)}")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
