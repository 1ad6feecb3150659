"""``anomalyagent reverse``: training trajectories from real anomalies (reverse synthesis)."""
from __future__ import annotations

import argparse
import logging
import sys

from ..images import ImageError

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "reverse",
        help="write agent trajectories from real anomalies with masks (reverse synthesis)",
        description="From each real anomaly and its mask: reconstruct the normal image, extract the defect's "
        "spec, and write trajectories with 1, 2 and 3 IG turns that end in the real anomaly. Output: "
        "OUT/trajectories.jsonl (structured), OUT/chat.jsonl (messages for TRL's SFTTrainer), "
        "OUT/anomalies.jsonl, OUT/summary.json, OUT/images/. By default only the reserved first third of "
        "each defect type is used (the evaluation split), so no test image leaks into training data.",
    )
    p.add_argument("--data", required=True, help="an MVTec-layout category folder, or a root of them")
    p.add_argument("--out", required=True, help="output folder (files in it are overwritten)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--reserved-only", dest="reserved_only", action="store_true", default=True,
                       help="only the reserved first third of each defect type (default)")
    group.add_argument("--all", dest="reserved_only", action="store_false",
                       help="every anomaly, test split included (do not evaluate on the same data)")
    p.add_argument("--seed", type=int, default=0, help="run seed; the same seed gives identical files (default 0)")
    p.add_argument("--turns", default="1,2,3", help="IG turns per trajectory, one trajectory each (default 1,2,3)")
    p.add_argument("--kr-fraction", type=float, default=0.5,
                   help="share of 2- and 3-turn trajectories that call KR after the first failed QE (default 0.5)")
    p.add_argument("--methods", default="telea,ns,biharmonic,exemplar",
                   help="reconstruction candidates (default telea,ns,biharmonic,exemplar)")
    p.add_argument("--critic", default="measured", help="QE backend (default: measured)")
    p.add_argument("--limit", type=int, default=None, help="at most this many anomalies per category (smoke runs)")
    return p


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"{what} must be comma-separated integers, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from ..reverse.batch import ReverseConfig, run_reverse
    from ..reverse.export import Exporter
    from ..reverse.summary import format_summary

    try:
        config = ReverseConfig(turns=_ints(args.turns, "--turns"), kr_fraction=args.kr_fraction,
                               methods=tuple(m.strip() for m in args.methods.split(",") if m.strip()),
                               reserved_only=args.reserved_only, seed=args.seed, critic=args.critic, limit=args.limit)
        exporter = Exporter(args.out)
        for result in run_reverse(args.data, config):
            exporter.add(result)
        summary = exporter.close()
    except (ImageError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    print(f"wrote {args.out}/trajectories.jsonl, chat.jsonl, anomalies.jsonl, summary.json")
    return 0
