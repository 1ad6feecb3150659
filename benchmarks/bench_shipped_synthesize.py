"""``anomalyagent synthesize`` with the rule policy and with learned weights, on the same images.

For each policy ('rule' or NAME=PATH of a policy.safetensors), one ``synthesize`` run of
``--n`` samples of ``--category`` (all its defect types, the category's product model,
``--retries 0`` so each sample is one episode, the same run seed: the same normal images
and tasks for every policy), through the CLI as a user runs it. Read back from the
run's trajectories: pass rate (overall and per defect type), mean turns, mean final QE
score, and the run's wall time.

    OMP_NUM_THREADS=1 python benchmarks/bench_shipped_synthesize.py --data /work/shared/data \
        --category transistor --n 40 --work runs/shipped_synth --out docs/results/shipped_synthesize.json \
        rule shipped=src/anomalyagent/policy_net/weights/policy.safetensors
    python benchmarks/bench_shipped_synthesize.py --out ALL.json --merge PART1.json PART2.json
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from anomalyagent.train.prompts import defect_types
from bench_shipped_policy import merge  # run from benchmarks/, as bench_training_reeval imports bench_training


def run(data: str, category: str, defects: list[str], n: int, seed: int, out: Path, policy: str) -> dict:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    cmd = [sys.executable, "-m", "anomalyagent", "synthesize", "--data", data, "--category", category,
           "--defects", ",".join(defects), "--n", str(n), "--out", str(out / "run"), "--retries", "0",
           "--product", "auto", "--seed", str(seed), "--no-progress"]
    if policy == "rule":
        cmd += ["--policy", "rule"]
    else:
        config = out / "policy.yaml"
        config.write_text(json.dumps({"policy": {"name": "learned", "weights": str(Path(policy).resolve())}}))
        cmd += ["--config", str(config)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    trajs = [json.loads(p.read_text()) for p in sorted((out / "run" / "trajectories").glob("*/*/*.json"))]
    by_defect = {d: [t for t in trajs if t["task"]["defect_type"] == d] for d in defects}
    mean = lambda xs: float(np.mean(xs)) if xs else None
    return {"samples": len(trajs), "pass_rate": mean([bool(t["passed"]) for t in trajs]),
            "pass_rate_per_defect": {d: mean([bool(t["passed"]) for t in ts]) for d, ts in by_defect.items()},
            "mean_turns": mean([len(t["steps"]) for t in trajs]), "mean_score": mean([float(t.get("score") or 0.0) for t in trajs]),
            "seconds": round(seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="MVTec-layout root (required unless --merge)")
    ap.add_argument("--category", default="transistor")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default="runs/shipped_synth")
    ap.add_argument("--out", default="docs/results/shipped_synthesize.json")
    ap.add_argument("--merge", nargs="+", default=None, help="join these results files into --out")
    ap.add_argument("policies", nargs="*", help="'rule' or NAME=PATH of a policy.safetensors")
    args = ap.parse_args()
    if args.merge:
        return merge(args.out, args.merge, same=("category", "defects"))
    if not args.data or not args.policies:
        ap.error("--data and at least one policy are required (unless --merge)")
    defects = defect_types(Path(args.data) / args.category)
    rows = {}
    for item in args.policies:
        name, path = ("rule", "rule") if item == "rule" else item.split("=", 1)
        rows[name] = run(args.data, args.category, defects, args.n, args.seed, Path(args.work) / name, path)
        print(name, rows[name], flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    Path(args.out).write_text(json.dumps({
        "command": "python benchmarks/bench_shipped_synthesize.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("policies", "merge")) + " " + " ".join(args.policies),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "commit": commit,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs, OMP 1 thread",
        "category": args.category, "defects": defects, "policies": rows}, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
