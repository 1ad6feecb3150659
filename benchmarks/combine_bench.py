"""Merge bench results.json files into one pixel-AP table (per category, per defect type).

    python benchmarks/combine_bench.py RUN_DIR [RUN_DIR ...] [--json OUT.json] [--md OUT.md]

Why: on a 2-core machine the issue's table is made by several ``anomalyagent bench``
runs (baselines in one --out per category, the agent's rows in another, started at a
later commit), each with its own results.json. This reads their rows as they are (no
recomputation), keeps the code fingerprint and commit of each row, and prints:

- per category: pixel AP and pixel AUROC of every method / setting (mean +- std over the
  seeds present), the best baseline, and the agent's margin over it;
- per defect type: pixel AP of every row (the chance level, the share of defect pixels,
  in brackets).

Nothing here trains or scores; it only tabulates committed numbers.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

BASELINES = ("perlin", "cutpaste", "nsa")


def load_rows(dirs: list[Path]) -> list[dict]:
    rows = []
    for d in dirs:
        path = d / "results.json" if d.is_dir() else d
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SystemExit(f"{path}: cannot read bench results ({exc})") from None
        for row in data.get("rows", []):
            if "error" in row or row.get("pixel_ap") is None:
                continue
            rows.append({**row, "source": str(path)})
    return rows


def label(row: dict) -> str:
    if row["method"] == "agent":
        return f"agent ({row['setting']})"
    return row["method"]


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.pstdev(values) if len(values) > 1 else 0.0)


def summarize(rows: list[dict]) -> dict:
    """{category: {label: {pixel_ap, pixel_auroc, n_seeds, per_defect: {type: ap}, commits}}}."""
    groups: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        groups[row["category"]][f"{label(row)}|{row.get('detector', 'unet')}"].append(row)
    out: dict = {}
    for category, by_label in sorted(groups.items()):
        out[category] = {}
        for key, rs in sorted(by_label.items()):
            ap, ap_sd = mean_std([r["pixel_ap"] for r in rs])
            auc, auc_sd = mean_std([r["pixel_auroc"] for r in rs])
            per: dict[str, dict] = {}
            for name in sorted({t for r in rs for t in r.get("per_defect", {})}):
                vals = [r["per_defect"][name]["pixel_ap"] for r in rs if name in r.get("per_defect", {})
                        and r["per_defect"][name].get("pixel_ap") is not None]
                chance = [r["per_defect"][name].get("positive_fraction") for r in rs if name in r.get("per_defect", {})]
                if vals:
                    per[name] = {"pixel_ap": statistics.fmean(vals), "chance": chance[0]}
            out[category][key] = {"pixel_ap": ap, "pixel_ap_std": ap_sd, "pixel_auroc": auc, "pixel_auroc_std": auc_sd,
                                  "seeds": sorted(r["seed"] for r in rs), "per_defect": per,
                                  "commits": sorted({(r.get("code") or {}).get("git") or "?" for r in rs})}
    return out


def markdown(summary: dict) -> str:
    lines = ["| category | detector | row | px AP | px AUROC | seeds | commit |", "|---|---|---|---|---|---|---|"]
    verdicts = []
    for category, rows in summary.items():
        for key, v in rows.items():
            name, detector = key.split("|")
            lines.append(f"| {category} | {detector} | {name} | {100 * v['pixel_ap']:.1f} ± {100 * v['pixel_ap_std']:.1f} "
                         f"| {100 * v['pixel_auroc']:.1f} | {','.join(map(str, v['seeds']))} | {','.join(v['commits'])} |")
        for detector in sorted({k.split("|")[1] for k in rows}):
            base = {k.split("|")[0]: v for k, v in rows.items() if k.endswith(f"|{detector}") and k.split("|")[0] in BASELINES}
            if not base:
                continue
            best_name, best = max(base.items(), key=lambda kv: kv[1]["pixel_ap"])
            for setting in ("zero-shot", "few-shot"):
                agent = rows.get(f"agent ({setting})|{detector}")
                if agent is not None:
                    margin = 100 * (agent["pixel_ap"] - best["pixel_ap"])
                    verdicts.append(f"| {category} | {detector} | {setting} | {100 * agent['pixel_ap']:.1f} | "
                                    f"{best_name} {100 * best['pixel_ap']:.1f} | {margin:+.1f} |")
    out = "\n".join(lines)
    if verdicts:
        out += ("\n\n| category | detector | setting | agent px AP | best baseline px AP | agent - best |\n"
                "|---|---|---|---|---|---|\n" + "\n".join(verdicts))
    per = ["| category | row | " + "per defect type: px AP (chance) |", "|---|---|---|"]
    for category, rows in summary.items():
        for key, v in rows.items():
            cells = ", ".join(f"{t} {100 * d['pixel_ap']:.1f} ({100 * (d['chance'] or 0):.1f})" for t, d in v["per_defect"].items())
            per.append(f"| {category} | {key.replace('|', ', ')} | {cells} |")
    return out + "\n\n" + "\n".join(per) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="bench --out folders (or results.json files)")
    parser.add_argument("--json", type=Path, default=None, help="write the merged summary here")
    parser.add_argument("--md", type=Path, default=None, help="write the markdown tables here")
    args = parser.parse_args(argv)
    summary = summarize(load_rows(args.runs))
    text = markdown(summary)
    sys.stdout.write(text)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    if args.md:
        args.md.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
