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
    return p


def run(args: argparse.Namespace) -> int:
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
