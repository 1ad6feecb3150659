"""Downstream pixel AP of the training ablation's policies (issue 12), on held-out categories.

For each category C named here and each policy: the agent (zero-shot, package knowledge
base, the bench's cpu preset) synthesizes N samples of C's defect types with that policy,
a DRAEM U-Net is trained on C's normal images + those samples, and it is scored on C's
test two-thirds (the bench's own code: ``eval.bench.evaluate``). Policies: ``rule``, and
the networks ``bench_training.py --save DIR`` wrote for the fold that HELD C OUT
(``DIR/C/seedS/METHOD.safetensors``), so no learned policy saw C in training.

    OMP_NUM_THREADS=1 python benchmarks/bench_training_downstream.py --data /work/shared/data \
        --policies runs/ablation_nets --categories hazelnut,magnetic_tile --seed 0 \
        --out docs/results/training_downstream.json

Machine: the shared 2-core CPU box; one torch thread. Rows are written as they finish
and a re-run skips rows already in --out (same command).
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import subprocess
import time
from pathlib import Path

log = logging.getLogger("bench_training_downstream")


def synthesize_rows(data_root: Path, out: Path, defects: list[str], n: int, seed: int, weights: str | None) -> Path:
    from anomalyagent.pipeline import synthesize

    policy = {"name": "learned", "weights": weights} if weights else {"name": "rule"}
    done = out.parent / f"{out.name}.done"  # beside the set: written once the set is complete
    if out.exists() and not done.exists():
        raise ValueError(f"{out}: an unfinished set (no {done.name}); remove it first")
    if not out.exists():
        synthesize(data_root, out, defects, n, method="agent", seed=seed, workers=1, category=data_root.name,
                   progress=False, method_kwargs={"config": {"policy": policy}})
        done.write_text(json.dumps({"policy": policy, "n": n, "seed": seed}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--policies", required=True, help="folder bench_training.py --save wrote")
    ap.add_argument("--categories", default="hazelnut,magnetic_tile")
    ap.add_argument("--methods", default="rule,sft,sft+grpo(R_task+R_ref+R_beh)")
    ap.add_argument("--seed", type=int, default=0, help="policy seed (the fold's network) and synthesis/training seed")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--work", default="runs/training_downstream", help="synthetic sets go here")
    ap.add_argument("--out", default="docs/results/training_downstream.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from anomalyagent.eval.bench import PRESETS, evaluate, load_category
    from anomalyagent.eval.data import load_pairs, synthetic_pairs

    torch.set_num_threads(1)
    tc = PRESETS["cpu"]
    out = Path(args.out)
    rows = json.loads(out.read_text())["rows"] if out.is_file() else []
    done = {(r["category"], r["method"], r["seed"]) for r in rows if "pixel_ap" in r}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    for category in [c.strip() for c in args.categories.split(",") if c.strip()]:
        data = load_category(Path(args.data) / category, tc.image_size)
        for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
            if (category, method, args.seed) in done:
                continue
            weights = None
            if method != "rule":
                weights = str(Path(args.policies) / category / f"seed{args.seed}" / f"{method}.safetensors")
                if not Path(weights).is_file():
                    raise FileNotFoundError(f"{weights}: no network for fold {category} (run bench_training.py --save)")
            start = time.perf_counter()
            folder = Path(args.work) / category / method.replace("+", "_").replace("(", "_").replace(")", "") / f"seed{args.seed}"
            synthesize_rows(data.root, folder, data.split.defects(), args.n, args.seed, weights)
            synth = time.perf_counter() - start
            pairs = synthetic_pairs(folder, category)
            manifest = [json.loads(x) for x in (folder / "manifest.jsonl").read_text().splitlines() if x.strip()]
            anomalies, masks = load_pairs(pairs, tc.image_size)
            metrics = evaluate(data, anomalies, masks, tc, args.seed, False)
            row = {"category": category, "method": method, "seed": args.seed, "policy_weights": weights,
                   "n_train_anomalies": len(anomalies),
                   "agent_pass_rate": sum(bool(m.get("passed")) for m in manifest) / max(len(manifest), 1),
                   "synth_seconds": round(synth, 1), "seconds": round(time.perf_counter() - start, 1),
                   **{k: v for k, v in metrics.items() if k != "per_defect"}, "per_defect": metrics.get("per_defect")}
            rows.append(row)
            log.info("%s %s: pixel AP %.4f (agent pass %.2f, %.0f s)", category, method, row["pixel_ap"],
                     row["agent_pass_rate"], row["seconds"])
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({
                "command": "python benchmarks/bench_training_downstream.py " + " ".join(
                    f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs, torch 1 thread",
                "commit": commit, "preset": "cpu", "setting": "zero-shot (package knowledge base)", "rows": rows,
            }, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
