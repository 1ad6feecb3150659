"""``anomalyagent inspect OUT``: what a synthesis run produced."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..records import Sample
from ..report import summarize
from ..usage import summarize_usage
from ..writer import MANIFEST, OutputWriter


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("inspect", help="counts, pass rate, scores, turns and timing of an output folder",
                       description="Summarize an output folder written by `synthesize` or `demo`.")
    p.add_argument("out", help="output folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    root = Path(args.out)
    if not (root / MANIFEST).is_file():
        print(f"error: {root}: no {MANIFEST}; is this an anomalyagent output folder?", file=sys.stderr)
        return 2
    usages: list[dict] = []

    def samples():  # streamed: any size; only the small usage records are kept
        for _, record in OutputWriter(root).iter_manifest():
            sample = Sample.from_dict(record)
            usages.append(sample.usage)
            yield sample

    stats = summarize(samples())
    stats["usage"] = summarize_usage(usages)
    if args.json:
        print(json.dumps(stats, indent=1))
        return 0
    if not stats.get("samples"):
        print(f"{root}: no samples yet")
        return 0
    print(f"{root}: {stats['samples']} samples ({', '.join(f'{k}: {v}' for k, v in stats['methods'].items())})")
    for key, count in stats["per_defect"].items():
        print(f"  {key:40s} {count}")
    print(f"pass rate      {stats['pass_rate']:.1%}")
    print(f"kept           {', '.join(f'{k}: {v}' for k, v in stats['kept'].items())} (test = in <category>/test/)")
    print(f"mean score     {stats['mean_score']:.2f} / 10")
    print(f"turns          mean {stats['mean_turns']:.1f}, histogram {stats['turns']}")
    print(f"episodes       mean {stats['mean_attempts']:.2f} per sample")
    print(f"time           median {stats['median_seconds'] * 1000:.1f} ms/sample, total {stats['total_seconds']:.1f} s")
    print(f"masks          median area {stats['median_mask_fraction']:.2%}, empty {stats['empty_masks']}")
    if stats["min_on_object"] is not None:
        print(f"on object      every mask has >= {stats['min_on_object']:.1%} of its area on the foreground estimate")
    if stats["median_mg_iou"] is not None:
        print(f"MG IoU         median {stats['median_mg_iou']:.3f} vs the renderer's exact alpha > 0.5")
    usage = stats["usage"]
    if usage["samples"]:
        per = usage["per_sample"]
        print(f"usage          per sample: {per['calls']:.1f} calls, {per['tokens']:.0f} tokens, {per['seconds']:.2f} s")
        for key, u in usage["per_key"].items():
            print(f"  {key:8s} {u['calls']:6d} calls {u['prompt_tokens']:9d} prompt + {u['completion_tokens']:8d} completion tokens "
                  f"{u['seconds']:9.2f} s")
    return 0
