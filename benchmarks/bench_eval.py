"""Evaluation harness benchmark (issue 5): the numbers of docs/benchmarks.md.

    python benchmarks/bench_eval.py [--data /work/shared/data] [--out runs/bench] [-- BENCH ARGS...]

This is ``anomalyagent bench`` with the issue's settings: every category under --data,
methods agent,perlin,cutpaste,nsa + the oracle, n = 200, preset cpu, seeds 0,1,2. Extra
arguments after ``--`` go to ``anomalyagent bench`` unchanged (e.g. ``-- --seeds 0
--epochs 16 --no-classify`` for the budget-sensitivity run). The run resumes when
repeated with the same --out; results.json, results.md and pixel_ap.png land in --out.
"""
from __future__ import annotations

import argparse
import sys

from anomalyagent.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/work/shared/data", help="MVTec-layout folder (default /work/shared/data)")
    parser.add_argument("--out", default="runs/bench", help="output folder (default runs/bench)")
    args = parser.parse_args(own)
    base = ["bench", "--data", args.data, "--out", args.out, "--methods", "agent,perlin,cutpaste,nsa",
            "--n", "200", "--preset", "cpu", "--seeds", "0,1,2", "--no-progress"]
    return cli_main(base + extra)


if __name__ == "__main__":
    sys.exit(main())
