"""The ``anomalyagent`` command line.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` (which
returns the parser) and ``run(args) -> int``; COMMANDS maps names to modules.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

COMMANDS = {
    "synthesize": "anomalyagent.cli.synthesize",
    "demo": "anomalyagent.cli.demo",
    "inspect": "anomalyagent.cli.inspect",
    "kb": "anomalyagent.cli.kb",
    "critique": "anomalyagent.cli.critique",
    "renderers": "anomalyagent.cli.renderers",
    "reverse": "anomalyagent.cli.reverse",
    "bench": "anomalyagent.cli.bench",
    "bank": "anomalyagent.cli.bank",
    "product": "anomalyagent.cli.product",
    "train": "anomalyagent.cli.train",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anomalyagent",
        description="Synthesize industrial defect images with pixel masks through a closed loop: "
        "plan -> edit -> judge -> (look up knowledge, refine) -> mask. Runs offline on a CPU.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        mod = importlib.import_module(module)
        p = mod.add_parser(sub)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


def entry() -> None:
    """The console script: ``main``, and after a run stopped by a signal, exit at once.

    Why: the samples are written and the manifest synced by then; interpreter shutdown
    (joining pools, finalizers) restores the default SIGINT action, so a second Ctrl-C
    landing there would kill the process with a signal instead of the documented 130.
    """
    code = main()
    if code == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(130)
    sys.exit(code)


if __name__ == "__main__":
    entry()
