"""Summaries of a synthesis run: numbers for ``inspect`` and a self-contained HTML report.

The report embeds thumbnails as base64 PNG (no external files): normal image, result,
mask overlay, and each turn's tool call, score and review.
"""
from __future__ import annotations

import base64
import html
import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .images import atomic_write_bytes, encode_png, read_image, read_mask, to_rgb
from .records import Sample

REPORT = "report.html"


def summarize(samples: list[Sample]) -> dict[str, Any]:
    """Counts, pass rate, scores, turns and timing of a run (pure)."""
    if not samples:
        return {"samples": 0}
    seconds = [s.seconds for s in samples]
    ious = [s.mg_iou for s in samples if s.mg_iou is not None]
    per = Counter(f"{s.category}/{s.defect_type}" for s in samples)
    return {
        "samples": len(samples),
        "per_defect": dict(sorted(per.items())),
        "methods": dict(Counter(s.method for s in samples)),
        "pass_rate": sum(s.passed for s in samples) / len(samples),
        "mean_score": statistics.fmean(s.score for s in samples),
        "mean_turns": statistics.fmean(s.turns for s in samples),
        "turns": dict(sorted(Counter(s.turns for s in samples).items())),
        "mean_attempts": statistics.fmean(s.attempts for s in samples),
        "median_seconds": statistics.median(seconds),
        "total_seconds": sum(seconds),
        "empty_masks": sum(s.mask_fraction == 0 for s in samples),
        "median_mask_fraction": statistics.median(s.mask_fraction for s in samples),
        "median_mg_iou": statistics.median(ious) if ious else None,
        "min_on_object": min(on) if (on := [s.on_object for s in samples if s.on_object is not None]) else None,
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value)


def _thumb(image: np.ndarray, size: int = 192) -> str:
    h, w = image.shape[:2]
    scale = size / max(h, w)
    small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return "data:image/png;base64," + base64.b64encode(encode_png(small)).decode()


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RGB image with the mask tinted red and outlined."""
    rgb = to_rgb(image).copy()
    red = np.array([255, 40, 40], np.float32)
    rgb[mask] = (0.55 * rgb[mask] + 0.45 * red).astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(rgb, contours, -1, (255, 0, 0), 1)
    return rgb


def _turns_table(trajectory: dict[str, Any]) -> str:
    rows = []
    for step in trajectory.get("steps", []):
        call, obs = step.get("call"), step.get("observation")
        if call is None:
            rows.append(f"<tr><td>answer</td><td colspan=2>{html.escape(step.get('answer') or '')}</td></tr>")
            continue
        payload = (obs or {}).get("payload", {})
        score = f"{payload['score']:.1f}" if "score" in payload else ""
        raw = (obs or {}).get("text", "")
        text = html.escape(raw if len(raw) <= 400 else raw[:400] + "...")
        rows.append(f"<tr><td>{html.escape(call['name'])}</td><td>{score}</td><td>{text}</td></tr>")
    return "<table class=turns><tr><th>tool</th><th>score</th><th>observation</th></tr>" + "".join(rows) + "</table>"


def write_report(root: Path, samples: list[Sample], max_items: int = 48) -> Path:
    """Write ``root/report.html`` for ``samples`` (the first ``max_items`` get pictures)."""
    stats = summarize(samples)
    cards = []
    for s in samples[:max_items]:
        try:
            result = read_image(root / s.image)
            mask = read_mask(root / s.mask, result.shape[:2])
            normal_src = _thumb(read_image(s.source)) if Path(s.source).is_file() else ""
        except (ValueError, OSError):
            continue
        traj_path = root / s.trajectory
        trajectory = json.loads(traj_path.read_text()) if traj_path.is_file() else {}
        verdict = "passed" if s.passed else "not passed"
        cards.append(
            f"<div class=card><h3>{html.escape(s.task_id)} <small>({s.method}, score {s.score:.1f}, {verdict}, "
            f"{s.turns} turns, {s.seconds * 1000:.0f} ms)</small></h3>"
            f"<div class=row><figure><img src='{normal_src}'><figcaption>normal</figcaption></figure>"
            f"<figure><img src='{_thumb(result)}'><figcaption>result</figcaption></figure>"
            f"<figure><img src='{_thumb(overlay(result, mask))}'><figcaption>mask overlay</figcaption></figure></div>"
            f"{_turns_table(trajectory)}</div>"
        )
    summary_rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>" for k, v in stats.items())
    page = f"""<!doctype html><html><head><meta charset=utf-8><title>anomalyagent report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} .card{{border:1px solid #ccc;padding:.5em 1em;margin:1em 0}}
.row{{display:flex;gap:1em}} figure{{margin:0}} img{{width:192px;image-rendering:pixelated}} table{{border-collapse:collapse;font-size:90%}}
td,th{{border:1px solid #ddd;padding:2px 6px;vertical-align:top;text-align:left}} small{{color:#555;font-weight:normal}}</style></head>
<body><h1>anomalyagent synthesis report</h1><table>{summary_rows}</table>
<p>Showing {len(cards)} of {len(samples)} samples.</p>{''.join(cards)}</body></html>"""
    path = root / REPORT
    atomic_write_bytes(path, page.encode())
    return path
