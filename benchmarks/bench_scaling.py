"""Cost per sample versus image size: the agent loop on seeded synthetic scenes, 256 -> 4096 px.

    OMP_NUM_THREADS=1 python benchmarks/bench_scaling.py --out docs/results/bench_scaling.json

Issue 13 item 12 asks that cost grow with pixels, not faster: the time per sample at
2048x2048 must stay within 16x the time at 512x512 (16x the pixels). Each size runs the
same defects (one sample each, same seeds) through ``AgentMethod.synthesize`` in this
process, with OpenCV on one thread; the time per sample is the median over defects, and
the per-tool stage times show where it goes. Peak RSS is the process's high-water mark
after each size (monotone: it says at most this much was needed up to that size).
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import resource
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from anomalyagent.methods import METHODS, NormalPool
from anomalyagent.records import Task
from anomalyagent.synthetic import object_image

LIMIT_RATIO = 16.0  # 2048 vs 512: the pixel ratio


def measure(size: int, defects: list[str], seed: int) -> dict:
    method = METHODS.create("agent")
    image = object_image(np.random.default_rng(seed), size)
    rows = []
    for i, defect in enumerate(defects):
        task = Task(f"synthetic_{size}.png", "hazelnut", defect, seed + i, i)
        start = time.perf_counter()
        result = method.synthesize(image, task, np.random.default_rng(task.seed), NormalPool([]))
        rows.append({"defect": defect, "seconds": time.perf_counter() - start, "passed": bool(result.passed),
                     "stages": {k: round(v, 4) for k, v in result.timings.items() if k != "episodes"}})
    stages = {k: round(statistics.median(r["stages"].get(k, 0.0) for r in rows), 4)
              for k in sorted({k for r in rows for k in r["stages"]})}
    return {"size": size, "pixels": size * size, "median_s_per_sample": round(statistics.median(r["seconds"] for r in rows), 4),
            "samples": rows, "median_stage_s": stages,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="256,512,1024,2048,4096")
    p.add_argument("--defects", default="crack,hole,stain,scratch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the results JSON here")
    args = p.parse_args()
    cv2.setNumThreads(1)
    defects = args.defects.split(",")
    measure(128, defects[:1], args.seed)  # warm-up: imports, knowledge base, caches
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        rows.append(measure(size, defects, args.seed))
        r = rows[-1]
        print(f"{size:5d} px  {r['median_s_per_sample']:8.3f} s/sample  peak RSS {r['peak_rss_mb']:.0f} MB  {r['median_stage_s']}",
              flush=True)
    by = {r["size"]: r["median_s_per_sample"] for r in rows}
    ratio = by[2048] / by[512] if 2048 in by and 512 in by else None
    result = {
        "benchmark": "bench_scaling", "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, 2 shared CPU cores, OpenCV 1 thread",
        "command": "OMP_NUM_THREADS=1 python benchmarks/bench_scaling.py " + " ".join(
            f"--{k} {v}" for k, v in vars(args).items() if v is not None),
        "defects": defects, "rows": rows,
        "ratio_2048_vs_512": round(ratio, 2) if ratio else None, "limit": LIMIT_RATIO,
        "within_limit": bool(ratio is not None and ratio <= LIMIT_RATIO),
    }
    if ratio is not None:
        print(f"2048 / 512 time per sample: {ratio:.1f}x (limit {LIMIT_RATIO:.0f}x, pixels 16x): "
              f"{'ok' if ratio <= LIMIT_RATIO else 'TOO SLOW'}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
