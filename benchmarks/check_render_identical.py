"""Same inputs, same bytes: render every family with every blend on a real product's normal
images in two source trees and compare the outputs (edited image and alpha) and the
background plates (pixels and source label) by SHA-256.

    OMP_NUM_THREADS=1 python benchmarks/check_render_identical.py --baseline-src /work/main/src \\
        --product ../shared/data/transistor --cache /tmp/cache --images 10 --seeds 3

Why: a speed-up of the structural families (render/background.py) must not change a byte;
``check_identical.py`` compares whole ``synthesize`` runs, this compares each family and
blend directly, on the scenes ``bench_renderers.load_product`` builds (product model
masks, three other normal images with their masks).

Each tree runs in its own process (PYTHONPATH set to it). Per image and seed: every
registered family with its TYPICAL spec and each blend (hard, feather, poisson), centred
on the object; the PRODUCT_SPECS rows of bench_renderers (whole object moved, body moved,
lead bent, ...) with each blend; each render once without a memo and once with a
per-sample RenderMemo (with a shared memo), so the memo's paths are compared too; and the
background plate of the whole object's hole and of each part's hole. Exit status 1 when
any hash differs or is missing on one side.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

BLENDS = ("hard", "feather", "poisson")


def _hash(*arrays) -> str:
    import numpy as np

    h = hashlib.sha256()
    for a in arrays:
        if isinstance(a, str):
            h.update(a.encode())
        else:
            a = np.ascontiguousarray(a)
            h.update(f"{a.shape}{a.dtype.str}".encode())
            h.update(a.tobytes())
    return h.hexdigest()[:20]


def worker(args: argparse.Namespace) -> dict:
    """In the tree on PYTHONPATH: {case name: hash of its output}."""
    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_renderers as br

    from anomalyagent.records import DefectSpec
    from anomalyagent.render import RENDERERS, render
    from anomalyagent.render.background import background_plate
    from anomalyagent.render.memo import RenderMemo
    from anomalyagent.render.scene import Scene
    from anomalyagent.synthetic import TYPICAL

    scenes = br.load_product(args.product, args.size, args.images, args.cache)
    out = {}
    shared = RenderMemo(limit=256, threadsafe=True)
    for i, (image, scene) in enumerate(scenes):
        memo = RenderMemo(limit=64, shared=shared)  # one sample's memo: every edit of this image shares it
        with_memo = Scene(foreground=scene.foreground, parts=scene.parts, normals=scene.normals,
                          normal_masks=scene.normal_masks, memo=memo)
        cases = [(f, {}, "object") for f in RENDERERS.names()]
        cases += [(fam, params, part, row) for row, (fam, params, part) in br.PRODUCT_SPECS.items()]
        for case in cases:
            family, params, part = case[:3]
            name = case[3] if len(case) > 3 else family
            for blend in BLENDS:
                for seed in range(args.seeds):
                    spec = DefectSpec(family=family, center=br.part_center(scene, part), blend=blend, params=params,
                                      **{**TYPICAL.get(family, {}), "angle": float(seed * 37 % 180)})
                    for tag, sc in (("plain", scene), ("memo", with_memo)):
                        try:
                            edited, alpha = render(image, spec, np.random.default_rng(seed), sc)
                            value = _hash(edited, alpha)
                        except Exception as exc:  # noqa: BLE001 (a failure must fail the same way in both trees)
                            value = f"error {type(exc).__name__}: {exc}"
                        out[f"img{i}/{name}/{blend}/seed{seed}/{tag}"] = value
        holes = {"object": scene.foreground, **{k: v for k, v in scene.parts.items() if v.any()}}
        for k, hole in holes.items():
            for tag, sc in (("plain", scene), ("memo", with_memo)):
                plate, source = background_plate(image, hole, sc, np.random.default_rng(0))
                out[f"img{i}/plate/{k}/{tag}"] = _hash(plate, source)
    return out


def run_tree(src: Path, args: argparse.Namespace, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, __file__, "--worker", "--product", str(args.product), "--cache", str(args.cache),
           "--images", str(args.images), "--seeds", str(args.seeds), "--size", str(args.size), "--out", str(out)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} (PYTHONPATH={src}) failed:\n{res.stderr[-3000:]}")
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline-src", type=Path, help="the other tree's src/ (e.g. main's)")
    ap.add_argument("--product", type=Path, required=True, help="a category folder (MVTec layout)")
    ap.add_argument("--cache", type=Path, default=None, help="product-model cache folder")
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "check-render-identical")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        args.out.write_text(json.dumps(worker(args)))
        return 0
    if args.baseline_src is None:
        ap.error("--baseline-src is required")
    args.work.mkdir(parents=True, exist_ok=True)
    here = Path(__file__).resolve().parents[1] / "src"
    a = run_tree(args.baseline_src.resolve(), args, args.work / "baseline.json")
    b = run_tree(here, args, args.work / "this.json")
    differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    errors = sum(v.startswith("error") for v in b.values())
    print(f"{len(a)} cases (baseline) vs {len(b)} (this), {errors} raised in this tree (the same in both when "
          f"not listed below); {len(differ)} differ" + (f": {', '.join(differ[:8])}" if differ else ""))
    print("IDENTICAL" if not differ else "DIFFERENT")
    return 0 if not differ else 1


if __name__ == "__main__":
    raise SystemExit(main())
