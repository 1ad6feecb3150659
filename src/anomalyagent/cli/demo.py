"""``anomalyagent demo``: the whole loop on offline sample photos, with an HTML report.

The photos are scikit-image's bundled images (nothing is downloaded): a brick wall
stands in for a ceramic texture and single coins cropped from a photo of coins for metal parts (category "metal_coins": an unknown name whose material word
# "metal" selects the generic metal knowledge, and whose kind, object, is seen in the image). Crops of each photo make a
small normal set in the MVTec layout (OUT/normals), then ``synthesize`` runs on it into
OUT/samples (two folders: a run never writes into the folder holding its data).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from ..data import DataError
from ..images import write_png
from ..pipeline import RunError, synthesize
from .synthesize import add_common, bounded_int, concurrency, method_kwargs, print_summary

# demo category -> (scikit-image photo, defects to synthesize)
DEMO_SETS = {
    "ceramic": ("brick", ["crack", "stain", "chip"]),
    "metal_coins": ("coins", ["scratch", "dent", "rust"]),
}


def _crops(photo: np.ndarray, size: int, count: int) -> list[np.ndarray]:
    """``count`` deterministic square crops (and mirror images) of a texture photo."""
    h, w = photo.shape[:2]
    size = min(size, h, w)
    ys = np.linspace(0, h - size, 3).astype(int)
    xs = np.linspace(0, w - size, 3).astype(int)
    crops = [photo[y:y + size, x:x + size] for y in ys for x in xs]
    crops += [np.ascontiguousarray(c[:, ::-1]) for c in crops]
    return crops[:count]


def _objects(photo: np.ndarray, size: int, count: int) -> list[np.ndarray]:
    """One square crop per bright object of ``photo`` (largest first), resized to ``size``.

    Each crop holds a single part on its background, as an inspection camera sees it.
    """
    blur = cv2.GaussianBlur(photo, (5, 5), 0)
    _, fg = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    n, _, stats, _ = cv2.connectedComponentsWithStats(fg)
    h, w = photo.shape[:2]
    # single parts only: touching objects merge into one large component, skip those
    single = [i for i in range(1, n) if max(stats[i, 2], stats[i, 3]) < 0.3 * min(h, w)]
    order = sorted(single, key=lambda i: -int(stats[i, cv2.CC_STAT_AREA]))
    crops = []
    for i in order[:count]:
        x, y, bw, bh = stats[i, :4]
        side = int(1.5 * max(bw, bh))
        cx, cy = x + bw // 2, y + bh // 2
        x0, y0 = max(0, min(w - side, cx - side // 2)), max(0, min(h - side, cy - side // 2))
        crops.append(cv2.resize(photo[y0:y0 + side, x0:x0 + side], (size, size), interpolation=cv2.INTER_CUBIC))
    return crops


def prepare_inputs(root: Path, per_category: int = 6) -> Path:
    """Write the demo's normal images as an MVTec root under ``root``; return it."""
    import skimage.data

    for category, (photo_name, _) in DEMO_SETS.items():
        photo = getattr(skimage.data, photo_name)()
        images = _objects(photo, 128, per_category) if photo_name == "coins" else _crops(photo, 256, per_category)
        for i, image in enumerate(images):
            path = root / category / "train" / "good" / f"{photo_name}_{i:02d}.png"
            if not path.exists():
                write_png(path, np.ascontiguousarray(image))
    return root


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="run the loop on bundled sample photos and write an HTML report",
                       description="Synthesize defects on scikit-image's bundled photos (brick wall as ceramic, "
                       "coins as metal), offline: normal crops in OUT/normals, samples and report in OUT/samples.")
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out): OUT/normals, OUT/samples")
    p.add_argument("--n", type=bounded_int(1, 100000), default=6, help="samples per category (default 6)")
    p.set_defaults(method="agent")
    add_common(p)
    return p


def run(args: argparse.Namespace) -> int:
    root = Path(args.out)
    if root.exists() and not root.is_dir():
        print(f"error: --out {root}: is a file, not a folder", file=sys.stderr)
        return 2
    out = root / "samples"
    total = None
    try:
        inputs = prepare_inputs(root / "normals")
        for category, (_, defects) in DEMO_SETS.items():
            summary = synthesize(inputs, out, defects, args.n, seed=args.seed, workers=args.workers, category=category,
                                 progress=not args.no_progress, method_kwargs=method_kwargs(args),
                                 executor=args.executor, scheduler=args.scheduler, keep_failed=args.keep_failed,
                                 concurrency=concurrency(args))
            total = _add(total, summary)
            if summary.interrupted:
                break
    except (DataError, ValueError, KeyError, ImportError, OSError, RunError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) and exc.args else exc}", file=sys.stderr)
        return 2
    total.kept_failed = args.keep_failed
    print_summary(out, total)
    print(f"open {out.resolve()}/report.html in a browser", file=sys.stderr)
    return 130 if total.interrupted else 0


def _add(total, summary):
    """Sum of two run summaries (the demo runs one per category)."""
    if total is None:
        return summary
    total.written += summary.written
    total.skipped_done += summary.skipped_done
    total.seconds += summary.seconds
    total.bad_images += summary.bad_images
    total.failed += summary.failed
    total.failed_count += summary.failed_count
    total.not_passed += summary.not_passed
    total.interrupted = total.interrupted or summary.interrupted
    return total
