"""Renderer speed: median milliseconds per family at 256x256 (and optionally 1024x1024)
on one core.

Why: the IG tool runs the renderer inside every episode turn; the budget is 20 ms per
render at 256 px so that thousands of samples stay cheap. OpenCV is pinned to one
thread and torch is not imported, so the number is a single-core cost.

Images: the seeded synthetic fixtures of the tests (an RGB part on cloth and a grey
texture) and the synthetic component scene (a case with three leads on a perforated
board, with its object and part masks as the scene), or real normal images with
``--data`` (hazelnut and magnetic_tile resized to the benchmark size). Specs: the
typical spec of each family at a few seeds; the structural families (warp, displace,
missing with a part) also run on the component scene with its part masks. Columns:
default blend (feather) and poisson.

Usage::

    python benchmarks/bench_renderers.py [--size 256] [--repeats 15] [--data /work/shared/data] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import cv2
import numpy as np

from anomalyagent.images import read_image
from anomalyagent.records import DefectSpec
from anomalyagent.render import RENDERERS, render
from anomalyagent.render.scene import Scene
from anomalyagent.synthetic import TYPICAL, component_scene, object_rgb, texture_gray

# Family -> params used on the component scene (the part a product model would name).
ON_PARTS = {"warp": {"part": "lead"}, "displace": {"part": "case"}, "missing": {"part": "lead", "extent": "tip"},
            "transplant": {}, "split": {"part": "case"}}


def load_images(size: int, data: str | None) -> list[tuple[np.ndarray, Scene | None]]:
    if data:
        root = Path(data)
        paths = [sorted((root / "hazelnut/train/good").iterdir())[0], sorted((root / "magnetic_tile/train/good").iterdir())[0]]
        out = [(cv2.resize(read_image(p), (size, size), interpolation=cv2.INTER_AREA), None) for p in paths]
    else:
        out = [(object_rgb(size), None), (texture_gray(size), None)]
    image, masks = component_scene(size, 0)
    out.append((image, Scene(foreground=masks["object"], parts={"lead": masks["lead"], "case": masks["case"]})))
    return out


def time_family(family: str, images, repeats: int, blend: str = "feather", clock=time.perf_counter) -> float:
    """Median ms of one render of ``family`` over images x repeats (1 warm-up), by ``clock``
    (wall-clock, or this thread's CPU time, which other processes on a shared machine do
    not inflate)."""
    times = []
    for image, scene in images:
        params = ON_PARTS.get(family, {}) if scene is not None else {}
        if scene is not None and family not in ON_PARTS:
            continue
        center = (0.62, 0.75) if scene is not None and family in ("warp", "missing") else \
            (0.5, 0.3) if scene is not None else (0.45, 0.5)
        for seed in range(repeats + 1):
            spec = DefectSpec(family=family, center=center, blend=blend, params=params,
                              **{**TYPICAL[family], "angle": float(seed * 37 % 180)})
            rng = np.random.default_rng(seed)
            t0 = clock()
            render(image, spec, rng, scene)
            if seed:  # the first call warms caches
                times.append((clock() - t0) * 1000.0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--data", default=None, help="use real normal images from this data root")
    parser.add_argument("--budget-ms", type=float, default=20.0)
    parser.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    parser.add_argument("--families", default=None, help="comma-separated subset (default: all)")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="cpu: this thread's CPU time (default; fair on a shared machine), wall: wall-clock")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    assert "torch" not in sys.modules
    images = load_images(args.size, args.data)
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    print(f"| family | median {args.clock} ms at {args.size}x{args.size} (1 thread), feather | poisson |")
    print("|---|---|---|")
    slow, rows = [], {}
    # Warm-up: OpenCV builds its float Lab tables on first use (~0.2 s once per process).
    render(images[0][0], DefectSpec(family="stain"), np.random.default_rng(0))
    chosen = args.families.split(",") if args.families else RENDERERS.names()
    for family in chosen:
        ms = time_family(family, images, args.repeats, clock=clock)
        ms_p = time_family(family, images, max(3, args.repeats // 3), blend="poisson", clock=clock)
        rows[family] = {"feather_ms": round(ms, 2), "poisson_ms": round(ms_p, 2)}
        print(f"| {family} | {ms:.2f} | {ms_p:.2f} |")
        if ms > args.budget_ms:
            slow.append(family)
    if slow:
        print(f"over the {args.budget_ms:.0f} ms budget: {', '.join(slow)}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({
            "command": "python " + " ".join(sys.argv), "date": date.today().isoformat(),
            "machine": f"{platform.machine()}, 2 shared CPU cores, cv2 threads 1", "size": args.size,
            "repeats": args.repeats, "clock": args.clock, "budget_ms": args.budget_ms,
            "load_average": [round(x, 2) for x in __import__("os").getloadavg()], "families": rows, "over_budget": slow}, indent=1))
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
