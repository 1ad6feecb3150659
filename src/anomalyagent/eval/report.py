"""Benchmark report: a markdown table (mean +- std over seeds) and a bar chart PNG.

The chart uses matplotlib when it is installed and OpenCV otherwise (matplotlib is not a
dependency). Rows produced under ``--select-on-test`` are marked in the table title and
on every method name, so a test-selected number is never read as a fixed-budget one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..images import write_png

COLUMNS = [
    ("pixel_auroc", "px AUROC"), ("pixel_ap", "px AP"), ("pixel_f1", "px F1"),
    ("image_auroc", "img AUROC"), ("image_ap", "img AP"), ("image_f1", "img F1"), ("aupro", "AU-PRO"),
    ("classification_accuracy", "cls acc"), ("is_effnet", "IS_effnet"), ("ic_lpips_effnet", "IC-LPIPS_effnet"),
]
PERCENT = {"pixel_auroc", "pixel_ap", "pixel_f1", "image_auroc", "image_ap", "image_f1", "aupro", "classification_accuracy"}


Group = tuple[str, str, str, str]  # (category, setting, detector, method)


def _group(r: dict[str, Any]) -> Group:
    return (r.get("category", ""), r.get("setting", "zero-shot"), r.get("detector", "unet"), r["method"])


def _stats(values: list[Any]) -> tuple[float, float, int] | None:
    arr = np.array([float(v) for v in values if v is not None], np.float64)
    arr = arr[~np.isnan(arr)]
    return (float(arr.mean()), float(arr.std(ddof=0)), len(arr)) if len(arr) else None


def summarize(rows: list[dict[str, Any]]) -> dict[Group, dict[str, tuple[float, float, int]]]:
    """(category, setting, detector, method) -> metric -> (mean, std over seeds, number of seeds).

    NaNs and failed rows (``error``) are skipped; per-defect metrics appear as
    ``"<defect>/pixel_ap"``, ``"<defect>/pixel_auroc"`` and ``"<defect>/ic_lpips_effnet"``.
    """
    groups: dict[Group, list[dict[str, Any]]] = {}
    for r in rows:
        if not r.get("error"):
            groups.setdefault(_group(r), []).append(r)
    out: dict[Group, dict[str, tuple[float, float, int]]] = {}
    for key, group in groups.items():
        stats = {}
        for name in [c for c, _ in COLUMNS] + ["seconds", "synth_seconds", "train_seconds"]:
            stat = _stats([r.get(name) for r in group])
            if stat:
                stats[name] = stat
        for defect in sorted({d for r in group for d in (r.get("per_defect") or {})}):
            for metric in ("pixel_ap", "pixel_auroc"):
                stat = _stats([(r.get("per_defect") or {}).get(defect, {}).get(metric) for r in group])
                if stat:
                    stats[f"{defect}/{metric}"] = stat
        for defect in sorted({d for r in group for d in (r.get("ic_lpips_effnet_per_defect") or {})}):
            stat = _stats([(r.get("ic_lpips_effnet_per_defect") or {}).get(defect) for r in group])
            if stat:
                stats[f"{defect}/ic_lpips_effnet"] = stat
        out[key] = stats
    return out


def _cell(name: str, stat: tuple[float, float, int] | None) -> str:
    if stat is None:
        return "-"
    mean, std, _ = stat
    if name in PERCENT or name.endswith(("/pixel_ap", "/pixel_auroc")):
        return f"{100 * mean:.1f} ± {100 * std:.1f}"
    if name in ("seconds", "synth_seconds", "train_seconds"):
        return f"{mean:.0f} ± {std:.0f}"
    return f"{mean:.3f} ± {std:.3f}"


SHARED = ("any", "reserved")  # rows shown under every setting: baselines (no anomaly seen) and the oracle
SETTING_NOTE = {
    "zero-shot": "the agent uses no measurement of this category's anomalies (knowledge-base text and numbers only)",
    "few-shot": "the agent's priors are measured on the reserved first third only",
    "any setting": "no method here reads anomalies of this category",
}


def _views(rows: list[dict[str, Any]], category: str) -> list[tuple[str, str]]:
    """(setting, detector) tables of one category; baselines and the oracle appear in each."""
    mine = [r for r in rows if r.get("category", "") == category]
    detectors = sorted({r.get("detector", "unet") for r in mine}, key=lambda d: (d != "unet", d))
    settings = sorted({r.get("setting", "zero-shot") for r in mine} - set(SHARED)) or ["any setting"]
    return [(s, d) for d in detectors for s in settings]


def _in_view(r: dict[str, Any], setting: str, detector: str) -> bool:
    return r.get("detector", "unet") == detector and (r.get("setting", "zero-shot") in SHARED + (setting,))


def markdown_table(rows: list[dict[str, Any]], test_selected: bool = False,
                   counts: dict[str, Any] | None = None) -> str:
    """Per category and (setting, detector): the overall table, then pixel AP (AUROC) per defect type.

    Percentages for the [0, 1] metrics; seconds = wall time per row; failed rows are
    listed with their error under the table they belong to.
    """
    summary = summarize(rows)
    mark = "*" if test_selected else ""
    lines = []
    if test_selected:
        lines.append("**TEST-SELECTED (legacy protocol: best epoch picked on the test set; optimistic). "
                     "Every method marked * is test-selected.**\n")
    for category in sorted({r.get("category", "") for r in rows}):
        head = f"### {category}"
        if counts and category in counts:
            c = counts[category]
            head += f" (test: {', '.join(f'{k} {v}' for k, v in c['test'].items())}; reserved {c['reserved']}; train/good {c['train_good']})"
        lines += [head, ""]
        for setting, detector in _views(rows, category):
            keys = sorted((k for k in summary if k[0] == category and k[2] == detector and k[1] in SHARED + (setting,)),
                          key=lambda k: (k[3] == "oracle", k[3]))
            bases = sorted({str((r.get("params") or {}).get("base_priors")) for r in rows if r.get("category", "") == category
                            and r.get("setting") == setting and (r.get("params") or {}).get("base_priors")})
            base = f" (base priors: {', '.join(bases)})" if bases else ""
            lines += [f"#### {setting}, {detector} detector", "", f"Setting: {SETTING_NOTE.get(setting, setting)}{base}; "
                      "baselines see no anomaly in either setting; the oracle trains on the reserved real third.", ""]
            names = [label for _, label in COLUMNS] + ["s/seed (synth + train + test)", "s total"]
            lines.append("| method | seeds | " + " | ".join(names) + " |")
            lines.append("|---|---|" + "---|" * len(names))
            for key in keys:
                stats = summary[key]
                seeds = max((s[2] for s in stats.values()), default=0)
                cells = [_cell(name, stats.get(name)) for name, _ in COLUMNS] + [_cell("seconds", stats.get("seconds"))]
                total = stats.get("seconds")
                cells.append(f"{total[0] * total[2]:.0f}" if total else "-")
                lines.append(f"| {key[3]}{mark} | {seeds} | " + " | ".join(cells) + " |")
            defects = sorted({n.split("/")[0] for k in keys for n in summary[k] if n.endswith("/pixel_ap")})
            if defects:
                lines += ["", "Pixel AP (pixel AUROC) per defect type, % (pixels of the type's test images + all good "
                          "test images; chance AP = defect pixel share):", "",
                          "| method | " + " | ".join(defects) + " |", "|---|" + "---|" * len(defects)]
                for key in keys:
                    cells = [f"{_cell('x/pixel_ap', summary[key].get(f'{d}/pixel_ap'))} "
                             f"({_cell('x/pixel_auroc', summary[key].get(f'{d}/pixel_auroc')).split(' ')[0]})"
                             for d in defects]
                    lines.append(f"| {key[3]}{mark} | " + " | ".join(cells) + " |")
            diverse = sorted({n.split("/")[0] for k in keys for n in summary[k] if n.endswith("/ic_lpips_effnet")})
            if diverse:
                lines += ["", "IC-LPIPS_effnet per defect type (diversity of the type's synthetic images, clustered "
                          "around its reserved real anomalies; higher = more diverse):", "",
                          "| method | " + " | ".join(diverse) + " |", "|---|" + "---|" * len(diverse)]
                for key in keys:
                    if any(f"{d}/ic_lpips_effnet" in summary[key] for d in diverse):
                        cells = [_cell("ic_lpips_effnet", summary[key].get(f"{d}/ic_lpips_effnet")) for d in diverse]
                        lines.append(f"| {key[3]}{mark} | " + " | ".join(cells) + " |")
            failed = [r for r in rows if r.get("error") and r.get("category", "") == category and _in_view(r, setting, detector)]
            if failed:
                lines += ["", "Failed rows (retried by the next run with the same --out):", ""]
                lines += [f"- {r['method']} seed {r['seed']}: {r['error']}" for r in failed]
            lines.append("")
    return "\n".join(lines)


def bar_chart(rows: list[dict[str, Any]], path: str | Path, metric: str = "pixel_ap", test_selected: bool = False) -> None:
    """Bars of ``metric`` (mean, with +- std whiskers) per method, grouped by category."""
    grouped = summarize(rows)
    several = len({(k[1], k[2]) for k in grouped if k[1] not in SHARED}) > 1 or len({k[2] for k in grouped}) > 1
    summary = {(k[0], f"{k[3]} ({k[1]}, {k[2]})" if several else k[3]): v for k, v in grouped.items()}
    categories = sorted({c for c, _ in summary})
    methods = sorted({m for _, m in summary}, key=lambda m: (m.startswith("oracle"), m))
    title = f"{metric} (mean ± std over seeds){' - TEST-SELECTED' if test_selected else ''}"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _bar_chart_cv2(summary, categories, methods, metric, title, Path(path))
        return
    fig, ax = plt.subplots(figsize=(2 + 1.5 * len(categories) * max(1, len(methods)) / 3, 4))
    width = 0.8 / max(1, len(methods))
    for j, method in enumerate(methods):
        stats = [summary.get((c, method), {}).get(metric, (np.nan, 0.0, 0)) for c in categories]
        ax.bar(np.arange(len(categories)) + j * width, [s[0] for s in stats], width, yerr=[s[1] for s in stats],
               label=method, capsize=3)
    ax.set_xticks(np.arange(len(categories)) + width * (len(methods) - 1) / 2, categories)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(str(path), dpi=100)
    plt.close(fig)


def _bar_chart_cv2(summary, categories, methods, metric: str, title: str, path: Path) -> None:
    colors = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
              (227, 119, 194), (127, 127, 127)]
    group_w, bar_w, plot_h, left, top = 40 + 36 * len(methods), 30, 300, 50, 40
    width = left + group_w * max(1, len(categories)) + 20
    height = top + plot_h + 60 + 18 * len(methods)
    img = np.full((height, width, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, title, (10, 22), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    for t in range(0, 11, 2):
        y = top + plot_h - int(plot_h * t / 10)
        cv2.line(img, (left - 4, y), (width - 10, y), (225, 225, 225), 1)
        cv2.putText(img, f"{t / 10:.1f}", (8, y + 4), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    for i, cat in enumerate(categories):
        x0 = left + i * group_w + 20
        for j, method in enumerate(methods):
            mean, std, _ = summary.get((cat, method), {}).get(metric, (np.nan, 0.0, 0))
            if np.isnan(mean):
                continue
            x = x0 + j * 36
            y = top + plot_h - int(plot_h * np.clip(mean, 0, 1))
            cv2.rectangle(img, (x, y), (x + bar_w, top + plot_h), colors[j % len(colors)], -1)
            y_lo = top + plot_h - int(plot_h * np.clip(mean - std, 0, 1))
            y_hi = top + plot_h - int(plot_h * np.clip(mean + std, 0, 1))
            cv2.line(img, (x + bar_w // 2, y_lo), (x + bar_w // 2, y_hi), (0, 0, 0), 1)
        cv2.putText(img, cat, (x0, top + plot_h + 18), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for j, method in enumerate(methods):
        y = top + plot_h + 40 + 18 * j
        cv2.rectangle(img, (left, y - 10), (left + 12, y + 2), colors[j % len(colors)], -1)
        cv2.putText(img, method, (left + 18, y), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    write_png(path, img)
