"""``anomalyagent kb``: read the knowledge base the KR and PG tools use."""
from __future__ import annotations

import argparse
import sys

from ..knowledge import KnowledgeBase, format_entry


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("kb", help="show knowledge-base entries", description="Read the defect knowledge base.")
    p.add_argument("--extra", action="append", default=[], help="a YAML/JSON file adding or overriding entries (repeatable)")
    kb_sub = p.add_subparsers(dest="kb_command", metavar="ACTION", required=True)
    show = kb_sub.add_parser("show", help="show the entry for CATEGORY DEFECT (nearest entries when unknown)")
    show.add_argument("category")
    show.add_argument("defect")
    lst = kb_sub.add_parser("list", help="list categories, or the defects of CATEGORY")
    lst.add_argument("category", nargs="?")
    search = kb_sub.add_parser("search", help="full-text search (BM25) over the entries")
    search.add_argument("query", nargs="+")
    add_measure(kb_sub)
    return p


def run(args: argparse.Namespace) -> int:
    if args.kb_command == "measure":
        return run_measure(args)
    try:
        kb = KnowledgeBase.load(args.extra) if args.extra else KnowledgeBase.default()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.kb_command == "show":
        found = kb.lookup(args.category, args.defect)
        if found.note:
            print(f"note: {found.note}\n")
        print(format_entry(found.entry))
        if found.alternatives:
            print("\nalso close: " + ", ".join(f"{e.category}/{e.defect}" for e in found.alternatives))
    elif args.kb_command == "list":
        if args.category:
            print("\n".join(kb.defects(args.category)) or f"no entries for {args.category!r}")
        else:
            for cat in kb.categories():
                print(f"{cat.name:16s} {cat.kind:8s} {cat.dataset:14s} {len(kb.defects(cat.name))} defects")
    else:
        for e in kb.search(" ".join(args.query)):
            print(f"{e.category}/{e.defect}: {e.family}")
    return 0


def add_measure(kb_sub: argparse._SubParsersAction) -> None:
    """``kb measure DATA --out FILE``: few-shot priors from the reserved third (knowledge/measure.py)."""
    m = kb_sub.add_parser("measure", help="measure few-shot priors from a category's reserved first third")
    m.add_argument("data", help="an MVTec-layout category folder")
    m.add_argument("--out", required=True, help="YAML file to write (pass it later with --knowledge)")
    m.add_argument("--category", default=None, help="knowledge-base category name (default: the folder name)")
    m.add_argument("--prior-strength", type=float, default=None,
                   help="shrink each measured range toward the package entry's range with weight n/(n+K) for n "
                   "masks (knowledge/shrinkage.py); default 0 writes the raw measurement")


def run_measure(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..eval.split import split_category
    from ..knowledge.loader import dump_knowledge
    from ..images import ImageError
    from ..knowledge.measure import measure_priors

    try:
        split = split_category(args.data)
        if not split.reserved:
            raise ValueError(f"{args.data}: no reserved anomalies (every defect type has fewer than 2 images)")
        from ..knowledge import KnowledgeBase
        from ..knowledge.shrinkage import PRIOR_STRENGTH

        strength = PRIOR_STRENGTH if args.prior_strength is None else args.prior_strength
        patch = measure_priors(split.reserved, args.category, prior=KnowledgeBase.default(), strength=strength)
    except (ImageError, ValueError, OSError) as exc:
        print(f"error: {exc}")
        return 2
    counts = {}
    for it in split.reserved:
        counts[it.defect] = counts.get(it.defect, 0) + 1
    head = (f"# Few-shot priors measured by `anomalyagent kb measure` from the reserved first third of "
            f"{split.category} only\n# (eval/split.py; masks per defect: "
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ").\n")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(head + dump_knowledge(patch))
    print(f"wrote {out}: {len(patch['entries'])} entries from {len(split.reserved)} reserved anomalies")
    return 0
