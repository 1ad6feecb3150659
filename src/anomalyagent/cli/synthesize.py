"""``anomalyagent synthesize``: defect images with masks from a folder of normal images."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from ..config import AgentConfig
from ..data import DataError
from ..methods.agent import agent_config as merge_flags
from ..pipeline import RunError, default_workers, synthesize
from ..report import summarize
from ..writer import OutputWriter
from ..records import Sample
from ..tasks import clean_defects

log = logging.getLogger(__name__)


def bounded_int(low: int, high: int | None = None):
    """An argparse type: a whole number in [low, high], with a message naming the bounds."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} must be at least {low}" + (f" and at most {high}" if high is not None else ""))
        return value
    return parse


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=bounded_int(0, 2**63 - 1), default=0, help="run seed; the same seed gives identical files (default 0)")
    p.add_argument("--workers", type=bounded_int(1, 1024), default=1, help=f"worker processes (default 1; this machine: up to {default_workers()})")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="where samples are computed: local processes (default) or a dask.distributed cluster (extra: dask)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="with --executor dask: the scheduler, e.g. tcp://10.0.0.5:8786 (workers must see --data and --out at the same paths)")
    p.add_argument("--keep-failed", action="store_true",
                   help="write samples that never passed QE under OUT/failed/ (default: drop their images; the manifest marks them)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="agent only: AgentConfig YAML (policy and tool backends with options; see docs/models.md); "
                   "the flags below override it")
    p.add_argument("--concurrency", type=bounded_int(1, 1024), default=None,
                   help="agent only: episodes in flight as threads (for model servers; with --workers 1; default 1)")
    p.add_argument("--retries", type=bounded_int(0, 100), default=None, help="agent only: new episodes for a task whose episode did not pass QE (default 2)")
    p.add_argument("--max-turns", type=bounded_int(0, 100), default=None, help="agent only: turn budget per episode (default 10, as in the paper)")
    p.add_argument("--policy", default=None, help="agent only: policy backend: rule (default), scripted, openai, transformers, learned")
    p.add_argument("--critic", default=None, help="agent only: QE backend (default: measured)")
    p.add_argument("--product", default=None, metavar="auto|none|PATH",
                   help="agent only: the product model (object, parts, normal appearance) PG and QE use: auto "
                   "(default: built once per category from its normal images, cached under $ANOMALYAGENT_CACHE "
                   "or ~/.cache/anomalyagent), none, or a category folder / .product.npz")
    p.add_argument("--bank", default=None, metavar="DIR",
                   help="agent only: a local defect bank (made by `anomalyagent bank build` from your own anomalies) "
                   "the transplant family pastes real defects from; none by default")
    p.add_argument("--bank-share", type=float, default=None, metavar="F",
                   help="agent only, with --bank: the fraction of tasks whose edit pastes a real defect from the bank "
                   "(default 1; structural edits such as a bent or moved part never do)")
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
        "OUT/<category>/ground_truth/<defect>/NNN_mask.png, manifest.jsonl, trajectories/, report.html; samples "
        "that never passed QE stay out of test/. Re-running the same command resumes an interrupted run (Ctrl-C "
        "stops cleanly); OUT records the run's parameters and refuses a resume with other ones. OUT must be new, "
        "empty or an earlier output folder, outside --data.",
    )
    p.add_argument("--data", required=True, help="folder of normal images, an MVTec category folder, or an MVTec root")
    p.add_argument("--defects", required=True, help="comma-separated defect types, e.g. crack,hole,scratch")
    p.add_argument("--n", type=bounded_int(1), default=100, help="samples per category, spread over the defects (default 100; at least one per defect)")
    p.add_argument("--out", required=True, help="output folder (created; resumable; never inside --data)")
    p.add_argument("--category", default=None, help="category name (default: the folder's name); selects one in an MVTec root")
    p.add_argument("--method", default="agent", help="agent (default) or a baseline: perlin, cutpaste, nsa")
    p.add_argument("--allow-unknown", action="store_true",
                   help="accept defect names the knowledge base does not know (the nearest entry is used and printed)")
    p.add_argument("--with-normals", action="store_true",
                   help="also copy normal images into OUT/<category>/train/good and test/good (a held-out fifth, never "
                   "used for synthesis) so OUT is a complete MVTec category")
    add_common(p)
    return p


