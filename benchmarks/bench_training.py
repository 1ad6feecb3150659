"""The paper's training ablation on our data, leave-one-category-out.

For each dev category C (held out) and seed: SFT on the reverse trajectories of the
other categories (their reserved first third of anomalies), then GRPO on the other
categories' normal training images (and, with ``--grpo-target N``, N of C's own normal
training images: GRPO reads no anomaly) with three reward settings (R_task; R_task +
R_ref; R_task + R_ref + R_beh), each started from the same SFT network. Every policy
(and the rule policy) is then run on other normal training images of C (never a test
image) and scored with the FULL default reward. Columns: mean reward, final QE score,
pass rate, mean turns, KR use, and the paired gain over SFT. ``--save DIR`` keeps the
networks; benchmarks/bench_training_downstream.py measures their downstream pixel AP.
Folds can run as separate processes (``--held-out C``) and be joined with
``--merge OUT PART.json ...``.

    OMP_NUM_THREADS=1 python benchmarks/bench_training.py --data /work/shared/data \
        --reverse runs/reverse --out docs/results/training.json --grpo-target 16

Machine: run on the shared 2-core CPU box; one torch thread.
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import logging
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from anomalyagent.agent.policy import RulePolicy
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.policy_net.policy import Encoders, LearnedPolicy, save_policy
from anomalyagent.rewards import RewardConfig
from anomalyagent.tools import default_toolbox
from anomalyagent.train.grpo import GRPOSettings, train_grpo
from anomalyagent.train.prompts import read_prompts
from anomalyagent.train.recipe import new_network
from anomalyagent.train.rollout import rollout_group, summarize
from anomalyagent.train.sft import demonstration_turns, read_demonstrations, train_sft

log = logging.getLogger("bench_training")
CATEGORIES = ("hazelnut", "transistor", "magnetic_tile", "neu_seg", "crackforest")
VARIANTS = {  # GRPO training reward per ablation row (evaluation always uses the default weights)
    "sft+grpo(R_task)": dict(task=1.0, ref=0.0, beh=0.0),
    "sft+grpo(R_task+R_ref)": dict(task=1.0, ref=0.3, beh=0.0),
    "sft+grpo(R_task+R_ref+R_beh)": dict(task=1.0, ref=0.3, beh=0.3),
}


def evaluate(make_policy, prompts, tools, group: int, reward: RewardConfig) -> dict:
    groups = [rollout_group(p, make_policy, tools, group, reward) for p in prompts]
    return summarize(groups)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--reverse", required=True)
    ap.add_argument("--out", default="docs/results/training.json")
    ap.add_argument("--categories", default=",".join(CATEGORIES))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--sft-epochs", type=int, default=60)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--prompts", type=int, default=6, help="GRPO prompts per update")
    ap.add_argument("--group", type=int, default=8, help="GRPO rollouts per prompt")
    ap.add_argument("--train-prompts", type=int, default=16, help="GRPO prompt pool per training category")
    ap.add_argument("--eval-prompts", type=int, default=12, help="evaluation prompts of the held-out category")
    ap.add_argument("--eval-group", type=int, default=4, help="evaluation episodes per prompt")
    ap.add_argument("--max-side", type=int, default=160)
    ap.add_argument("--lr", type=float, default=3e-4, help="GRPO learning rate")
    ap.add_argument("--epochs", type=int, default=2, help="GRPO passes over each batch of rollouts")
    ap.add_argument("--minibatch", type=int, default=64, help="GRPO turns per gradient step (0: whole batch)")
    ap.add_argument("--beta", type=float, default=0.04, help="GRPO KL weight to the SFT policy")
    ap.add_argument("--advantage-floor", type=float, default=0.1, help="GRPO advantages / max(std, this)")
    ap.add_argument("--normalize", default="total", choices=("total", "per_term"),
                    help="GRPO advantages of the weighted total reward, or of each reward term on its own")
    ap.add_argument("--product", default="none", choices=("none", "auto"),
                    help="auto: every episode (and SFT's reading of the demonstrations) uses each category's product "
                    "model, built from its normal training images (cached), as `synthesize` does by default")
    ap.add_argument("--imitate", default="passed", choices=("passed", "all"),
                    help="SFT: which demonstrated edits the IG heads learn (passed: not the deliberately flawed ones)")
    ap.add_argument("--grpo-target", type=int, default=0,
                    help="GRPO prompts from the HELD-OUT category's normal training images (not the evaluation ones; "
                    "no anomaly is read): adaptation without labels (0: GRPO on the training categories only)")
    ap.add_argument("--save", default=None, help="also write each trained network here (FOLD/seedS/METHOD.safetensors)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="GRPO rows to run (names as in VARIANTS)")
    ap.add_argument("--no-rule", action="store_true", help="skip the rule-policy rows")
    ap.add_argument("--held-out", default=None, help="only these folds (comma-separated; default: every category)")
    ap.add_argument("--in-domain", action="store_true",
                    help="evaluate on the TRAINING categories' normal images instead of the held-out one (does GRPO "
                    "optimise where it trains?); --eval-prompts is then per training category")
    args = ap.parse_args()
    variants = {name: VARIANTS[name] for name in args.variants.split(",") if name}
    save = (lambda net, held, seed, name: save_policy(net, Path(args.save) / held / f"seed{seed}" / f"{name}.safetensors",
                                                      extra={"held_out": held, "seed": seed, "method": name})) \
        if args.save else (lambda *a: None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cats = [c.strip() for c in args.categories.split(",") if c.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]
    kb = KnowledgeBase.default()
    encoders = Encoders()
    tools = default_toolbox(kb=kb)
    full = RewardConfig()
    start = time.perf_counter()

    products = {}
    if args.product == "auto":
        from anomalyagent.product import ProductModel

        products = {c: ProductModel.build(Path(args.data) / c) for c in cats}
    demos = read_demonstrations(args.reverse, cats, args.max_side)
    space_net = new_network()
    by_cat = {c: [d for d in demos if d.trajectory.task.category == c] for c in cats}
    rows = []
    out = Path(args.out)
    folds = [c.strip() for c in args.held_out.split(",")] if args.held_out else cats
    for held in folds:
        train_cats = [c for c in cats if c != held]
        train_demos = [d for c in train_cats for d in by_cat[c]]
        data = demonstration_turns(train_demos, space_net.space, space_net.state_dim, encoders, kb, imitate=args.imitate,
                                   products=products)
        eval_cats = train_cats if args.in_domain else [held]
        eval_prompts = read_prompts(args.data, eval_cats, args.eval_prompts, np.random.default_rng([99, cats.index(held)]),
                                    args.max_side)
        pool = read_prompts(args.data, train_cats, args.train_prompts, np.random.default_rng([7, cats.index(held)]), args.max_side)
        if args.grpo_target and not args.in_domain:
            # GRPO needs no anomaly: the held-out category's NORMAL training images (never the
            # evaluation images, never a test image) may be prompts; SFT cannot use the category.
            seen = {p.task.image_path for p in eval_prompts}
            extra = read_prompts(args.data, [held], args.grpo_target + len(seen), np.random.default_rng([8, cats.index(held)]),
                                 args.max_side)
            pool += [p for p in extra if p.task.image_path not in seen][:args.grpo_target]
        for p in eval_prompts + pool:
            p.product = products.get(p.task.category)
        if not args.no_rule:
            t = time.perf_counter()
            rule = evaluate(lambda: RulePolicy(kb=kb), eval_prompts, tools, args.eval_group, full)
            rows.append({"held_out": held, "seed": None, "method": "rule", **rule, "seconds": round(time.perf_counter() - t, 1)})
            log.info("%s rule: %s", held, {k: round(v, 3) for k, v in rule.items()})
        for seed in seeds:
            t = time.perf_counter()
            sft = new_network(seed=seed)
            train_sft(sft, data, epochs=args.sft_epochs, seed=seed)
            save(sft, held, seed, "sft")
            make = lambda net=sft: LearnedPolicy(kb=kb, net=net, encoders=encoders)
            m = evaluate(make, eval_prompts, tools, args.eval_group, full)
            rows.append({"held_out": held, "seed": seed, "method": "sft", **m, "seconds": round(time.perf_counter() - t, 1),
                         "sft_turns": len(data)})
            log.info("%s seed %d sft: reward %.3f pass %.2f", held, seed, m["mean_reward"], m["pass_rate"])
            for name, weights in variants.items():
                t = time.perf_counter()
                net = copy.deepcopy(sft)
                settings = GRPOSettings(iterations=args.iterations, prompts_per_step=args.prompts, group_size=args.group,
                                        lr=args.lr, epochs=args.epochs, minibatch=args.minibatch, beta=args.beta,
                                        advantage_floor=args.advantage_floor, normalize=args.normalize)
                history = train_grpo(net, pool, tools, settings, RewardConfig(**weights), encoders, kb,
                                     np.random.default_rng([seed, 11, cats.index(held)]))
                save(net, held, seed, name)
                m = evaluate(lambda net=net: LearnedPolicy(kb=kb, net=net, encoders=encoders), eval_prompts, tools,
                             args.eval_group, full)
                rows.append({"held_out": held, "seed": seed, "method": name, **m, "seconds": round(time.perf_counter() - t, 1),
                             "train_reward_first": history[0].get("mean_reward"), "train_reward_last": history[-1].get("mean_reward"),
                             "train_spread": {k: float(np.mean([h.get(k, 0.0) for h in history]))
                                              for k in ("groups_equal", "groups_below_floor", "std_total", "std_task", "std_ref",
                                                        "std_beh", "groups_vary_task", "groups_vary_ref", "groups_vary_beh")}})
                log.info("%s seed %d %s: reward %.3f pass %.2f", held, seed, name, m["mean_reward"], m["pass_rate"])
        write(out, args, rows, cats, seeds, time.perf_counter() - start)  # after every fold: a partial run is kept
    write(out, args, rows, cats, seeds, time.perf_counter() - start)


def aggregate(rows: list[dict], cats: list[str], seeds: list[int]) -> dict:
    """Per method: mean over held-out categories and seeds; the spread is the std over seeds of the
    per-seed means across the folds done."""
    keys = ("mean_reward", "final_qe_score", "pass_rate", "mean_turns", "kr_use", "kr_when_low")
    out = {}
    for method in ["rule", "sft", *VARIANTS]:
        mine = [r for r in rows if r["method"] == method]
        if not mine:
            continue
        entry = {k: float(np.mean([r.get(k, np.nan) for r in mine])) for k in keys}
        per_seed = [np.mean([r["mean_reward"] for r in mine if r["seed"] == s]) for s in seeds
                    if any(r["seed"] == s for r in mine)]
        entry["reward_seed_std"] = float(np.std(per_seed)) if len(per_seed) > 1 else 0.0
        if method not in ("rule", "sft"):  # paired with SFT: same fold, same seed
            sft = {(r["held_out"], r["seed"]): r["mean_reward"] for r in rows if r["method"] == "sft"}
            diffs = {s: [r["mean_reward"] - sft[(r["held_out"], s)] for r in mine
                         if r["seed"] == s and (r["held_out"], s) in sft] for s in seeds}
            per = [float(np.mean(d)) for d in diffs.values() if d]
            if per:
                entry["gain_over_sft"] = float(np.mean(per))
                entry["gain_over_sft_per_seed"] = per
                entry["gain_over_sft_seed_std"] = float(np.std(per)) if len(per) > 1 else 0.0
                pairs = [x for d in diffs.values() for x in d]
                entry["better_than_sft"] = f"{sum(x > 0 for x in pairs)}/{len(pairs)}"
        spreads = [r["train_spread"] for r in mine if r.get("train_spread")]
        if spreads:  # GRPO's batches: how often a group taught nothing (equal rewards), per-term spreads
            entry["train_spread"] = {k: float(np.mean([x[k] for x in spreads])) for k in spreads[0]}
        entry["folds"] = sorted({r["held_out"] for r in mine})
        entry["runs"] = len(mine)
        out[method] = entry
    return out


def commit_id() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


COMMIT = commit_id()  # the code the run started from


def write(out: Path, args, rows, cats, seeds, seconds: float) -> None:
    commit = COMMIT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "command": "python benchmarks/bench_training.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs, torch 1 thread",
        "commit": commit, "seconds": round(seconds, 1), "categories": cats, "seeds": seeds,
        "eval_reward": RewardConfig().to_dict(), "variants": VARIANTS,
        "summary": aggregate(rows, cats, seeds), "rows": rows,
    }, indent=1, sort_keys=True))


def merge(out: str, parts: list[str]) -> None:
    """One results file from runs of single folds (``--held-out C``, run side by side):
    rows concatenated in category order, summary recomputed, each part's command kept."""
    loaded = [json.loads(Path(p).read_text()) for p in parts]
    cats = [c for c in CATEGORIES if any(c in d["categories"] for d in loaded)]
    seeds = sorted({s for d in loaded for s in d["seeds"]})
    rows = sorted((r for d in loaded for r in d["rows"]), key=lambda r: (cats.index(r["held_out"]), str(r["seed"])))
    first = loaded[0]
    Path(out).write_text(json.dumps({
        "command": [d["command"] for d in loaded], "date": max(d["date"] for d in loaded), "machine": first["machine"],
        "commit": sorted({d["commit"] for d in loaded}), "seconds": sum(d["seconds"] for d in loaded),
        "seconds_note": "sum over the parts, which ran side by side", "categories": cats, "seeds": seeds,
        "eval_reward": first["eval_reward"], "variants": first["variants"], "summary": aggregate(rows, cats, seeds),
        "rows": rows,
    }, indent=1, sort_keys=True))


