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


def summarize(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, tuple[float, float, int]]]:
    """(category, method) -> metric -> (mean, std over seeds, number of seeds); NaNs skipped."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r.get("category", ""), r["method"]), []).append(r)
    out: dict[tuple[str, str], dict[str, tuple[float, float, int]]] = {}
    for key, group in groups.items():
        stats = {}
        for name in [c for c, _ in COLUMNS] + ["seconds", "synth_seconds", "train_seconds"]:
            values = np.array([float(r[name]) for r in group if r.get(name) is not None], np.float64)
            values = values[~np.isnan(values)]
            if len(values):
                stats[name] = (float(values.mean()), float(values.std(ddof=0)), len(values))
        out[key] = stats
    return out


def _cell(name: str, stat: tuple[float, float, int] | None) -> str:
    if stat is None:
        return "-"
    mean, std, _ = stat
    if name in PERCENT:
        return f"{100 * mean:.1f} ± {100 * std:.1f}"
    if name in ("seconds", "synth_seconds", "train_seconds"):
        return f"{mean:.0f} ± {std:.0f}"
    return f"{mean:.3f} ± {std:.3f}"


def markdown_table(rows: list[dict[str, Any]], test_selected: bool = False,
                   counts: dict[str, Any] | None = None) -> str:
    """One table per category; percentages for the [0, 1] metrics; seconds = wall time per row."""
    summary = summarize(rows)
    mark = "*" if test_selected else ""
    lines = []
    if test_selected:
        lines.append("**TEST-SELECTED (legacy protocol: best epoch picked on the test set; optimistic). "
                     "Every method marked * is test-selected.**\n")
    for category in sorted({c for c, _ in summary}):
        head = f"### {category}"
        if counts and category in counts:
            c = counts[category]
            head += f" (test: {', '.join(f'{k} {v}' for k, v in c['test'].items())}; reserved {c['reserved']}; train/good {c['train_good']})"
        lines += [head, ""]
        names = [label for _, label in COLUMNS] + ["s/seed (synth + train + test)", "s total"]
        lines.append("| method | seeds | " + " | ".join(names) + " |")
        lines.append("|---|---|" + "---|" * len(names))
        for (cat, method), stats in sorted(summary.items(), key=lambda kv: (kv[0][0], kv[0][1] == "oracle", kv[0][1])):
            if cat != category:
                continue
            seeds = max((s[2] for s in stats.values()), default=0)
            cells = [_cell(name, stats.get(name)) for name, _ in COLUMNS] + [_cell("seconds", stats.get("seconds"))]
            total = stats.get("seconds")
            cells.append(f"{total[0] * total[2]:.0f}" if total else "-")
            lines.append(f"| {method}{mark} | {seeds} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def bar_chart(rows: list[dict[str, Any]], path: str | Path, metric: str = "pixel_ap", test_selected: bool = False) -> None:
    """Bars of ``metric`` (mean, with +- std whiskers) per method, grouped by category."""
    summary = summarize(rows)
    categories = sorted({c for c, _ in summary})
    methods = sorted({m for _, m in summary}, key=lambda m: (m == "oracle", m))
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
