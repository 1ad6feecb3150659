"""Summaries of a synthesis run: numbers for ``inspect`` and a self-contained HTML report.

The report embeds thumbnails as base64 PNG (no external files): normal image, result,
mask overlay, a zoom on the defect, and each turn's tool call, score and review.

What it shows, and why: a few samples of EVERY (category, defect) pair (the first N of a
sorted manifest would all be one defect type), then the samples that never passed QE
in their own section (hiding them makes a run look better than it is). A defect of a
few pixels vanishes when a 1024 px image becomes a 192 px thumbnail, so the outline is
drawn after downscaling (always at least one thumbnail pixel wide) and a zoom crop
around the mask shows the defect at full detail.
"""
from __future__ import annotations

import base64
import html
import json
from array import array
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np

from .images import atomic_write_bytes, encode_png, read_image, read_mask, to_rgb
from .records import Sample

REPORT = "report.html"


class RunStats:
    """Accumulates a run's summary one sample at a time (a few floats per sample kept).

    Why not a list of Samples: a run of millions of samples would hold every record in
    memory; medians need only the numbers (float32 arrays, 12 bytes per sample).
    """

    def __init__(self) -> None:
        self.n = 0
        self.per, self.methods, self.kept, self.turns = Counter(), Counter(), Counter(), Counter()
        self.passed = self.empty = 0
        self.score = self.turn_sum = self.attempts = self.total_seconds = 0.0
        self.seconds, self.fraction, self.ious = array("f"), array("f"), array("f")
        self.min_on_object: float | None = None

    def add(self, s: Sample) -> None:
        self.n += 1
        self.per[f"{s.category}/{s.defect_type}"] += 1
        self.methods[s.method] += 1
        self.kept[s.kept] += 1
        self.turns[s.turns] += 1
        self.passed += bool(s.passed)
        self.empty += s.mask_fraction == 0
        self.score += s.score
        self.turn_sum += s.turns
        self.attempts += s.attempts
        self.total_seconds += s.seconds
        self.seconds.append(s.seconds)
        self.fraction.append(s.mask_fraction)
        if s.mg_iou is not None:
            self.ious.append(s.mg_iou)
        if s.on_object is not None:
            self.min_on_object = s.on_object if self.min_on_object is None else min(self.min_on_object, s.on_object)

    def result(self) -> dict[str, Any]:
        if not self.n:
            return {"samples": 0}

        def median(values: array) -> float:
            return round(float(np.median(np.frombuffer(values, np.float32))), 6)

        return {
            "samples": self.n,
            "per_defect": dict(sorted(self.per.items())),
            "methods": dict(self.methods),
            "kept": dict(sorted(self.kept.items())),
            "pass_rate": self.passed / self.n,
            "mean_score": self.score / self.n,
            "mean_turns": self.turn_sum / self.n,
            "turns": dict(sorted(self.turns.items())),
            "mean_attempts": self.attempts / self.n,
            "median_seconds": median(self.seconds),
            "total_seconds": self.total_seconds,
            "empty_masks": self.empty,
            "median_mask_fraction": median(self.fraction),
            "median_mg_iou": median(self.ious) if len(self.ious) else None,
            "min_on_object": self.min_on_object,
        }


def summarize(samples: Iterable[Sample]) -> dict[str, Any]:
    """Counts, pass rate, scores, turns and timing of a run (pure; one pass over ``samples``)."""
    stats = RunStats()
    for s in samples:
        stats.add(s)
    return stats.result()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value)


THUMB = 192  # px, the longer side of a thumbnail
PER_TYPE = 3  # samples shown per (category, defect) and outcome
MAX_CARDS = 240  # cards in one report, whatever the number of types


def _data_url(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(encode_png(image)).decode()


def _small(image: np.ndarray, size: int = THUMB) -> np.ndarray:
    h, w = image.shape[:2]
    scale = size / max(h, w)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interp)


def _thumb(image: np.ndarray, size: int = THUMB) -> str:
    return _data_url(_small(image, size))


def overlay(image: np.ndarray, mask: np.ndarray, size: int | None = None) -> np.ndarray:
    """RGB image with the mask tinted red and outlined, optionally downscaled to ``size``.

    The outline is drawn after downscaling, from the mask's own downscaled version (any
    covered pixel counts), so even a defect of one source pixel stays visible.
    """
    if size is not None:
        image = _small(image, size)
        small = cv2.resize(mask.astype(np.float32), (image.shape[1], image.shape[0]), interpolation=cv2.INTER_AREA)
        mask = small > 0
    rgb = to_rgb(image).copy()
    red = np.array([255, 40, 40], np.float32)
    rgb[mask] = (0.55 * rgb[mask] + 0.45 * red).astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(rgb, contours, -1, (255, 0, 0), 1)
    return rgb


