"""Contact sheet of every renderer family -> docs/img/renderers.jpg.

Why: numbers do not tell whether a defect looks fake; a person has to look. Each row is
one family; each pair of columns is one base image, full with the mask outline (alpha >
0.5, red) and a zoom on the defect without the outline. Bases (nothing from a dataset,
so the sheet may live in the repository): scikit-image's bundled photos ``coffee`` (a
cup and spoon on a saucer), ``coins`` (a coin is "the part": coins found by Otsu's
threshold) and ``brick`` (a texture), and our synthetic component scene (a case with
three leads on a perforated board, with its part masks). Structural families act on a
part: the spoon, a coin, a lead or the case. Specs and seeds are fixed per family, so
the sheet is reproducible.

Usage::

    python benchmarks/contact_sheet.py [--out docs/img/renderers.jpg] [--cell 112]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from anomalyagent.images import atomic_write_bytes, to_rgb, write_png
from anomalyagent.records import DefectSpec
from anomalyagent.render import RENDERERS, render
from anomalyagent.render.scene import Scene
from anomalyagent.synthetic import component_scene

# family -> (size, aspect, angle, intensity, colour on RGB, colour on grey, params)
SPECS = {
    "scratch": (0.35, 40.0, 30.0, 0.6, "lighter", "lighter", {"width": 0.008}),
    "crack": (0.4, 15.0, 70.0, 0.7, "darker", "darker", {"width": 0.008, "branches": 2}),
    "hole": (0.1, 1.2, 0.0, 0.8, "mixed", "darker", {"rim": 0.3}),
    "dent": (0.22, 1.4, 20.0, 0.6, "darker", "darker", {"relief": -0.8, "sharpness": 0.15}),
    "stain": (0.25, 1.5, 40.0, 0.5, "darker", "darker", {"ring": 0.5, "gloss": 0.3}),
    "particle": (0.06, 1.6, 10.0, 0.8, "darker", "lighter", {}),
    "discoloration": (0.28, 1.3, 0.0, 0.6, "brownish", "lighter", {"falloff": 0.5}),
    "missing": (0.3, 1.3, 0.0, 0.7, "lighter", "darker", {}),
    "cut": (0.3, 7.0, 120.0, 0.7, "lighter", "darker", {"gape": 0.2}),
    "print": (0.3, 2.5, 15.0, 0.9, "lighter", "darker", {"mode": "extra"}),
    "fray": (0.25, 2.5, 90.0, 0.7, "lighter", "lighter", {"threads": 12}),
    "rust": (0.25, 1.3, 0.0, 0.7, "reddish", "darker", {"pitting": 0.5}),
    "fold": (0.4, 6.0, 60.0, 0.6, "darker", "darker", {"sharpness": 0.6}),
    "deform": (0.3, 1.3, 0.0, 0.8, "darker", "darker", {"mode": "bulge"}),
    "warp": (0.35, 1.0, 0.0, 0.8, "darker", "darker", {"bend": 30.0}),
    "displace": (0.3, 1.0, 20.0, 0.6, "darker", "darker", {"mode": "rotate", "rotation": 35.0}),
    "transplant": (0.2, 1.4, 30.0, 0.6, "darker", "darker", {}),
    "split": (0.5, 1.0, 70.0, 0.7, "darker", "darker", {}),
}


def coins_scene(image: np.ndarray) -> Scene:
    """Coins are the parts: Otsu's threshold of a white top-hat (the uneven lighting
    removed), opened, holes filled."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (51, 51))
    tophat = cv2.morphologyEx(cv2.GaussianBlur(image, (5, 5), 0), cv2.MORPH_TOPHAT, k)
    _, fg = cv2.threshold(tophat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    flood = fg.copy()
    cv2.floodFill(flood, np.zeros((fg.shape[0] + 2, fg.shape[1] + 2), np.uint8), (0, 0), 255)
    mask = (fg | cv2.bitwise_not(flood)) > 0
    return Scene(foreground=mask, parts={"coin": mask})


def bases(size: int = 256) -> list[tuple[str, np.ndarray, Scene | None, dict]]:
    """(name, image, scene, {family or "*": (centre, extra params)}) per base image."""
    from skimage import data

    coffee = cv2.resize(data.coffee(), (size, size), interpolation=cv2.INTER_AREA)
    coins = cv2.resize(data.coins(), (size, size), interpolation=cv2.INTER_AREA)
    brick = cv2.resize(data.brick(), (size, size), interpolation=cv2.INTER_AREA)
    board, masks = component_scene(size, 0)
    board_scene = Scene(foreground=masks["object"], parts={"lead": masks["lead"], "case": masks["case"]})
    return [
        ("coffee (skimage)", coffee, None, {
            "*": ((0.28, 0.78), {}), "warp": ((0.6, 0.68), {}), "displace": ((0.6, 0.68), {}),
            "missing": ((0.12, 0.62), {"fill": "background"}), "transplant": ((0.3, 0.8), {}),
            "split": ((0.5, 0.5), {})}),
        ("coins (skimage)", coins, coins_scene(coins), {
            "*": ((0.37, 0.41), {}), "warp": ((0.5, 0.62), {"part": "coin", "pivot": 0.5}),
            "displace": ((0.5, 0.62), {"part": "coin", "mode": "shift", "shift": 0.06}),
            "missing": ((0.5, 0.62), {"part": "coin", "extent": "part"}), "split": ((0.5, 0.62), {"part": "coin"})}),
        ("brick (skimage)", brick, None, {"*": ((0.5, 0.5), {})}),
        ("component (synthetic)", board, board_scene, {
            "*": ((0.5, 0.3), {}), "warp": ((0.62, 0.75), {"part": "lead"}),
            "displace": ((0.5, 0.3), {"part": "case"}), "missing": ((0.62, 0.75), {"part": "lead", "extent": "tip"}),
            "transplant": ((0.5, 0.3), {}), "split": ((0.5, 0.3), {"part": "case"})}),
    ]


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
    cv2.putText(out, text, (4, height // 2 + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (20, 20, 20), 1, cv2.LINE_AA)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/img/renderers.jpg", help=".jpg (quality 88, default: a tenth of the "
                        "PNG's size for a sheet of photos) or .png")
    parser.add_argument("--cell", type=int, default=112)
    args = parser.parse_args()
    base_list = bases()
    header = [label("family", 22, 90)]
    for name, *_ in base_list:
        header += [label(name, 22, args.cell), label("zoom", 22, args.cell)]
    rows = [np.hstack(header)]
    for family in RENDERERS.names():
        size, aspect, angle, intensity, c_rgb, c_gray, params = SPECS[family]
        tiles = [label(family, args.cell, 90)]
        for k, (_, image, scene, where) in enumerate(base_list):
            center, extra = where.get(family, where["*"])
            spec = DefectSpec(family=family, defect_type=family, center=center, size=size, aspect=aspect, angle=angle,
                              intensity=intensity, color=c_rgb if image.ndim == 3 else c_gray,
                              params={**params, **extra})
            edited, alpha = render(image, spec, np.random.default_rng(4 + k), scene)
            tiles.append(cell(outline(edited, alpha > 0.5), args.cell))
            tiles.append(cell(zoom(edited, center, max(0.25, 1.3 * size)), args.cell))
        rows.append(np.hstack(tiles))
    sheet = np.vstack(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    if Path(args.out).suffix.lower() in (".jpg", ".jpeg"):
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
        if not ok:
            raise RuntimeError(f"{args.out}: JPEG encoding failed")
        atomic_write_bytes(args.out, encoded.tobytes())
    else:
        write_png(args.out, sheet)
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]}, {Path(args.out).stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
