"""The shipped learned policy (or candidate weights) against the rule policy, on images no training saw.

- ``held_out``: per dev category, ``--per-category`` normal training images that are NOT
  among the recipe's GRPO prompts (``train.recipe.grpo_prompts``: the shipped weights'
  seed and prompt count), each paired with a defect type in turn; ``--group`` episodes
  each, with the category's product model (as ``synthesize`` runs by default) and
  without one; the FULL default reward (``RewardConfig()``). SFT reads only the reverse
  trajectories (reserved anomalies), so these images are unseen by the weights; the
  categories are not (the shipped weights train on all five), so this is in-domain,
  not leave-one-category-out (that is bench_training.py).
  Besides the reward columns (``train.rollout.summarize``): the share of IG edits whose
  centre lies on the object and on the part the knowledge names (the product model's
  masks of the image, ``product.regions.resolve_region``), over all edits and over the
  first edit of each episode.
- ``synthetic``: 12 synthetic object scenes (no product model; scene 0 is the one
  tests/test_policy_net.py's shipped-weights test runs): passes, whether scene 0 passed,
  and whether each episode's first edit lies on the scene's foreground.

    OMP_NUM_THREADS=1 python benchmarks/bench_shipped_policy.py --data /work/shared/data \
        --out docs/results/shipped_policy.json rule shipped=src/anomalyagent/policy_net/weights/policy.safetensors
    python benchmarks/bench_shipped_policy.py --out ALL.json --merge PART1.json PART2.json
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

from anomalyagent.agent import run_episode
from anomalyagent.agent.policy import RulePolicy
from anomalyagent.eval.split import find_categories, train_images
from anomalyagent.foreground import foreground
from anomalyagent.images import read_image
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.policy_net.policy import Encoders, LearnedPolicy, load_policy
from anomalyagent.product import ProductModel
from anomalyagent.product.regions import resolve_region
from anomalyagent.records import DefectSpec, Task
from anomalyagent.rewards import RewardConfig
from anomalyagent.synthetic import object_image
from anomalyagent.tools import default_toolbox
from anomalyagent.train.prompts import Prompt, defect_types, read_prompts, shrink
from anomalyagent.train.rollout import rollout_group, summarize

CATEGORIES = ("hazelnut", "transistor", "magnetic_tile", "neu_seg", "crackforest")


def held_out_prompts(data: str, per_category: int, seed: int, recipe_prompts: int, max_side: int) -> list[Prompt]:
    """Normal training images the recipe's GRPO never drew (same draw as ``train.recipe.grpo_prompts``)."""
    used = {p.task.image_path for p in read_prompts(data, None, recipe_prompts, np.random.default_rng([seed, 7]), max_side)}
    rng = np.random.default_rng(4321)
    out = []
    for folder in find_categories(data):
        if folder.name not in CATEGORIES:
            continue
        defects = defect_types(folder)
        free = [p for p in train_images(folder) if str(p) not in used]
        chosen = rng.choice(len(free), size=min(per_category, len(free)), replace=False)
        for i, k in enumerate(chosen):
            image = shrink(read_image(str(free[int(k)])), max_side)
            out.append(Prompt(Task(str(free[int(k)]), folder.name, defects[i % len(defects)],
                                   seed=int(rng.integers(2**31)), index=i), image))
    return out


def _on(mask: np.ndarray, center) -> bool:
    h, w = mask.shape
    x = min(max(int(round(float(center[0]) * (w - 1))), 0), w - 1)
    y = min(max(int(round(float(center[1]) * (h - 1))), 0), h - 1)
    return bool(mask[y, x])


def placement(groups, prompts, masks, kb) -> dict:
    """Share of IG centres on the object and on the named part (all edits; first edits)."""
    every, first = {"object": [], "part": []}, {"object": [], "part": []}
    for group, prompt in zip(groups, prompts):
        obj, parts = masks[prompt.task.image_path]
        entry = kb.lookup(prompt.task.category, prompt.task.defect_type).entry
        part = resolve_region(entry.location, prompt.task.defect_type, parts).part
        for rollout in group:
            edits = [s for s in rollout.trajectory.steps if s.call is not None and s.call.name == "IG"
                     and s.observation is not None and not s.observation.error]
            for k, step in enumerate(edits):
                center = DefectSpec.from_dict(step.observation.payload["spec"]).center
                for name, mask in (("object", obj), ("part", part)):
                    every[name].append(_on(mask, center))
                    if k == 0:
                        first[name].append(_on(mask, center))
    mean = lambda xs: float(np.mean(xs)) if xs else None
    return {"edits": len(every["object"]), "on_object": mean(every["object"]), "on_part": mean(every["part"]),
            "first_on_object": mean(first["object"]), "first_on_part": mean(first["part"])}