def agent_config(args: argparse.Namespace) -> AgentConfig:
    """The --config file (or the defaults) with the agent flags applied on top."""
    base = AgentConfig.from_yaml(args.config) if args.config else AgentConfig()
    knowledge = list(base.knowledge) + list(args.knowledge) if args.knowledge else None
    config = merge_flags(base, policy=args.policy, editor=args.editor, critic=args.critic, max_turns=args.max_turns,
                         retries=args.retries, learned=args.learned or None, knowledge=knowledge)
    config = config.replace(concurrency=args.concurrency, bank=args.bank, bank_share=args.bank_share)
    return dataclasses.replace(config, product=args.product) if args.product else config


def method_kwargs(args: argparse.Namespace) -> dict:
    if args.method != "agent":
        return {}
    return {"config": agent_config(args).to_dict()}


def concurrency(args: argparse.Namespace) -> int:
    return agent_config(args).concurrency if args.method == "agent" else (args.concurrency or 1)


def print_notes(summary) -> None:
    """How defect names resolved and what was merged: printed, never only buried in trajectories."""
    for note in summary.notes:
        print(f"note: {note}", file=sys.stderr)


def print_summary(out, summary) -> None:
    print_notes(summary)
    stats = summarize(Sample.from_dict(r) for _, r in OutputWriter(out).iter_manifest(warn=False))  # streamed
    print(f"wrote {summary.written} samples ({summary.skipped_done} already done) to {out} in {summary.seconds:.1f} s")
    if summary.not_passed:
        print(f"{summary.not_passed} of them never passed QE: kept out of test/ "
              f"({'under failed/' if getattr(summary, 'kept_failed', False) else 'images dropped; --keep-failed keeps them under failed/'})")
    if summary.interrupted:
        print("stopped early; re-run the same command to resume", file=sys.stderr)
    if stats.get("samples"):
        iou = stats["median_mg_iou"]
        print(f"pass rate {stats['pass_rate']:.0%}, mean score {stats['mean_score']:.2f}, mean turns {stats['mean_turns']:.1f}, "
              f"median {stats['median_seconds'] * 1000:.0f} ms/sample" + (f", median MG IoU vs alpha {iou:.3f}" if iou is not None else ""))
    if summary.bad_images:
        print(f"skipped {len(summary.bad_images)} unreadable image(s):", file=sys.stderr)
        for message in summary.bad_images:
            print(f"  {message}", file=sys.stderr)
    if summary.failed_count:
        print(f"{summary.failed_count} task(s) failed; see the log above", file=sys.stderr)
    print(f"report: {out}/report.html")


def run(args: argparse.Namespace) -> int:
    try:
        notes: list[str] = []
        defects = clean_defects([d.strip() for d in args.defects.split(",") if d.strip()], notes)
        if args.n < len(defects):
            raise ValueError(f"--n {args.n} is smaller than the {len(defects)} defect types ({', '.join(defects)}): "
                             f"each needs at least one sample; use --n {len(defects)} or more, or fewer defects")
        summary = synthesize(args.data, args.out, defects, args.n, method=args.method, seed=args.seed,
                             workers=args.workers, category=args.category, progress=not args.no_progress,
                             method_kwargs=method_kwargs(args), executor=args.executor, scheduler=args.scheduler,
                             keep_failed=args.keep_failed, with_normals=args.with_normals,
                             allow_unknown=args.allow_unknown, concurrency=concurrency(args))
    except (DataError, ValueError, KeyError, TypeError, ImportError, RunError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) and exc.args else exc}", file=sys.stderr)
        return 2
    summary.kept_failed = args.keep_failed
    summary.notes[:0] = notes
    print_summary(args.out, summary)
    return 130 if summary.interrupted else 0
