"""``anomalyagent demo``: the whole loop on offline sample photos, with an HTML report.

The photos are scikit-image's bundled images (nothing is downloaded): a brick wall
stands in for a ceramic texture and coins for metal parts (category "metal_coins": an unknown name whose material word
# "metal" selects the generic metal knowledge, and whose kind, object, is seen in the image). Crops of each photo make a
small normal set in the MVTec layout, then ``synthesize`` runs on it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..images import write_png
from ..pipeline import synthesize
from .synthesize import add_common, method_kwargs, print_summary

# demo category -> (scikit-image photo, defects to synthesize)
DEMO_SETS = {
    "ceramic": ("brick", ["crack", "stain", "chip"]),
    "metal_coins": ("coins", ["scratch", "dent", "rust"]),
}


def _crops(photo: np.ndarray, size: int, count: int) -> list[np.ndarray]:
    """``count`` deterministic square crops (and mirror images) of ``photo``."""
    h, w = photo.shape[:2]
    size = min(size, h, w)
    ys = np.linspace(0, h - size, 3).astype(int)
    xs = np.linspace(0, w - size, 3).astype(int)
    crops = [photo[y:y + size, x:x + size] for y in ys for x in xs]
    crops += [np.ascontiguousarray(c[:, ::-1]) for c in crops]
    return crops[:count]


def prepare_inputs(root: Path, per_category: int = 6) -> Path:
    """Write the demo's normal images as an MVTec root under ``root``; return it."""
    import skimage.data

    for category, (photo_name, _) in DEMO_SETS.items():
        photo = getattr(skimage.data, photo_name)()
        size = 256 if min(photo.shape[:2]) >= 256 else min(photo.shape[:2])
        for i, crop in enumerate(_crops(photo, size, per_category)):
            path = root / category / "train" / "good" / f"{photo_name}_{i:02d}.png"
            if not path.exists():
                write_png(path, np.ascontiguousarray(crop))
    return root


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="run the loop on bundled sample photos and write an HTML report",
                       description="Synthesize defects on scikit-image's bundled photos (brick wall as ceramic, "
                       "coins as metal), offline, and write OUT/report.html.")
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--n", type=int, default=6, help="samples per category (default 6)")
    p.set_defaults(method="agent")
    add_common(p)
    return p


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    inputs = prepare_inputs(out / "inputs")
    summary = None
    for category, (_, defects) in DEMO_SETS.items():
        summary = synthesize(inputs, out, defects, args.n, seed=args.seed, workers=args.workers, category=category,
                             progress=not args.no_progress, method_kwargs=method_kwargs(args))
    print_summary(out, summary)
    print(f"open {out.resolve()}/report.html in a browser", file=sys.stderr)
    return 0
