"""Synthesis speed: median time per sample of the full loop, with 1 and 2 workers.

    python benchmarks/bench_synthesis.py --data ../shared/data/hazelnut --defects crack,hole --n 40

Per-sample time is measured inside the worker (the whole episode(s) plus writing);
throughput is samples per wall-clock second of the batch. Both worker counts run in the
same invocation so their ratio is meaningful on a noisy shared machine.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import cv2

from anomalyagent.pipeline import synthesize
from anomalyagent.writer import OutputWriter


def run(data: str, defects: list[str], n: int, workers: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        synthesize(data, tmp, defects, n, seed=seed, workers=workers, progress=False)
        wall = time.perf_counter() - start
        records = OutputWriter(Path(tmp)).read_manifest()
    per = [r["seconds"] for r in records]
    stages: dict[str, list[float]] = {}
    for r in records:
        for k, v in r["timings"].items():
            stages.setdefault(k, []).append(v)
    return {
        "workers": workers,
        "samples": len(records),
        "median_ms_per_sample": 1000 * statistics.median(per),
        "throughput_per_s": len(records) / wall,
        "wall_s": wall,
        "pass_rate": sum(r["passed"] for r in records) / len(records),
        "mean_turns": statistics.fmean(r["turns"] for r in records),
        "median_stage_ms": {k: round(1000 * statistics.median(v), 2) for k, v in sorted(stages.items())},
        "median_mg_iou": statistics.median([r["mg_iou"] for r in records if r.get("mg_iou") is not None] or [float("nan")]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--defects", default="crack,hole")
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    cv2.setNumThreads(1)
    defects = args.defects.split(",")
    run(args.data, defects, 4, 1, args.seed + 99)  # warm-up: imports, caches
    rows = [run(args.data, defects, args.n, w, args.seed) for w in (1, 2)]
    print(f"machine: {platform.processor() or platform.machine()}, data: {args.data}, n={args.n}, defects={args.defects}")
    for r in rows:
        print(f"workers={r['workers']}: median {r['median_ms_per_sample']:.1f} ms/sample, throughput {r['throughput_per_s']:.2f} samples/s, "
              f"pass rate {r['pass_rate']:.0%}, mean turns {r['mean_turns']:.1f}, median MG IoU {r['median_mg_iou']:.3f}, stages {r['median_stage_ms']}")
    print(f"throughput ratio 2 workers / 1 worker: {rows[1]['throughput_per_s'] / rows[0]['throughput_per_s']:.2f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
