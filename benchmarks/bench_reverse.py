"""Reverse synthesis on real data: trajectory counts, reconstruction flag rate, spec fit.

    python benchmarks/bench_reverse.py [--data /work/shared/data] [--all] [--seed 0]
    python benchmarks/bench_reverse.py --data /tmp/synth/hazelnut --all --picture docs/img/reverse_example.png --id hazelnut/crack/001/n3
    (/tmp/synth from benchmarks/synthetic_tree.py: the committed picture uses no dataset pixels)

Runs ``anomalyagent reverse`` (the reserved first third by default, ``--all`` for every
anomaly) into a temporary folder and prints the numbers of docs/benchmarks.md: the
count of trajectories by N and with/without KR; how often the QE critic flags the
chosen reconstruction (and each method's own rate); the spec fit (mask IoU, colour
error in delta-E) as median and quartiles; wall time. ``--out DIR`` keeps the files.

``--picture PATH`` draws one exported trajectory (``--id``, default: the first with
N = 3) as a strip: normal (reconstruction), each attempt with its QE verdict, the real
anomaly with its mask outline; downscaled to ``--cell`` px per image. The picture is a
derivative of one real dataset image and must carry its attribution (docs/reverse.md).
"""
from __future__ import annotations

import argparse
import json
import logging
import tempfile
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np

from anomalyagent.images import read_image, read_mask, to_rgb, write_png
from anomalyagent.reverse.batch import ReverseConfig, run_reverse
from anomalyagent.reverse.export import Exporter
from anomalyagent.reverse.summary import format_summary

CAPTION_LINES = 10  # text lines under each picture cell


def run(data: str, out: Path, reserved_only: bool, seed: int) -> tuple[dict, float]:
    start = time.perf_counter()
    exporter = Exporter(out)
    for result in run_reverse(data, ReverseConfig(reserved_only=reserved_only, seed=seed)):
        exporter.add(result)
    summary = exporter.close()
    return summary, time.perf_counter() - start


def _cell(image: np.ndarray, side: int, caption: list[str], outline: np.ndarray | None = None) -> np.ndarray:
    """One picture cell: the image fitted into side x side, a caption of a few lines under it."""
    rgb = to_rgb(image).copy()
    if outline is not None:
        contours, _ = cv2.findContours(outline.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(rgb, contours, -1, (255, 40, 40), max(1, round(max(rgb.shape[:2]) / side)))
    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    cell = np.full((side + 14 * CAPTION_LINES, side, 3), 255, np.uint8)
    y0, x0 = (side - small.shape[0]) // 2, (side - small.shape[1]) // 2
    cell[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    for i, line in enumerate(caption[:CAPTION_LINES]):
        cv2.putText(cell, line, (3, side + 11 + 14 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (0, 0, 0), 1, cv2.LINE_AA)
    return cell


def picture(out: Path, ident: str | None, path: Path, side: int, credit: str = "") -> str:
    """Draw one exported trajectory (see the module docstring); returns its id."""
    records = [json.loads(line) for line in (out / "trajectories.jsonl").read_text().splitlines()]
    chosen = next((r for r in records if r["id"] == ident), None) if ident else \
        next((r for r in records if r["n"] == 3), records[0] if records else None)
    if chosen is None:
        raise SystemExit(f"no trajectory {ident or '(any)'} in {out}/trajectories.jsonl")
    steps = chosen["trajectory"]["steps"]
    cells = [_cell(read_image(out / chosen["trajectory"]["task"]["image_path"]), side,
                   ["normal (reconstruction)", f"method: {chosen['reconstruction']}"])]
    wrap = side // 6
    for i, step in enumerate(steps):
        call = step.get("call") or {}
        if call.get("name") != "IG":
            continue
        qe = next((s for s in steps[i + 1:] if (s.get("call") or {}).get("name") == "QE"), None)
        obs = qe["observation"] if qe else {"text": "", "payload": {}}
        verdict = f"QE {'PASS' if obs['payload'].get('passed') else 'FAIL'} {obs['payload'].get('score', 0):.1f}/10"
        advice = " ".join(a["text"] for a in obs["payload"].get("advice", [])) or "no advice"
        real = i == chosen["revealed_step"]
        k = sum(1 for s in steps[:i + 1] if (s.get("call") or {}).get("name") == "IG")
        title = "real anomaly (last IG)" if real else f"attempt {k}: " + ", ".join(chosen["flaws"][k - 1])
        mask = read_mask(out / steps[-2]["observation"]["image_ref"]) if real else None
        lines = [title, verdict] + textwrap.wrap(advice if not real else "mask from MG (the real mask)", wrap)
        cells.append(_cell(read_image(out / step["observation"]["image_ref"]), side, lines, mask))
    strip = np.concatenate(cells, axis=1)
    if credit:  # the attribution travels with the picture
        band = np.full((18, strip.shape[1], 3), 255, np.uint8)
        cv2.putText(band, credit, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (60, 60, 60), 1, cv2.LINE_AA)
        strip = np.concatenate([strip, band], axis=0)
    write_png(path, strip)
    return chosen["id"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="/work/shared/data")
    p.add_argument("--all", action="store_true", help="every anomaly instead of the reserved third")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="keep the exported files here (default: a temporary folder)")
    p.add_argument("--picture", default=None, help="also draw one trajectory to this PNG")
    p.add_argument("--id", default=None, help="trajectory id for --picture, e.g. hazelnut/crack/000/n3")
    p.add_argument("--cell", type=int, default=200, help="picture cell side in px (default 200)")
    p.add_argument("--credit", default="", help="attribution line drawn under the picture")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        summary, wall = run(args.data, out, not args.all, args.seed)
        print(f"data: {args.data}, {'all anomalies' if args.all else 'reserved first third'}, seed {args.seed}, "
              f"wall {wall:.1f} s ({wall / max(summary['anomalies'], 1):.2f} s per anomaly)")
        print(format_summary(summary))
        if args.picture:
            print(f"picture of {picture(out, args.id, Path(args.picture), args.cell, args.credit)} -> {args.picture}")
        print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