def zoom(image: np.ndarray, mask: np.ndarray, size: int = THUMB, margin: float = 1.0) -> np.ndarray | None:
    """A square crop around the mask (its extent plus ``margin`` times it on each side, at
    least 32 px), outlined and scaled to ``size``; None for an empty mask."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    h, w = mask.shape
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    half = max(16, (1 + 2 * margin) * max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) / 2)
    y0, y1 = int(max(0, cy - half)), int(min(h, cy + half + 1))
    x0, x1 = int(max(0, cx - half)), int(min(w, cx + half + 1))
    return overlay(image[y0:y1, x0:x1], mask[y0:y1, x0:x1], size)


def pick(samples: Iterable[Sample], per_type: int = PER_TYPE, limit: int = MAX_CARDS) -> tuple[list[Sample], list[Sample]]:
    """(passed, not passed) samples to show: up to ``per_type`` of each (category, defect).

    One pass, keeping at most ``per_type`` per type; then round-robin over types, so with
    ``limit`` cards every type gets its first sample before any type gets its second.
    """
    groups: tuple[dict[str, list[Sample]], dict[str, list[Sample]]] = ({}, {})
    for s in samples:
        group = groups[0 if s.passed else 1].setdefault(f"{s.category}/{s.defect_type}", [])
        if len(group) < per_type:
            group.append(s)
    out = []
    for by_type in groups:
        chosen = []
        for rank in range(per_type):
            for key in sorted(by_type):
                if rank < len(by_type[key]) and len(chosen) < limit:
                    chosen.append(by_type[key][rank])
        out.append(sorted(chosen, key=lambda s: s.task_id))
    return out[0], out[1]


def _turns_table(trajectory: dict[str, Any]) -> str:
    rows = []
    for step in trajectory.get("steps", []):
        call, obs = step.get("call"), step.get("observation")
        if call is None:
            rows.append(f"<tr><td>answer</td><td colspan=2>{html.escape(step.get('answer') or '')}</td></tr>")
            continue
        payload = (obs or {}).get("payload", {})
        value = payload.get("score") if isinstance(payload, dict) else None
        score = f"{value:.1f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
        raw = str((obs or {}).get("text", ""))
        text = html.escape(raw if len(raw) <= 400 else raw[:400] + "...")
        rows.append(f"<tr><td>{html.escape(str(call.get('name', '')))}</td><td>{score}</td><td>{text}</td></tr>")
    return "<table class=turns><tr><th>tool</th><th>score</th><th>observation</th></tr>" + "".join(rows) + "</table>"


def _card(root: Path, s: Sample) -> str:
    trajectory: dict[str, Any] = {}
    traj_path = root / s.trajectory
    try:
        if s.trajectory and traj_path.is_file():
            trajectory = json.loads(traj_path.read_text())
    except (ValueError, OSError):
        trajectory = {}
    figures = []
    try:
        if Path(s.source).is_file():
            figures.append((_thumb(read_image(s.source)), "normal"))
        if s.image:
            result = read_image(root / s.image)
            mask = read_mask(root / s.mask, result.shape[:2])
            figures += [(_thumb(result), "result"), (_data_url(overlay(result, mask, THUMB)), "mask overlay")]
            close = zoom(result, mask)
            figures.append((_data_url(close), "zoom on the defect") if close is not None else ("", "empty mask"))
    except (ValueError, OSError):
        figures.append(("", "files missing"))
    if not s.image:
        figures.append(("", "image dropped (never passed QE; --keep-failed keeps it)"))
    verdict = "passed" if s.passed else f"not passed ({s.kept})"
    row = "".join(f"<figure>{f'<img src={src!r}>' if src else '<div class=empty></div>'}<figcaption>{html.escape(cap)}</figcaption></figure>"
                  for src, cap in figures)
    return (f"<div class=card><h3>{html.escape(s.task_id)} <small>({html.escape(s.method)}, score {s.score:.1f}, {verdict}, "
            f"{s.turns} turns, {s.seconds * 1000:.0f} ms)</small></h3><div class=row>{row}</div>{_turns_table(trajectory)}</div>")


def write_report(root: Path, samples: Iterable[Sample], per_type: int = PER_TYPE, limit: int = MAX_CARDS) -> Path:
    """Write ``root/report.html``: summary, per-type counts, samples of every type, failures.

    One pass over ``samples`` (it may be a generator over a huge manifest).
    """
    acc = RunStats()
    counts: dict[str, list[int]] = {}

    def feed() -> Iterable[Sample]:
        for s in samples:
            acc.add(s)
            counts.setdefault(f"{s.category}/{s.defect_type}", [0, 0])[0 if s.passed else 1] += 1
            yield s

    shown, failed = pick(feed(), per_type, limit)
    stats = acc.result()
    type_rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v[0]}</td><td>{v[1]}</td></tr>" for k, v in sorted(counts.items()))
    summary_rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>" for k, v in stats.items())
    passed_cards = "".join(_card(root, s) for s in shown)
    failed_cards = "".join(_card(root, s) for s in failed)
    n_failed = stats.get("samples", 0) - acc.passed
    page = f"""<!doctype html><html><head><meta charset=utf-8><title>anomalyagent report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} .card{{border:1px solid #ccc;padding:.5em 1em;margin:1em 0}}
.row{{display:flex;gap:1em;flex-wrap:wrap}} figure{{margin:0}} img{{width:{THUMB}px;image-rendering:pixelated}}
.empty{{width:{THUMB}px;height:{THUMB // 2}px;background:#eee}} table{{border-collapse:collapse;font-size:90%}}
td,th{{border:1px solid #ddd;padding:2px 6px;vertical-align:top;text-align:left}} small{{color:#555;font-weight:normal}}</style></head>
<body><h1>anomalyagent synthesis report</h1><table>{summary_rows}</table>
<h2>Per defect type</h2><table><tr><th>type</th><th>passed</th><th>not passed</th></tr>{type_rows}</table>
<h2>Samples</h2><p>Showing {len(shown)} of {acc.passed} passed samples: up to {per_type} of every defect type.</p>
{passed_cards}
<h2 id=failures>Not passed</h2><p>{n_failed} sample(s) never passed QE; they are not in test/ (see the manifest's
<code>kept</code>). Showing {len(failed)}.</p>{failed_cards}</body></html>"""
    path = root / REPORT
    atomic_write_bytes(path, page.encode())
    return path
