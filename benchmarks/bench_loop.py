"""Agent-loop speed with the product model cached (issue 9: <= 50 ms per sample at 256x256
on one core), optionally against another source tree measured in the same run.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_loop.py --data ../shared/data \
        --categories transistor hazelnut --samples 40 --baseline-src /tmp/base/src \
        --json docs/results/loop_speed.json

Per category: the product model is built once with ``ProductModel.build`` into a cache
folder (``--cache``) and loaded from it, as ``synthesize --product auto`` does. Samples:
``AgentMethod(product=model).synthesize`` (rule policy, procedural editor, measured critic,
up to 3 episodes), seeds 0..n-1, cycling over the first ``--images`` train/good images
and the category's knowledge-base defect types (or ``--defects``). Clock: the process's CPU time per sample
(the machine is shared; wall time measures the neighbours). One untimed warm-up sample
(seed 10**6) runs first; its time is reported apart. Wall time per sample is kept beside
(``wall_ms``, minimum over rounds too): on a loaded machine it measures the neighbours. Each sample's output bytes are hashed
(edited image + mask), so a run against ``--baseline-src`` also says whether the two trees
give identical outputs, and its MG IoU (final mask vs the renderer's alpha > 0.5) is kept
as a quality check beside the time. The normal pool is the category's train/good images, as in
``synthesize`` (the editor draws background plates from other normal images; their object
masks are located once per run, on first use, inside the timed samples).

Images: sample ``seed`` takes image ``seed % --images``, so with 100 samples over 50 images
each image is used twice, the second time 50 samples later; the product model remembers
located images (product/memo.py), as it does in a run (n samples over the category's
normal images), and the warm-up's memo is cleared: rows say ``first_use`` and the
summary gives first-use and reused images apart. Each tree keeps its own product-model
cache below ``--cache`` (the code fingerprint is part of the model's key).

With ``--baseline-src``, each tree runs in its own subprocess (one thread), alternating
``--rounds`` times so both see the same machine load; the per-sample time is the minimum
over rounds; ratios are baseline / this tree.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np


def worker(args: argparse.Namespace) -> dict:
    """Run in the tree on PYTHONPATH: per-sample CPU ms, family, attempts, output hash."""
    import cv2

    cv2.setNumThreads(1)
    if args.heap == "retain":  # what synthesize's workers do (anomalyagent/heap.py), same call for either tree
        from ctypes import CDLL, c_int

        mallopt = CDLL(None).mallopt
        mallopt.argtypes = [c_int, c_int]
        mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    from anomalyagent.data import index_normals
    from anomalyagent.images import read_image
    from anomalyagent.knowledge import KnowledgeBase
    from anomalyagent.methods.agent import AgentMethod
    from anomalyagent.methods.base import NormalPool
    from anomalyagent.product import ProductModel
    from anomalyagent.records import Task

    kb = KnowledgeBase.default()
    out: dict = {}
    for category in args.categories:
        folder = args.data / category
        t0 = time.perf_counter()
        model = ProductModel.build(folder, cache_dir=args.cache, category=category)
        load_s = time.perf_counter() - t0
        every = sorted(index_normals(folder)[0].paths)
        paths = every[: args.images]
        images = [read_image(p) for p in paths]
        defects = [e.defect for e in kb.entries(category) if not args.defects or e.defect in args.defects]
        if not defects:
            raise SystemExit(f"{category}: none of --defects {args.defects} in the knowledge base")
        method = AgentMethod(product=model)
        pool = NormalPool(every)  # as synthesize: the editor may draw other normal images from it
        warm_t = time.process_time()
        method.synthesize(images[0], Task(image_path=str(paths[0]), category=category, defect_type=defects[0], seed=10**6),
                          np.random.default_rng(10**6), pool)
        warm_ms = 1000 * (time.process_time() - warm_t)
        memo = getattr(model, "_memo", None)  # locate()'s per-image memo: the timed samples start cold
        if hasattr(memo, "clear"):
            memo.clear()
        rows, seen = [], set()
        for seed in range(args.samples):
            i = seed % len(images)
            first_use, _ = i not in seen, seen.add(i)
            defect = defects[seed % len(defects)]
            task = Task(image_path=str(paths[i]), category=category, defect_type=defect, seed=seed)
            t0, w0 = time.process_time(), time.perf_counter()
            res = method.synthesize(images[i], task, np.random.default_rng(seed), pool)
            ms, wall = 1000 * (time.process_time() - t0), 1000 * (time.perf_counter() - w0)
            digest = hashlib.sha256(np.ascontiguousarray(res.image).tobytes() + np.packbits(res.mask).tobytes()).hexdigest()[:16]
            rows.append({"seed": seed, "image": paths[i].name, "first_use": first_use, "defect": defect,
                         "family": getattr(res.spec, "family", None) if res.spec is not None else None,
                         "attempts": int(res.info.get("attempts", 1)), "passed": bool(res.passed), "cpu_ms": round(ms, 2), "wall_ms": round(wall, 2),
                         "mg_iou": round(float(res.info["mg_iou"]), 4) if "mg_iou" in res.info else None,
                         "stage_ms": {k: round(1000 * v, 2) for k, v in res.timings.items()}, "hash": digest})
        out[category] = {"model_kind": model.kind, "model_load_s": round(load_s, 3), "warmup_cpu_ms": round(warm_ms, 1),
                         "samples": rows}
    return out


def stats(values: list[float]) -> dict:
    a = np.asarray(values, float)
    return {"mean": round(float(a.mean()), 1), "median": round(float(np.median(a)), 1),
            "p90": round(float(np.percentile(a, 90)), 1), "max": round(float(a.max()), 1)}


def run_tree(src: Path, args: argparse.Namespace) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    cache = args.cache / hashlib.sha256(str(src).encode()).hexdigest()[:8]  # one per tree: each keys its own model
    cmd = [sys.executable, __file__, "--worker", "--data", str(args.data), "--cache", str(cache),
           "--samples", str(args.samples), "--heap", args.heap, "--images", str(args.images), "--categories", *args.categories,
           *(["--defects", *args.defects] if args.defects else [])]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"worker on {src} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def merge_rounds(runs: list[dict]) -> dict:
    """Per sample, the minimum CPU time over rounds (outputs must agree across rounds)."""
    out = json.loads(json.dumps(runs[0]))
    for cat, block in out.items():
        for j, row in enumerate(block["samples"]):
            row["cpu_ms"] = min(r[cat]["samples"][j]["cpu_ms"] for r in runs)
            row["wall_ms"] = min(r[cat]["samples"][j].get("wall_ms", float("nan")) for r in runs)
            if len({r[cat]["samples"][j]["hash"] for r in runs}) != 1:
                raise SystemExit(f"{cat} seed {row['seed']}: outputs differ between rounds of one tree")
    return out


def summarise(block: dict) -> dict:
    rows = block["samples"]
    by_family: dict[str, list[float]] = {}
    for r in rows:
        by_family.setdefault(f"{r['defect']}/{r['family']}", []).append(r["cpu_ms"])
    split = {name: stats(v) | {"n": len(v)} for name, v in
             (("first_use", [r["cpu_ms"] for r in rows if r.get("first_use")]),
              ("reused", [r["cpu_ms"] for r in rows if not r.get("first_use", True)])) if v}
    walls = [r["wall_ms"] for r in rows if r.get("wall_ms") is not None]
    return {**stats([r["cpu_ms"] for r in rows]), "wall": stats(walls) if walls else None,
            "warmup_cpu_ms": block["warmup_cpu_ms"], "by_image_use": split,
            "mean_attempts": round(float(np.mean([r["attempts"] for r in rows])), 2),
            "pass_rate": round(float(np.mean([r["passed"] for r in rows])), 3),
            "mean_mg_iou": round(float(np.mean(ious)), 4) if (ious := [r["mg_iou"] for r in rows if r.get("mg_iou") is not None]) else None,
            "by_defect_family": {k: stats(v) | {"n": len(v)} for k, v in sorted(by_family.items())}}


def dump(result: dict) -> str:
    """JSON text with one line per sample (the per-sample rows would be most of the file)."""
    samples = result.pop("samples", {})
    text = json.dumps(result, indent=1)
    blocks = []
    for tree, cats in samples.items():
        inner = ",\n".join(f'  "{cat}": [\n' + ",\n".join("   " + json.dumps(r) for r in rows) + "\n  ]"
                           for cat, rows in cats.items())
        blocks.append(f' "{tree}": {{\n{inner}\n }}')
    result["samples"] = samples
    return text[:-2] + ',\n "samples": {\n' + ",\n".join(blocks) + "\n }\n}\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder of MVTec-layout categories")
    ap.add_argument("--categories", nargs="+", default=["transistor"])
    ap.add_argument("--samples", type=int, default=40, help="timed samples per category")
    ap.add_argument("--images", type=int, default=10, help="first N train/good images used")
    ap.add_argument("--defects", nargs="*", default=None, help="only these knowledge-base defect types (default: all)")
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "anomalyagent-bench-loop")
    ap.add_argument("--baseline-src", type=Path, default=None, help="another tree's src/ to time in the same run")
    ap.add_argument("--rounds", type=int, default=2, help="alternating runs per tree (minimum per sample)")
    ap.add_argument("--json", type=Path, default=None, help="write results JSON here")
    ap.add_argument("--heap", choices=("retain", "default"), default="retain",
                    help="retain: glibc keeps freed memory (as synthesize's workers set it, anomalyagent/heap.py), "
                    "applied to both trees; default: glibc's defaults")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    here = Path(__file__).resolve().parents[1] / "src"
    trees = {"this": here} | ({"baseline": args.baseline_src.resolve()} if args.baseline_src else {})
    runs: dict[str, list[dict]] = {k: [] for k in trees}
    load = [round(x, 2) for x in os.getloadavg()]
    for _ in range(max(1, args.rounds)):
        for name, src in trees.items():
            runs[name].append(run_tree(src, args))
    merged = {name: merge_rounds(r) for name, r in runs.items()}
    result: dict = {"command": " ".join(["python", "benchmarks/bench_loop.py", *(argv if argv is not None else sys.argv[1:])]),
                    "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                    "machine": f"{platform.machine()}, 2 shared CPU cores (other jobs running), one thread",
                    "clock": "process CPU time per sample, minimum over rounds", "heap": args.heap, "trees": {k: str(v) for k, v in trees.items()},
                    "load_average_start_end": [load, [round(x, 2) for x in os.getloadavg()]],
                    "categories": {}}
    for cat in args.categories:
        row = {name: summarise(m[cat]) for name, m in merged.items()}
        if "baseline" in merged:
            a, b = merged["this"][cat]["samples"], merged["baseline"][cat]["samples"]
            row["identical_outputs"] = sum(x["hash"] == y["hash"] for x, y in zip(a, b))
            row["compared"] = len(a)
            row["ratio_mean"] = round(row["baseline"]["mean"] / row["this"]["mean"], 2)
            row["ratio_median"] = round(row["baseline"]["median"] / row["this"]["median"], 2)
        result["categories"][cat] = row
        for name in merged:
            s = row[name]
            print(f"{cat} [{name}]: mean {s['mean']:.1f} ms, median {s['median']:.1f}, p90 {s['p90']:.1f}, max {s['max']:.1f} "
                  f"(warm-up {s['warmup_cpu_ms']:.0f}), attempts {s['mean_attempts']:.2f}, pass {s['pass_rate']:.2f}, "
                  f"MG IoU {s['mean_mg_iou']}" + (f"; wall mean {s['wall']['mean']:.1f}, median {s['wall']['median']:.1f}" if s.get("wall") else ""))
            for key, b in s["by_image_use"].items():
                print(f"    {key} image: mean {b['mean']:.1f}, median {b['median']:.1f}, p90 {b['p90']:.1f} (n={b['n']})")
            for key, b in s["by_defect_family"].items():
                print(f"    {key}: mean {b['mean']:.1f}, median {b['median']:.1f}, p90 {b['p90']:.1f} (n={b['n']})")
        if "baseline" in merged:
            print(f"{cat}: identical outputs {row['identical_outputs']}/{row['compared']}; baseline/this mean x{row['ratio_mean']}, median x{row['ratio_median']}")
    result["samples"] = {name: {cat: m[cat]["samples"] for cat in args.categories} for name, m in merged.items()}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(dump(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
