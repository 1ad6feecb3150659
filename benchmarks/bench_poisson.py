"""Poisson blend against a baseline source tree: the feather and hard renders keep their
bytes, and the Poisson renders stay close to the baseline's (grey-level distance inside
the defect, in its seam band and overall; the critic's seam term on both).

Why: render/poisson.py replaced cv2.seamlessClone with the same equations solved by a
sine transform on a slightly wider rectangle, and the keep_colour step now runs on the
region's box with a pyramid blur. A speed-up of the Poisson path must leave the other
blends untouched and change the Poisson picture only by what these numbers say.

Renders: the default renderer bench's images (bench_renderers.load_images: the seeded
RGB part, the grey texture and the component scene with its parts) plus scikit-image's
``camera`` and ``coffee`` resized to 256 px, every family at ``--seeds`` seeds; with
``--product DIR`` also bench_renderers.PRODUCT_SPECS on the first ``--product-images``
normal images of that category (nothing of it is written to the repository: only the
numbers). Each source tree renders in its own process (``--worker``).

Measures per Poisson render, baseline vs this tree: mean |difference| (grey levels,
mean over channels) over the pixels either changed, over the seam band (the baseline's
mask alpha > 0.5 grown minus shrunk by 3 px) and inside the mask shrunk by 3 px; the
99th percentile and the maximum; the critic's seam term (critic/appearance.py
``seam_term``, pass at >= 0.5) on each.

Usage::

    python benchmarks/bench_poisson.py --baseline-src /tmp/main/src \\
        [--product ../shared/data/transistor --cache /tmp/cache] --json out.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import date
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
BLENDS = ("feather", "hard", "poisson")
TEXTURES = (1, 3)  # scene images judged as textures: the grey texture and ``camera``


def _renders(args: argparse.Namespace):
    """Yield (group, row, image index, seed, image, spec, scene) for every render."""
    sys.path.insert(0, str(HERE))
    from bench_renderers import ON_PARTS, PRODUCT_SPECS, load_images, load_product, part_center
    from skimage import data

    from anomalyagent.records import DefectSpec
    from anomalyagent.render import RENDERERS
    from anomalyagent.synthetic import TYPICAL

    images = load_images(256, None)
    images += [(cv2.resize(data.camera(), (256, 256), interpolation=cv2.INTER_AREA), None),
               (cv2.resize(data.coffee(), (256, 256), interpolation=cv2.INTER_AREA), None)]
    for family in RENDERERS.names():
        for i, (image, scene) in enumerate(images):
            if scene is not None and family not in ON_PARTS:
                continue
            params = ON_PARTS.get(family, {}) if scene is not None else {}
            center = (0.62, 0.75) if scene is not None and family in ("warp", "missing") else \
                (0.5, 0.3) if scene is not None else (0.45, 0.5)
            for seed in range(args.seeds):
                spec = DefectSpec(family=family, center=center, params=params,
                                  **{**TYPICAL[family], "angle": float(seed * 37 % 180)})
                yield "scenes", family, i, seed, image, spec, scene
    if args.product:
        scenes = load_product(Path(args.product), 256, args.product_images, Path(args.cache) if args.cache else None)
        for row, (family, params, part) in PRODUCT_SPECS.items():
            for i, (image, scene) in enumerate(scenes):
                for seed in range(1, args.seeds + 1):
                    spec = DefectSpec(family=family, center=part_center(scene, part), params=params,
                                      **{**TYPICAL[family], "angle": float(seed * 37 % 180)})
                    yield "product", row, i, seed, image, spec, scene


def worker(args: argparse.Namespace) -> int:
    """Render everything with the tree on PYTHONPATH; save digests (feather, hard) and
    the Poisson pictures to ``args.worker`` (.npz)."""
    from anomalyagent.render import render

    cv2.setNumThreads(1)
    out = {}
    for group, row, i, seed, image, spec, scene in _renders(args):
        key = f"{group}|{row}|{i}|{seed}"
        out[f"input|{group}|{i}"] = image
        for blend in BLENDS:
            edited, alpha = render(image, spec.replace(blend=blend), np.random.default_rng(seed), scene)
            if blend == "poisson":
                out[f"poisson|{key}"] = edited
                out[f"poisson_mask|{key}"] = alpha > 0.5
            else:
                out[f"{blend}|{key}"] = np.frombuffer(hashlib.sha256(edited.tobytes() + alpha.tobytes()).digest(),
                                                      np.uint8)
            if blend == "feather":
                out[f"feather_img|{key}"] = edited
    np.savez(args.worker, **out)
    return 0


def _run_tree(src: str, path: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(path), "--seeds", str(args.seeds)]
    if args.product:
        cmd += ["--product", args.product, "--product-images", str(args.product_images)]
        if args.cache:
            cmd += ["--cache", args.cache]
    env = dict(os.environ, PYTHONPATH=src, OMP_NUM_THREADS="1")
    subprocess.run(cmd, check=True, env=env)
    return dict(np.load(path))


def compare(base: dict, new: dict) -> dict:
    """The numbers of the module docstring, per group and row."""
    from anomalyagent.critic.appearance import seam_term
    from anomalyagent.critic.views import make_views

    ring = np.ones((7, 7), np.uint8)
    same = defaultdict(lambda: {"feather": [0, 0], "hard": [0, 0]})
    rows = defaultdict(lambda: defaultdict(list))
    for key in sorted(k for k in base if k.startswith("poisson|")):
        _, group, row, i, seed = key.split("|")
        sub = f"{group}|{row}|{i}|{seed}"
        for blend in ("feather", "hard"):
            same[f"{group}|{row}"][blend][0] += 1
            same[f"{group}|{row}"][blend][1] += int(np.array_equal(base[f"{blend}|{sub}"], new[f"{blend}|{sub}"]))
        image = base[f"input|{group}|{i}"]
        a, b = base[key].astype(np.int16), new[key].astype(np.int16)
        d = np.abs(a - b)
        d = d.mean(axis=2) if d.ndim == 3 else d.astype(np.float64)
        mask = base[f"poisson_mask|{sub}"]
        changed = (base[key] != image) | (new[key] != image)
        changed = changed.any(axis=2) if changed.ndim == 3 else changed
        r = rows[f"{group}|{row}"]
        if changed.any():
            r["mad_changed"].append(float(d[changed].mean()))
            r["p99_changed"].append(float(np.percentile(d[changed], 99)))
            r["max"].append(float(d.max()))
        m8 = mask.astype(np.uint8)
        band = cv2.dilate(m8, ring).astype(bool) & ~cv2.erode(m8, ring).astype(bool)
        core = cv2.erode(m8, ring).astype(bool)
        if band.any():
            r["mad_band"].append(float(d[band].mean()))
        if core.any():
            r["mad_inside"].append(float(d[core].mean()))
        f = np.abs(new[key].astype(np.int16) - new[f"feather_img|{sub}"].astype(np.int16))
        r["new_vs_feather_changed"].append(float(f[changed].mean()) if changed.any() else 0.0)
        if mask.sum() >= 6:
            texture = group == "scenes" and int(i) in TEXTURES  # as bench_edge_seam.py judges them
            for name, pic in (("seam_base", base[key]), ("seam_new", new[key])):
                r[name].append(seam_term(make_views(image, pic, mask), texture=texture).value)
    out = {}
    for name, r in sorted(rows.items()):
        row = {"renders": len(r["mad_band"]) or len(r["mad_changed"])}
        for k, v in r.items():
            if not v:
                continue
            if k.startswith("seam_"):
                row[k + "_mean"] = round(float(np.mean(v)), 3)
                row[k + "_pass"] = round(float(np.mean([x >= 0.5 for x in v])), 3)
            elif k == "max":
                row["max"] = round(float(np.max(v)), 1)
            else:
                row[k] = round(float(np.mean(v)), 3)
        row["feather_identical"] = f"{same[name]['feather'][1]}/{same[name]['feather'][0]}"
        row["hard_identical"] = f"{same[name]['hard'][1]}/{same[name]['hard'][0]}"
        out[name] = row
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-src", help="the baseline tree's src folder (e.g. a worktree of main)")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--product", default=None, help="a category folder (MVTec layout), e.g. ../shared/data/transistor")
    ap.add_argument("--product-images", type=int, default=10)
    ap.add_argument("--cache", default=None, help="product-model cache folder")
    ap.add_argument("--json", default=None)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if not args.baseline_src:
        ap.error("--baseline-src is required")
    with tempfile.TemporaryDirectory() as tmp:
        base = _run_tree(args.baseline_src, Path(tmp) / "base.npz", args)
        new = _run_tree(str(HERE.parent / "src"), Path(tmp) / "new.npz", args)
    rows = compare(base, new)
    identical = all(r["feather_identical"].split("/")[0] == r["feather_identical"].split("/")[1]
                    and r["hard_identical"].split("/")[0] == r["hard_identical"].split("/")[1] for r in rows.values())
    print("| group / row | feather same | hard same | mean |d| changed | band | inside | p99 | max | seam base | seam new | new vs feather |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['feather_identical']} | {r['hard_identical']} | {r.get('mad_changed', 0):.2f} | "
              f"{r.get('mad_band', 0):.2f} | {r.get('mad_inside', 0):.2f} | {r.get('p99_changed', 0):.1f} | {r.get('max', 0):.0f} | "
              f"{r.get('seam_base_mean', float('nan')):.3f} | {r.get('seam_new_mean', float('nan')):.3f} | "
              f"{r.get('new_vs_feather_changed', 0):.2f} |")
    print("feather and hard byte-identical:", identical)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({
            "command": "python " + " ".join(sys.argv), "date": date.today().isoformat(),
            "machine": f"{platform.machine()}, 2 shared CPU cores, cv2 threads 1", "seeds": args.seeds,
            "product": Path(args.product).name if args.product else None, "feather_hard_identical": identical,
            "rows": rows}, indent=1))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
