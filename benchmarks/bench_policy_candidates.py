"""Which trained policy weights to ship: two quick checks of candidate checkpoints.

- ``synthetic``: 12 episodes on synthetic object scenes (``synthetic.object_image``, 128 px,
  no product model; scene 0 is the one tests/test_policy_net.py's shipped-weights test
  runs), pass count and whether scene 0 passed;
- ``real``: 6 normal training images per dev category x 2 episodes with the FULL default
  reward, with each category's product model and without (the weights were trained on
  these categories, so this is in-domain: a sanity check, not a held-out number).

    OMP_NUM_THREADS=1 python benchmarks/bench_policy_candidates.py --data /work/shared/data \
        --out docs/results/policy_candidates.json NAME=PATH.safetensors ...
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
from pathlib import Path

import numpy as np
import torch

from anomalyagent.agent import run_episode
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.policy_net.policy import Encoders, LearnedPolicy, load_policy
from anomalyagent.product import ProductModel
from anomalyagent.records import Task
from anomalyagent.rewards import RewardConfig
from anomalyagent.synthetic import object_image
from anomalyagent.tools import default_toolbox
from anomalyagent.train.prompts import read_prompts
from anomalyagent.train.rollout import rollout_group, summarize

CATEGORIES = ("hazelnut", "transistor", "magnetic_tile", "neu_seg", "crackforest")


def synthetic(net, kb, tools, encoders) -> dict:
    passed = []
    for s in range(12):
        image = object_image(np.random.default_rng(4 if s == 0 else 100 + s), 128)
        policy = LearnedPolicy(kb=kb, net=net, encoders=encoders)
        passed.append(run_episode(Task("s.png", "hazelnut", "crack", seed=5 + s), image, policy, tools).trajectory.passed)
    return {"passed": int(sum(passed)), "episodes": 12, "test_scene_passed": bool(passed[0])}


def real(net, kb, tools, encoders, data: str) -> dict:
    prompts = read_prompts(data, CATEGORIES, 6, np.random.default_rng(1234), 160)
    products = {c: ProductModel.build(Path(data) / c) for c in CATEGORIES}
    out = {}
    for mode in ("product", "none"):
        for p in prompts:
            p.product = products[p.task.category] if mode == "product" else None
        groups = [rollout_group(p, lambda: LearnedPolicy(kb=kb, net=net, encoders=encoders), tools, 2, RewardConfig())
                  for p in prompts]
        s = summarize(groups)
        out[mode] = {k: s[k] for k in ("mean_reward", "pass_rate", "episodes")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default="docs/results/policy_candidates.json")
    ap.add_argument("weights", nargs="+", help="NAME=PATH of a policy.safetensors")
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    kb, encoders = KnowledgeBase.default(), Encoders()
    tools = default_toolbox(kb=kb)
    rows = {}
    for item in args.weights:
        name, path = item.split("=", 1)
        net = load_policy(path)
        rows[name] = {"synthetic": synthetic(net, kb, tools, encoders), "real_in_domain": real(net, kb, tools, encoders, args.data)}
    Path(args.out).write_text(json.dumps({
        "command": "python benchmarks/bench_policy_candidates.py " + " ".join(args.weights),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs, torch 1 thread",
        "candidates": rows}, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
