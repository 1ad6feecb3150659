"""``anomalyagent synthesize``: defect images with masks from a folder of normal images."""
from __future__ import annotations

import argparse
import logging
import sys

from ..config import AgentConfig
from ..data import DataError
from ..methods.agent import agent_config as merge_flags
from ..pipeline import default_workers, synthesize
from ..report import summarize
from ..writer import OutputWriter
from ..records import Sample

log = logging.getLogger(__name__)


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="run seed; the same seed gives identical files (default 0)")
    p.add_argument("--workers", type=int, default=1, help=f"worker processes (default 1; this machine: up to {default_workers()})")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="agent only: AgentConfig YAML (policy and tool backends with options; see docs/models.md); "
                   "the flags below override it")
    p.add_argument("--concurrency", type=int, default=None,
                   help="agent only: episodes in flight as threads (for model servers; with --workers 1; default 1)")
    p.add_argument("--retries", type=int, default=None, help="agent only: new episodes for a task whose episode did not pass QE (default 2)")
    p.add_argument("--max-turns", type=int, default=None, help="agent only: turn budget per episode (default 10, as in the paper)")
    p.add_argument("--policy", default=None, help="agent only: policy backend: rule (default), scripted, openai, transformers")
    p.add_argument("--critic", default=None, help="agent only: QE backend (default: measured)")
    p.add_argument("--editor", default=None, help="agent only: IG backend (default: procedural)")
    p.add_argument("--knowledge", action="append", default=[], metavar="FILE",
                   help="agent only: YAML/JSON file adding or overriding knowledge-base entries (repeatable)")
    p.add_argument("--learned", action="store_true", help="agent only: add the critic's learned realism term (extra: learned)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "synthesize",
        help="make defect images with masks from normal images",
        description="Make N defect images with pixel masks from a folder of normal images (MVTec AD layout "
        "<category>/train/good, or a plain folder). Output: OUT/<category>/test/<defect>/NNN.png, "
        "OUT/<category>/ground_truth/<defect>/NNN_mask.png, manifest.jsonl, trajectories/, report.html. "
        "Re-running the same command resumes an interrupted run.",
    )
    p.add_argument("--data", required=True, help="folder of normal images, an MVTec category folder, or an MVTec root")
    p.add_argument("--defects", required=True, help="comma-separated defect types, e.g. crack,hole,scratch")
    p.add_argument("--n", type=int, default=100, help="samples per category, spread over the defects (default 100)")
    p.add_argument("--out", required=True, help="output folder (created; resumable)")
    p.add_argument("--category", default=None, help="category name (default: the folder's name); selects one in an MVTec root")
    p.add_argument("--method", default="agent", help="agent (default) or a baseline: perlin, cutpaste, nsa")
    add_common(p)
    return p


def agent_config(args: argparse.Namespace) -> AgentConfig:
    """The --config file (or the defaults) with the agent flags applied on top."""
    base = AgentConfig.from_yaml(args.config) if args.config else AgentConfig()
    knowledge = list(base.knowledge) + list(args.knowledge) if args.knowledge else None
    config = merge_flags(base, policy=args.policy, editor=args.editor, critic=args.critic, max_turns=args.max_turns,
                         retries=args.retries, learned=args.learned or None, knowledge=knowledge)
    return config.replace(concurrency=args.concurrency)


def method_kwargs(args: argparse.Namespace) -> dict:
    if args.method != "agent":
        return {}
    return {"config": agent_config(args).to_dict()}


def concurrency(args: argparse.Namespace) -> int:
    return agent_config(args).concurrency if args.method == "agent" else (args.concurrency or 1)


def print_summary(out, summary) -> None:
    samples = [Sample.from_dict(r) for r in OutputWriter(out).read_manifest()]
    stats = summarize(samples)
    print(f"wrote {summary.written} samples ({summary.skipped_done} already done) to {out} in {summary.seconds:.1f} s")
    if stats.get("samples"):
        iou = stats["median_mg_iou"]
        print(f"pass rate {stats['pass_rate']:.0%}, mean score {stats['mean_score']:.2f}, mean turns {stats['mean_turns']:.1f}, "
              f"median {stats['median_seconds'] * 1000:.0f} ms/sample" + (f", median MG IoU vs alpha {iou:.3f}" if iou is not None else ""))
    if summary.bad_images:
        print(f"skipped {len(summary.bad_images)} unreadable image(s):", file=sys.stderr)
        for message in summary.bad_images:
            print(f"  {message}", file=sys.stderr)
    if summary.failed:
        print(f"{len(summary.failed)} task(s) failed; see the log above", file=sys.stderr)
    print(f"report: {out}/report.html")


def run(args: argparse.Namespace) -> int:
    defects = [d.strip() for d in args.defects.split(",") if d.strip()]
    try:
        summary = synthesize(args.data, args.out, defects, args.n, method=args.method, seed=args.seed,
                             workers=args.workers, category=args.category, progress=not args.no_progress,
                             method_kwargs=method_kwargs(args), concurrency=concurrency(args))
    except (DataError, ValueError, KeyError, TypeError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_summary(args.out, summary)
    return 0
