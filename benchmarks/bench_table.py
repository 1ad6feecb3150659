"""Run the agent's rows of the five-category bench table, several bench processes at once.

    python benchmarks/bench_table.py --data ../shared/data --out runs/table \
        [--categories hazelnut,transistor,...] [--settings zero-shot,few-shot] \
        [--seeds 0,1,2] [--parallel 2] [--detector effnet|unet] [-- EXTRA BENCH ARGS]

Why: the table of issues 9 and 10 is 5 categories x 2 settings x 3 seeds of the agent
(the baselines and the oracle see no anomaly in either setting, so their rows come from
one zero-shot run per category, made separately). One ``anomalyagent bench`` process per
(category, setting), each with its own ``--out`` (a results.json is written by one
process only), ``--parallel`` of them at a time, each with one torch thread; an
interrupted table resumes (every bench resumes its stored rows). The per-process logs are
OUT/log_<category>_<setting>.txt. Merge afterwards with ``benchmarks/combine_bench.py``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CATEGORIES = ("hazelnut", "transistor", "magnetic_tile", "neu_seg", "crackforest")


def bench_command(data: Path, out: Path, category: str, setting: str, seeds: str, detector: str,
                  extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "anomalyagent", "bench", "--data", str(data), "--category", category,
           "--out", str(out), "--methods", "agent", "--no-oracle", "--n", "200", "--preset", "cpu",
           "--seeds", seeds, "--setting", setting, "--detector", detector]
    if detector != "unet":
        cmd += ["--no-classify", "--no-generation"]
    return cmd + extra


def run_one(cmd: list[str], log: Path) -> tuple[int, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False).returncode
    return rc, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="MVTec root holding the categories")
    p.add_argument("--out", type=Path, required=True, help="one bench --out per (category, setting) goes under here")
    p.add_argument("--categories", default=",".join(CATEGORIES))
    p.add_argument("--settings", default="zero-shot,few-shot")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--detector", default=None, choices=("unet", "effnet"),
                   help="default: the cpu preset's (anomalyagent.eval.bench.PRESET_DETECTORS)")
    p.add_argument("--parallel", type=int, default=2, help="bench processes at once (default 2)")
    args = p.parse_args(argv)
    if args.detector is None:
        from anomalyagent.eval.bench import PRESET_DETECTORS
        args.detector = PRESET_DETECTORS["cpu"]
    cats = [c for c in args.categories.split(",") if c]
    missing = [c for c in cats if not (args.data / c).is_dir()]
    if missing:
        p.error(f"{args.data}: no category folder for {', '.join(missing)}")
    if args.parallel < 1:
        p.error("--parallel must be at least 1")
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for setting in [s for s in args.settings.split(",") if s]:
        for cat in cats:
            out = args.out / f"agent_{args.detector}_{cat}_{setting}"
            log = args.out / f"log_{args.detector}_{cat}_{setting}.txt"
            jobs.append((cat, setting, bench_command(args.data, out, cat, setting, args.seeds, args.detector, extra), log))
    failed = 0
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        futures = [(cat, setting, log, pool.submit(run_one, cmd, log)) for cat, setting, cmd, log in jobs]
        for cat, setting, log, fut in futures:
            rc, seconds = fut.result()
            failed += rc != 0
            print(f"{cat} {setting}: rc {rc}, {seconds:.0f} s (log {log})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
