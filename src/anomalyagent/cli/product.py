"""``anomalyagent product DATA --out DIR``: build (or load) each category's product model and
write its object and part masks as pictures, plus a JSON summary (parts, descriptors, build time)."""
from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path

import numpy as np

from ..data import DataError, index_normals
from ..images import ImageError, read_image, to_rgb, write_png
from ..product import ProductError, ProductModel

log = logging.getLogger(__name__)

# part -> overlay colour (RGB) of the parts picture
COLORS = {"edge": (60, 230, 60), "body": (230, 60, 200), "lead": (40, 220, 230), "hole": (250, 220, 40)}  # drawn in this order
MASK_PARTS = ("object", "body", "lead", "edge", "centre", "hole")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("product", help="build a category's product model (object, parts) and write its masks",
                       description="Build (or load from cache) the product model of each category under DATA from its "
                       "normal images, then write per-image object and part masks (PNG) and product.json.")
    p.add_argument("data", help="an MVTec category folder, a folder of categories, or a folder of normal images")
    p.add_argument("--out", required=True, help="output folder (one sub-folder per category)")
    p.add_argument("--category", default=None, help="only this category (name of its folder)")
    p.add_argument("--kind", choices=("auto", "object", "texture"), default="auto", help="object vs full-frame texture (default: decide from the images)")
    p.add_argument("--limit", type=int, default=0, help="write masks for at most this many images per category (0: all)")
    p.add_argument("--cache-dir", default=None, help="where to cache models (default: $ANOMALYAGENT_CACHE or ~/.cache/anomalyagent; never the data folder)")
    p.add_argument("--refresh", action="store_true", help="rebuild even when a cached model matches")
    return p


def _safe(name: str) -> str:
    """A file-name stem that cannot leave the output folder."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "image"


def parts_picture(image: np.ndarray, parts: dict[str, np.ndarray]) -> np.ndarray:
    """(H, W, 3) uint8: the image dimmed outside the object, parts tinted (see COLORS)."""
    rgb = to_rgb(image).astype(np.float32)
    out = np.where(parts["object"][..., None], rgb, rgb * 0.35)
    for name, color in COLORS.items():
        mask = parts.get(name)
        if mask is not None and mask.any():
            out[mask] = 0.5 * out[mask] + 0.5 * np.array(color, np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def run(args: argparse.Namespace) -> int:
    root = Path(args.data)
    try:
        sets = index_normals(root, args.category)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out_root = Path(args.out)
    status = 0
    for normal in sets:
        folder = normal.paths[0].parent
        try:
            model = ProductModel.build(folder, cache_dir=args.cache_dir, category=normal.category, kind=args.kind, refresh=args.refresh)
        except ProductError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
            continue
        out = out_root / _safe(normal.category)
        (out / "masks").mkdir(parents=True, exist_ok=True)
        images = []
        paths = normal.paths[: args.limit] if args.limit > 0 else normal.paths
        for path in paths:
            try:
                image = read_image(path)
            except ImageError as exc:  # one bad image never kills the batch
                log.warning("skipping %s", exc)
                images.append({"image": str(path), "error": str(exc)})
                continue
            obj, parts = model.locate(image)
            stem = _safe(path.stem)
            for name in MASK_PARTS:
                if name in parts and parts[name].any():
                    write_png(out / "masks" / f"{stem}_{name}.png", parts[name].astype(np.uint8) * 255)
            write_png(out / f"{stem}_parts.png", parts_picture(image, parts))
            images.append({"image": str(path), "object_area": round(float(obj.mean()), 4),
                           "parts": {k: round(float(v.mean()), 4) for k, v in parts.items() if k in MASK_PARTS and v.any()},
                           "leads": int(parts["lead_labels"].max()) if "lead_labels" in parts else 0})
        summary = {**model.summary(), "cached": model.cached, "images": images}
        (out / "product.json").write_text(json.dumps(summary, indent=1))
        print(f"{normal.category}: {model.kind}, parts {', '.join(model.parts) or '-'}; "
              f"{'loaded from cache' if model.cached else f'built in {model.build_seconds:.1f} s'}; "
              f"{len(images)} images -> {out}")
    return status
