"""``anomalyagent bank build``: cut a local defect bank from your own real anomalies.

The bank feeds the ``transplant`` renderer family (``params.source: bank``). It is made
on your machine from your data and is never part of the package.
"""
from __future__ import annotations

import argparse
import json
import logging

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("bank", help="build a local defect bank from real anomalies (for the transplant family)",
                       description="Defect bank commands. `bank build` cuts each real anomaly (MVTec layout: "
                       "<category>/test/<defect>/*, ground_truth/<defect>/*_mask.png) into a patch, its mask and "
                       "its reverse-synthesis reconstruction, and writes BANK/index.json.")
    bsub = p.add_subparsers(dest="bank_command", metavar="ACTION")
    b = bsub.add_parser("build", help="build a bank from a data folder")
    b.add_argument("--data", required=True, help="an MVTec category folder or a folder of categories")
    b.add_argument("--out", required=True, help="bank folder to write (index.json + patches)")
    b.add_argument("--all", action="store_true",
                   help="use every anomaly, not only the reserved first third of each defect type "
                        "(then do not evaluate on this data's test split)")
    b.add_argument("--limit", type=int, default=None, help="at most this many anomalies per defect type")
    b.add_argument("--mask", choices=("changed", "annotated"), default="changed",
                   help="each defect's mask: only where it visibly changed the image (default) or your "
                        "annotation as drawn")
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..bank import build_bank
    from ..images import ImageError

    if getattr(args, "bank_command", None) != "build":
        print("usage: anomalyagent bank build --data DIR --out BANK")
        return 2
    if args.limit is not None and args.limit < 1:
        print("--limit must be >= 1")
        return 2
    data, out = Path(args.data).resolve(), Path(args.out).resolve()
    if out == data or data in out.parents:
        print(f"--out {out} lies inside --data {data}; choose a folder outside your data")
        return 2
    if out.exists() and not out.is_dir():
        print(f"--out {out} is a file; give a folder")
        return 2
    try:
        summary = build_bank(data, out, reserved_only=not args.all, limit=args.limit, mask=args.mask)
    except (ImageError, FileNotFoundError) as exc:
        print(f"cannot build the bank: {exc}")
        return 2
    print(json.dumps(summary))
    return 0
