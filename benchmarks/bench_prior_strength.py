"""Few-shot prior strength, leave-one-category-out: which K in n/(n+K) to ship.

    python benchmarks/bench_prior_strength.py --data ../shared/data --out runs/prior_strength \
        --tune hazelnut,neu_seg --hold-out transistor,crackforest,magnetic_tile --strengths 0,4 --seeds 0

Why: the few-shot setting shrinks each measured range toward the knowledge range with
the weight n / (n + K) of its n reserved masks (knowledge/shrinkage.py). K is chosen on
the ``--tune`` categories only (best mean pixel AP of the agent's few-shot rows) and the
chosen K is then reported on the ``--hold-out`` categories, which took no part in the
choice. Each (category, K) is one ``anomalyagent bench --methods agent --no-oracle
--setting few-shot --prior-strength K`` run in its own folder OUT/<category>_k<K>
(resumable); the zero-shot row (K = infinity in effect) is not run here: compare with
the zero-shot rows of the same commit. Prints one JSON object: per-category pixel AP
for every K, the chosen K and the held-out numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path


def run_one(data: str, out: Path, category: str, strength: float, seeds: str, n: int) -> list[float]:
    """Pixel AP of the agent's few-shot rows of one (category, K) run, one value per seed."""
    folder = out / f"{category}_k{strength:g}"
    cmd = [sys.executable, "-m", "anomalyagent", "bench", "--data", data, "--category", category, "--out",
           str(folder), "--methods", "agent", "--no-oracle", "--n", str(n), "--preset", "cpu", "--seeds", seeds,
           "--setting", "few-shot", "--prior-strength", str(strength), "--no-progress"]
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    rows = json.loads((folder / "results.json").read_text(encoding="utf-8"))["rows"]
    return [r["pixel_ap"] for r in rows if r.get("method") == "agent" and r.get("pixel_ap") is not None]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--tune", required=True, help="comma-separated categories K is chosen on")
    p.add_argument("--hold-out", required=True, help="comma-separated categories the chosen K is reported on")
    p.add_argument("--strengths", default="0,1,4", help="comma-separated K values to try (default 0,1,4)")
    p.add_argument("--seeds", default="0")
    p.add_argument("--n", type=int, default=200)
    args = p.parse_args(argv)
    tune, hold = args.tune.split(","), args.hold_out.split(",")
    if set(tune) & set(hold):
        raise SystemExit(f"--tune and --hold-out share {sorted(set(tune) & set(hold))}: not leave-one-out")
    strengths = [float(s) for s in args.strengths.split(",")]
    out = Path(args.out)
    tuned = {k: {c: run_one(args.data, out, c, k, args.seeds, args.n) for c in tune} for k in strengths}
    score = {k: statistics.mean(statistics.mean(v) for v in per.values()) for k, per in tuned.items()}
    best = max(strengths, key=lambda k: score[k])
    held = {c: run_one(args.data, out, c, best, args.seeds, args.n) for c in hold}
    print(json.dumps({"tune": tuned, "tune_mean_pixel_ap": score, "chosen_strength": best,
                      "hold_out": held}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
