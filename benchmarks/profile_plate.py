"""Where a structural render's time goes: CPU ms per render in each step of the background
plate (render/background.py), on bench_renderers' real-product rows.

Why: the structural families' cost is mostly the plate (registrations of the other normal
images, this image's own background by matching or lattice, the lighting match); a
speed-up should be aimed at the step that costs, and this says which one does.

Method: bench_renderers.load_product's scenes and time_product's renders (each render
alone, no memo), with the plate's steps wrapped by timers of this thread's CPU time.
A step's time includes the steps it calls (``_from_normals`` includes ``_register``, which
includes ``_prep``; ``_from_self_tiles`` includes its ``_from_self`` calls). Per row: the
bench's median ms per render, the mean, and per step the mean ms per render and calls
per render.

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/profile_plate.py \\
        --product ../shared/data/transistor --cache /tmp/cache [--blend feather] --json out.json
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import cv2
import numpy as np

from anomalyagent.records import DefectSpec
from anomalyagent.render import background, render

STEPS = ("_make_plate", "_from_normals", "_register", "_prep", "_from_self", "_from_lattice", "lattice_offsets",
         "_from_self_tiles", "_match_lighting")
ROWS = ("displace (whole object)", "displace (body)", "split (body)")


def wrap_steps(spent: dict, calls: Counter) -> None:
    """Replace each of STEPS in render/background.py by a timed wrapper (this process only)."""
    for name in STEPS:
        inner = getattr(background, name)

        def timed(*args, _inner=inner, _name=name, **kwargs):
            t0 = time.thread_time()
            try:
                return _inner(*args, **kwargs)
            finally:
                spent[_name] += time.thread_time() - t0
                calls[_name] += 1

        setattr(background, name, timed)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--product", type=Path, required=True)
    ap.add_argument("--product-images", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--blend", default="feather")
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_renderers  # the same scenes and renders as the speed bench

    scenes = bench_renderers.load_product(args.product, args.size, args.product_images, args.cache)
    render(scenes[0][0], DefectSpec(family="stain"), np.random.default_rng(0))  # OpenCV's Lab tables
    spent: dict = defaultdict(float)
    calls: Counter = Counter()
    wrap_steps(spent, calls)
    out = {}
    for row in ROWS:
        spent.clear()
        calls.clear()
        t0 = time.thread_time()
        med = bench_renderers.time_product(row, scenes, args.repeats, blend=args.blend, clock=time.thread_time)
        n = len(scenes) * (args.repeats + 1)  # time_product's renders, its warm-up one included
        mean = (time.thread_time() - t0) / n * 1000.0
        steps = {k: {"ms_per_render": round(spent[k] / n * 1000.0, 3), "calls_per_render": round(calls[k] / n, 2)}
                 for k in sorted(spent, key=lambda k: -spent[k])}
        out[row] = {"median_ms": round(med, 2), "mean_ms": round(mean, 2), "steps": steps}
        print(f"{row} ({args.blend}): median {med:.2f} ms, mean {mean:.2f} ms")
        for k, v in steps.items():
            print(f"  {k:18s} {v['ms_per_render']:6.2f} ms/render  {v['calls_per_render']:.2f} calls/render")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"date": date.today().isoformat(), "machine": platform.platform(),
                                         "source": str(Path(background.__file__).parent.parent), "blend": args.blend,
                                         "product": args.product.name, "rows": out}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
