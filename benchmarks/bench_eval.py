"""Evaluation harness benchmark (issues 5, 9, 10): the bench table of docs/benchmarks.md.

    python benchmarks/bench_eval.py [--data /work/shared/data] [--out runs/bench]
        [--settings zero-shot,few-shot] [--detectors unet] [-- BENCH ARGS...]

This is ``anomalyagent bench`` with the issues' settings: every category under --data,
methods agent,perlin,cutpaste,nsa + the oracle, n = 200, preset cpu, seeds 0,1,2, run
once per setting and detector into the same --out (the baselines and the oracle see no
anomaly of the category in either setting, so their rows are made once and shared by
both settings' tables). Extra arguments after ``--`` go to ``anomalyagent bench``
unchanged (e.g. ``-- --seeds 0 --epochs 16 --no-classify`` for a budget-sensitivity
run, ``-- --category hazelnut``). The run resumes when repeated with the same --out;
rows made by other code or parameters are redone. results.json, results.md and
pixel_ap.png land in --out. Measured cost per row: see docs/evaluation.md.
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
    parser.add_argument("--settings", default="zero-shot,few-shot", help="comma-separated (default zero-shot,few-shot)")
    parser.add_argument("--detectors", default="unet", help="comma-separated: unet, effnet (default unet)")
    args = parser.parse_args(own)
    base = ["bench", "--data", args.data, "--out", args.out, "--methods", "agent,perlin,cutpaste,nsa",
            "--n", "200", "--preset", "cpu", "--seeds", "0,1,2", "--no-progress"]
    code = 0
    for detector in [d.strip() for d in args.detectors.split(",") if d.strip()]:
        for setting in [s.strip() for s in args.settings.split(",") if s.strip()]:
            code = max(code, cli_main(base + ["--setting", setting, "--detector", detector] + extra))
    return code


if __name__ == "__main__":
    sys.exit(main())
