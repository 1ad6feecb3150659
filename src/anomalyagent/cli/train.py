"""``anomalyagent train policy|sft|grpo``: train the embedded policy, or a vision-language model with TRL."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def _names(text: str | None) -> tuple[str, ...] | None:
    return tuple(s.strip() for s in text.split(",") if s.strip()) if text else None


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train",
        help="train the embedded policy (SFT + GRPO on a CPU) or a vision-language model with TRL",
        description="policy: our small network, SFT on reverse-synthesis trajectories then GRPO through the agent "
        "loop (writes OUT/policy.safetensors, text_cache.safetensors, training.json). sft / grpo: a Qwen3-VL-style "
        "model with TRL (needs the 'mllm' extra). docs/training.md has the recipes.",
    )
    tsub = p.add_subparsers(dest="train_command", metavar="WHAT", required=True)

    pol = tsub.add_parser("policy", help="the embedded learned policy: SFT + GRPO on a CPU")
    pol.add_argument("--data", required=True, help="MVTec-layout root (normal training images for GRPO prompts)")
    pol.add_argument("--reverse", required=True, help="output folder of `anomalyagent reverse` (trajectories.jsonl)")
    pol.add_argument("--out", required=True, help="folder for policy.safetensors, text_cache.safetensors, training.json")
    pol.add_argument("--categories", default=None, help="comma-separated categories to train on (default: all)")
    pol.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    pol.add_argument("--sft-epochs", type=int, default=60, help="SFT epochs (default 60)")
    pol.add_argument("--iterations", type=int, default=20, help="GRPO updates (default 20; 0 = SFT only)")
    pol.add_argument("--group-size", type=int, default=8, help="GRPO rollouts per prompt (default 8)")
    pol.add_argument("--prompts", type=int, default=8, help="GRPO prompts per update (default 8)")
    pol.add_argument("--imitate", default="passed", choices=("all", "passed"),
                     help="SFT: edits the IG heads learn: only those QE passed (default: the shipped weights and the "
                     "ablation) or all demonstrated ones (docs/training.md)")
    pol.add_argument("--minibatch", type=int, default=64,
                     help="GRPO turns per gradient step (default 64: the shipped weights and the ablation; 0 = whole batch)")
    pol.add_argument("--advantage-floor", type=float, default=0.1,
                     help="GRPO advantages / max(std, this) (default 0.1: the shipped weights and the ablation)")
    pol.add_argument("--normalize", default="total", choices=("total", "per_term"),
                     help="GRPO advantages of the weighted total reward (default) or of each reward term on its own")
    pol.add_argument("--kr-credit", type=float, default=0.0,
                     help="GRPO: weight of the per-turn credit for calling KR after a low QE (default 0: off; "
                     "docs/training.md)")
    pol.add_argument("--product", default="auto", choices=("none", "mixed", "auto"),
                     help="auto (default: the shipped weights, the ablation's episodes): every GRPO prompt and SFT "
                     "demonstration reads its category's product model (built from its normal training images, "
                     "cached); mixed: half of them; none: no product models")

    for name, helptext in (("sft", "TRL SFTTrainer on the chat JSONL of `anomalyagent reverse` (vision tower frozen)"),
                           ("grpo", "TRL GRPOTrainer with our tools as environment_factory and our rewards")):
        q = tsub.add_parser(name, help=helptext)
        q.add_argument("--model", required=True, help="a local model folder (Qwen3-VL with its processor)")
        q.add_argument("--out", required=True, help="output folder (checkpoints, log.json)")
        q.add_argument("--max-steps", type=int, default=100, help="optimizer steps (default 100)")
        q.add_argument("--lr", type=float, default=1e-5, help="learning rate (default 1e-5)")
        q.add_argument("--batch-size", type=int, default=1, help="per-device batch size (default 1)")
        q.add_argument("--seed", type=int, default=0)
        if name == "sft":
            q.add_argument("--reverse", required=True, help="output folder of `anomalyagent reverse` (chat.jsonl, images/)")
        else:
            q.add_argument("--data", required=True, help="MVTec-layout root (normal training images as prompts)")
            q.add_argument("--categories", default=None, help="comma-separated categories (default: all)")
            q.add_argument("--prompts-per-category", type=int, default=16, help="start prompts per category (default 16)")
            q.add_argument("--num-generations", type=int, default=8, help="rollouts per prompt (default 8)")
            q.add_argument("--max-completion-length", type=int, default=1024, help="tokens per rollout (default 1024)")
            q.add_argument("--max-side", type=int, default=256, help="images are shrunk to this side (default 256)")
    return p


def run(args: argparse.Namespace) -> int:
    try:
        if args.train_command == "policy":
            from ..train.grpo import GRPOSettings
            from ..train.recipe import PolicyRecipe, train_policy

            recipe = PolicyRecipe(args.data, args.reverse, _names(args.categories), seed=args.seed, sft_epochs=args.sft_epochs,
                                  imitate=args.imitate, product=args.product,
                                  grpo=GRPOSettings(iterations=args.iterations, prompts_per_step=args.prompts,
                                                    group_size=args.group_size, minibatch=args.minibatch,
                                                    advantage_floor=args.advantage_floor, normalize=args.normalize,
                                                    kr_credit=args.kr_credit))
            report = train_policy(recipe, args.out)
            last = report["grpo"][-1] if report["grpo"] else {}
            print(f"SFT: {report['sft']['turns']} turns, tool accuracy {report['sft']['tool_accuracy_train']:.3f}; "
                  f"GRPO: {len(report['grpo'])} updates, last mean reward {last.get('mean_reward', float('nan')):.3f}; "
                  f"{report['seconds']:.0f} s")
            print(f"wrote {Path(args.out) / 'policy.safetensors'}")
            return 0
        from ..train import trl_run

        if args.train_command == "sft":
            result = trl_run.run_sft(args.model, args.reverse, args.out, max_steps=args.max_steps, lr=args.lr,
                                     batch_size=args.batch_size, seed=args.seed)
        else:
            result = trl_run.run_grpo(args.model, args.data, args.out, categories=_names(args.categories),
                                      prompts_per_category=args.prompts_per_category, num_generations=args.num_generations,
                                      max_completion_length=args.max_completion_length, max_steps=args.max_steps,
                                      lr=args.lr, batch_size=args.batch_size, seed=args.seed, max_side=args.max_side)
        print(json.dumps(result, indent=1, sort_keys=True))
        return 0
    except (FileNotFoundError, ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
