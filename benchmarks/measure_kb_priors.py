"""Measure knowledge-base priors (size, aspect, colour relation) from real defect masks:
the RESERVED first third of each category's anomalies only (the few-shot setting).

Why: priors may come from knowledge (the committed, zero-shot knowledge base) or, in the
few-shot setting, from the reserved first third of a category's anomalies (eval/split.py),
never from its test two-thirds. This script prints what ``anomalyagent kb measure`` would
write (knowledge/measure.py does the measuring) plus the percentiles behind it, and with
``--out`` writes the YAML patch to pass with ``--knowledge``.

``--include-test`` also reads the test two-thirds, for reading the distribution only: it
prints a warning and refuses ``--out`` (nothing measured on test images may be written).

Usage::

    python benchmarks/measure_kb_priors.py [--data /work/shared/data] [--categories hazelnut,magnetic_tile]
        [--out priors.yaml] [--include-test]
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import yaml

from anomalyagent.eval.split import split_category
from anomalyagent.images import read_image, read_mask, to_gray
from anomalyagent.knowledge.measure import measure_mask, measure_priors, summarise

log = logging.getLogger("measure_kb_priors")


def percentiles(rows: list[dict[str, float]]) -> dict[str, list[float]]:
    return {k: [round(float(np.percentile([r[k] for r in rows], q)), 3) for q in (10, 50, 90)]
            for k in ("area", "extent", "aspect", "contrast")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/work/shared/data", help="folder holding the categories")
    parser.add_argument("--categories", default="hazelnut,magnetic_tile")
    parser.add_argument("--out", default="", help="write the few-shot YAML patch here (reserved third only)")
    parser.add_argument("--include-test", action="store_true",
                        help="also read the test two-thirds (print only; refuses --out)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.include_test and args.out:
        print("error: --include-test reads the test two-thirds; nothing measured on them may be written (drop --out)",
              file=sys.stderr)
        return 2
    if args.include_test:
        log.info("WARNING: these numbers include the TEST two-thirds; for reading only, never for priors.")
    patch: dict = {"entries": []}
    for cat in args.categories.split(","):
        split = split_category(Path(args.data) / cat)
        records = split.reserved + ([it for it in split.test if it.is_anomaly] if args.include_test else [])
        rows: dict[str, list[dict[str, float]]] = {}
        for it in records:
            gray = to_gray(read_image(it.image))
            row = measure_mask(gray, read_mask(it.mask, gray.shape[:2]))
            if row is not None:
                rows.setdefault(it.defect, []).append(row)
        for defect, rs in sorted(rows.items()):
            log.info("%s/%s: %s %s", cat, defect, json.dumps(summarise(rs)), json.dumps(percentiles(rs)))
        if args.out:
            patch["entries"] += measure_priors(split.reserved)["entries"]  # re-checks the reserved third
    if args.out:
        Path(args.out).write_text("# Few-shot priors from the reserved first third only (measure_kb_priors.py)\n"
                                  + yaml.safe_dump(patch, sort_keys=False))
        log.info("wrote %s (%d entries)", args.out, len(patch["entries"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