def held_out(make, prompts, products, masks, tools, group: int, kb) -> dict:
    out = {}
    for mode in ("product", "none"):
        for p in prompts:
            p.product = products[p.task.category] if mode == "product" else None
        start = time.perf_counter()
        groups = [rollout_group(p, make, tools, group, RewardConfig()) for p in prompts]
        s = summarize(groups)
        per_cat = {c: summarize([g for g, p in zip(groups, prompts) if p.task.category == c]) for c in CATEGORIES}
        out[mode] = {**{k: s[k] for k in ("episodes", "mean_reward", "pass_rate", "final_qe_score", "mean_turns", "kr_use",
                                          "kr_when_low", "episodes_low")},
                     "placement": placement(groups, prompts, masks, kb),
                     "per_category": {c: {k: v[k] for k in ("mean_reward", "pass_rate")} for c, v in per_cat.items()},
                     "seconds": round(time.perf_counter() - start, 1)}
    return out


def synthetic(make, tools) -> dict:
    passed, first_on = [], []
    for s in range(12):
        image = object_image(np.random.default_rng(4 if s == 0 else 100 + s), 128)
        traj = run_episode(Task("s.png", "hazelnut", "crack", seed=5 + s), image, make(), tools).trajectory
        passed.append(traj.passed)
        edit = next((st for st in traj.steps if st.call is not None and st.call.name == "IG"
                     and st.observation is not None and not st.observation.error), None)
        if edit is not None:
            first_on.append(_on(foreground(image, "object"), DefectSpec.from_dict(edit.observation.payload["spec"]).center))
    return {"passed": int(sum(passed)), "episodes": 12, "test_scene_passed": bool(passed[0]),
            "first_edit_on_foreground": f"{sum(first_on)}/{len(first_on)}"}


def merge(out: str, parts: list[str], same: tuple[str, ...] = ("held_out_images",)) -> None:
    """One results file from runs side by side that share the settings ``same`` (each
    part's command kept; bench_shipped_synthesize.py merges its parts with this too)."""
    loaded = [json.loads(Path(p).read_text()) for p in parts]
    if len({json.dumps([d[k] for k in same]) for d in loaded}) != 1:
        raise SystemExit(f"the parts ran with different {', '.join(same)}")
    Path(out).write_text(json.dumps({
        "command": [d["command"] for d in loaded], "date": max(d["date"] for d in loaded),
        "commit": sorted({d["commit"] for d in loaded}), "machine": loaded[0]["machine"],
        **{k: loaded[0][k] for k in same},
        "policies": {k: v for d in loaded for k, v in d["policies"].items()}}, indent=1, sort_keys=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="MVTec-layout root (required unless --merge)")
    ap.add_argument("--out", default="docs/results/shipped_policy.json")
    ap.add_argument("--per-category", type=int, default=8, help="held-out normal images per category")
    ap.add_argument("--group", type=int, default=2, help="episodes per image")
    ap.add_argument("--recipe-seed", type=int, default=0, help="the weights' recipe seed (its GRPO prompts are excluded)")
    ap.add_argument("--recipe-prompts", type=int, default=24, help="the recipe's GRPO prompts per category")
    ap.add_argument("--merge", nargs="+", default=None, help="join these results files (runs side by side) into --out")
    ap.add_argument("policies", nargs="*", help="'rule' or NAME=PATH of a policy.safetensors")
    args = ap.parse_args()
    if args.merge:
        return merge(args.out, args.merge)
    if not args.data or not args.policies:
        ap.error("--data and at least one policy are required (unless --merge)")
    torch.set_num_threads(1)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    kb, encoders = KnowledgeBase.default(), Encoders()
    tools = default_toolbox(kb=kb)
    prompts = held_out_prompts(args.data, args.per_category, args.recipe_seed, args.recipe_prompts, 160)
    products = {c: ProductModel.build(Path(args.data) / c) for c in CATEGORIES}
    masks = {p.task.image_path: products[p.task.category].locate(p.image) for p in prompts}
    rows = {}
    for item in args.policies:
        if item == "rule":
            name, make = "rule", (lambda: RulePolicy(kb=kb))
        else:
            name, path = item.split("=", 1)
            net = load_policy(path)
            make = (lambda net=net: LearnedPolicy(kb=kb, net=net, encoders=encoders))
        rows[name] = {"held_out": held_out(make, prompts, products, masks, tools, args.group, kb),
                      "synthetic": synthetic(make, tools)}
        print(name, json.dumps({m: {k: rows[name]["held_out"][m][k] for k in ("mean_reward", "pass_rate")}
                                for m in ("product", "none")}), rows[name]["synthetic"], flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    Path(args.out).write_text(json.dumps({
        "command": "python benchmarks/bench_shipped_policy.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                                                                            if k not in ("policies", "merge")) + " " + " ".join(args.policies),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "commit": commit,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs, torch 1 thread",
        "held_out_images": len(prompts), "policies": rows}, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
