"""Contact sheet of every renderer family on real normal images -> docs/img/renderers.png.

Why: numbers do not tell whether a defect looks fake; a person has to look. Each row is
one family; columns: on a hazelnut (MVTec AD) the full image with the mask outline
(alpha > 0.5, red) and a zoom on the defect without the outline; the same on a
magnetic tile (grayscale). Specs are fixed per family (below) and placed on the
object; seeds are fixed, so the sheet is reproducible. The sheet is a rendering of ours;
the real images it starts from are read from the data folder, never copied.

Usage::

    python benchmarks/contact_sheet.py [--data /work/shared/data] [--out docs/img/renderers.png] [--cell 160]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from anomalyagent.images import read_image, to_rgb, write_png
from anomalyagent.records import DefectSpec
from anomalyagent.render import RENDERERS, render

# family -> (size, aspect, angle, intensity, colour on hazelnut, colour on tile, params)
SPECS = {
    "scratch": (0.35, 40.0, 30.0, 0.6, "lighter", "lighter", {"width": 0.008}),
    "crack": (0.4, 15.0, 70.0, 0.7, "darker", "darker", {"width": 0.008, "branches": 2}),
    "hole": (0.1, 1.2, 0.0, 0.8, "mixed", "darker", {"rim": 0.3}),
    "dent": (0.22, 1.4, 20.0, 0.6, "darker", "darker", {"relief": -0.8, "sharpness": 0.15}),
    "stain": (0.25, 1.5, 40.0, 0.5, "darker", "darker", {"ring": 0.5, "gloss": 0.3}),
    "particle": (0.06, 1.6, 10.0, 0.8, "darker", "lighter", {}),
    "discoloration": (0.28, 1.3, 0.0, 0.6, "brownish", "lighter", {"falloff": 0.5}),
    "missing": (0.3, 1.3, 0.0, 0.7, "lighter", "darker", {"fill": "interior"}),
    "cut": (0.3, 7.0, 120.0, 0.7, "lighter", "darker", {"gape": 0.2}),
    "print": (0.3, 2.5, 15.0, 0.9, "lighter", "darker", {"mode": "extra"}),
    "fray": (0.25, 2.5, 90.0, 0.7, "lighter", "lighter", {"threads": 12}),
    "rust": (0.25, 1.3, 0.0, 0.7, "reddish", "darker", {"pitting": 0.5}),
    "fold": (0.4, 6.0, 60.0, 0.6, "darker", "darker", {"sharpness": 0.6}),
    "deform": (0.3, 1.3, 0.0, 0.8, "darker", "darker", {"mode": "bulge"}),
}


def outline(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = to_rgb(image).copy()
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (255, 32, 32), 1)
    return out


def zoom(image: np.ndarray, center: tuple[float, float], span: float) -> np.ndarray:
    """Square crop of ``span`` x min(H, W) around ``center`` (fractions)."""
    h, w = image.shape[:2]
    side = max(8, int(span * min(h, w)))
    cx, cy = int(center[0] * (w - 1)), int(center[1] * (h - 1))
    x0 = int(np.clip(cx - side // 2, 0, w - side))
    y0 = int(np.clip(cy - side // 2, 0, h - side))
    return to_rgb(image[y0:y0 + side, x0:x0 + side])


def cell(image: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_CUBIC)


def label(text: str, height: int, width: int) -> np.ndarray:
    out = np.full((height, width, 3), 250, np.uint8)
    cv2.putText(out, text, (6, height // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/work/shared/data")
    parser.add_argument("--out", default="docs/img/renderers.png")
    parser.add_argument("--cell", type=int, default=160)
    args = parser.parse_args()
    root = Path(args.data)
    hazelnut = read_image(sorted((root / "hazelnut/train/good").iterdir())[3])
    tile = read_image(sorted((root / "magnetic_tile/train/good").iterdir())[5])
    bases = ((hazelnut, (0.44, 0.56), 4), (tile, (0.5, 0.5), 5))
    rows = []
    header = [label("family", 24, 110)] + [label(t, 24, args.cell) for t in
                                            ("hazelnut + mask", "zoom", "magnetic tile + mask", "zoom")]
    rows.append(np.hstack(header))
    for family in RENDERERS.names():
        size, aspect, angle, intensity, c_rgb, c_gray, params = SPECS[family]
        tiles = [label(family, args.cell, 110)]
        for image, center, seed in bases:
            spec = DefectSpec(family=family, defect_type=family, center=center, size=size, aspect=aspect, angle=angle,
                              intensity=intensity, color=c_rgb if image.ndim == 3 else c_gray, params=dict(params))
            edited, alpha = render(image, spec, np.random.default_rng(seed))
            tiles.append(cell(outline(edited, alpha > 0.5), args.cell))
            tiles.append(cell(zoom(edited, center, max(0.2, 1.3 * size)), args.cell))
        rows.append(np.hstack(tiles))
    sheet = np.vstack(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_png(args.out, sheet)
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]}, {Path(args.out).stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
