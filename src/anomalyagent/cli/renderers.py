"""``anomalyagent renderers``: list the procedural defect families and their parameters."""
from __future__ import annotations

import argparse
import json
import textwrap

from ..render.catalog import describe_families


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "renderers",
        help="list the procedural defect renderer families",
        description="List the renderer families of the IG tool's procedural backend, the DefectSpec fields "
        "and params they read (with ranges), and the knowledge-base defect types that use each.",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list of {name, description, parameters, defect_types}")
    p.add_argument("name", nargs="?", help="show only this family")
    return p


def _range(param: dict) -> str:
    if "choices" in param:
        return "|".join(param["choices"])
    if "low" in param:
        return f"[{param['low']}, {param['high']}]"
    return ""


def run(args: argparse.Namespace) -> int:
    families = describe_families()
    if args.name:
        families = [f for f in families if f["name"] == args.name]
        if not families:
            print(f"unknown renderer family {args.name!r}; see `anomalyagent renderers`")
            return 2
    if args.json:
        print(json.dumps(families, indent=2))
        return 0
    for fam in families:
        print(f"{fam['name']}: {fam['description']}")
        for p in fam["parameters"]:
            default = "" if p["default"] is None else f" (default {p['default']})"
            print(f"    {p['name']:<22s} {p['kind']:<6s} {_range(p):<24s} {p['help']}{default}")
        used = fam.get("defect_types") or []
        if used:
            print(textwrap.fill("    used by: " + ", ".join(used), width=110, subsequent_indent="        "))
        print()
    return 0