def table(path: str) -> str:
    """The summary of a results file as a markdown table (docs/benchmarks.md)."""
    data = json.loads(Path(path).read_text())
    lines = ["| policy | mean reward | seed std | gain over SFT (seed std; folds better) | final QE score | pass rate | "
             "mean turns | KR use | KR after a low QE | runs |", "|---|---|---|---|---|---|---|---|---|---|"]
    for method, e in data["summary"].items():
        gain = (f"{e['gain_over_sft']:+.3f} ({e['gain_over_sft_seed_std']:.3f}; {e['better_than_sft']})"
                if "gain_over_sft" in e else "-")
        lines.append(f"| {method} | {e['mean_reward']:.3f} | {e['reward_seed_std']:.3f} | {gain} | {e['final_qe_score']:.2f} | "
                     f"{e['pass_rate']:.3f} | {e['mean_turns']:.2f} | {e['kr_use']:.3f} | {e.get('kr_when_low', float('nan')):.3f} | "
                     f"{e['runs']} |")
    per_fold = ["", "| held out | " + " | ".join(data["summary"]) + " |", "|---|" + "---|" * len(data["summary"])]
    for held in data["categories"]:
        cells = []
        for method in data["summary"]:
            vals = [r["mean_reward"] for r in data["rows"] if r["held_out"] == held and r["method"] == method]
            cells.append(f"{np.mean(vals):.3f}" if vals else "-")
        per_fold.append(f"| {held} | " + " | ".join(cells) + " |")
    return "\n".join(lines + per_fold)


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--table":
        print(table(sys.argv[2]))
    elif len(sys.argv) > 3 and sys.argv[1] == "--merge":
        merge(sys.argv[2], sys.argv[3:])
    else:
        main()
