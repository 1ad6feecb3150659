"""Evaluate the ablation's saved networks again with today's code, without retraining them.

``bench_training.py --save DIR`` keeps every fold's networks (DIR/HELD/seedS/METHOD.safetensors).
This runs each of them, and the rule policy, on the same evaluation prompts
bench_training.py drew for that fold (the held-out category's normal training images,
``--eval-prompts`` x ``--eval-group`` episodes, each category's product model, the full
default reward) and writes the same summary. Why: a change to how the policy's actions
are carried out (e.g. where a grid cell puts the centre) or to the rule policy changes
the evaluation but not the training; this separates the two at a fraction of the cost.

    OMP_NUM_THREADS=1 python benchmarks/bench_training_reeval.py --data /work/shared/data \
        --nets runs/ablation_nets --out docs/results/training_reeval.json
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from anomalyagent.agent.policy import RulePolicy
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.policy_net.policy import Encoders, LearnedPolicy, load_policy
from anomalyagent.product import ProductModel
from anomalyagent.rewards import RewardConfig
from anomalyagent.tools import default_toolbox
from anomalyagent.train.prompts import read_prompts

from bench_training import CATEGORIES, VARIANTS, aggregate, evaluate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--nets", required=True, help="the folder bench_training.py --save wrote")
    ap.add_argument("--out", default="docs/results/training_reeval.json")
    ap.add_argument("--categories", default=",".join(CATEGORIES), help="the ablation's categories (fold order)")
    ap.add_argument("--held-out", default=None, help="only these folds (default: every category)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--eval-prompts", type=int, default=10)
    ap.add_argument("--eval-group", type=int, default=4)
    ap.add_argument("--max-side", type=int, default=160)
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cats = [c.strip() for c in args.categories.split(",") if c.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]
    folds = [c.strip() for c in args.held_out.split(",")] if args.held_out else cats
    kb, encoders, full = KnowledgeBase.default(), Encoders(), RewardConfig()
    tools = default_toolbox(kb=kb)
    start = time.perf_counter()
    rows = []
    for held in folds:
        product = ProductModel.build(Path(args.data) / held)
        prompts = read_prompts(args.data, [held], args.eval_prompts, np.random.default_rng([99, cats.index(held)]),
                               args.max_side)
        for p in prompts:
            p.product = product
        t = time.perf_counter()
        rule = evaluate(lambda: RulePolicy(kb=kb), prompts, tools, args.eval_group, full)
        rows.append({"held_out": held, "seed": None, "method": "rule", **rule, "seconds": round(time.perf_counter() - t, 1)})
        for seed in seeds:
            for method in ("sft", *VARIANTS):
                path = Path(args.nets) / held / f"seed{seed}" / f"{method}.safetensors"
                if not path.is_file():
                    continue
                net = load_policy(path)
                t = time.perf_counter()
                m = evaluate(lambda net=net: LearnedPolicy(kb=kb, net=net, encoders=encoders), prompts, tools,
                             args.eval_group, full)
                rows.append({"held_out": held, "seed": seed, "method": method, **m, "seconds": round(time.perf_counter() - t, 1)})
        print(held, {r["method"] + ("" if r["seed"] is None else f"/{r['seed']}"): round(r["mean_reward"], 3)
                     for r in rows if r["held_out"] == held}, flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    Path(args.out).write_text(json.dumps({
        "command": "python benchmarks/bench_training_reeval.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "commit": commit,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs, torch 1 thread",
        "seconds": round(time.perf_counter() - start, 1), "categories": cats, "seeds": seeds,
        "eval_reward": full.to_dict(), "variants": VARIANTS, "summary": aggregate(rows, cats, seeds), "rows": rows},
        indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
