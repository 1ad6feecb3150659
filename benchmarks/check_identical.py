"""Same seed, same bytes: run ``anomalyagent synthesize`` with two source trees and compare
every written image and mask (and the cached product models) by SHA-256.

    python benchmarks/check_identical.py --baseline-src /tmp/base/src --data ../shared/data \
        --categories transistor hazelnut --n 24 --work /tmp/identical

A speed-up must not change outputs: this is the check. Data sets: a synthetic component
scene folder (``anomalyagent.synthetic.component_scene``, named ``transistor`` so the
knowledge base's transistor entries apply), a synthetic texture folder (``texture_gray``,
named ``magnetic_tile``), and each ``--categories`` folder of ``--data``. Each tree runs
in its own process with its own product-model cache folder (so the build is compared
too). The baseline's outputs are kept in ``--work`` and reused by a rerun (synthesize
resumes a finished folder without redoing it); this tree's are made afresh. Exit status 1 when any file differs or is missing on one side.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

DEFECTS = {"transistor": "bent_lead,cut_lead,damaged_case,misplaced", "hazelnut": "crack,cut,hole,print",
           "magnetic_tile": "blowhole,break,crack,fray,uneven", "neu_seg": "inclusion,patches,scratches",
           "crackforest": "crack"}


def write_synthetic(root: Path, images: int) -> list[Path]:
    """Two synthetic MVTec-layout categories under ``root`` (no dataset pixels)."""
    from anomalyagent.images import write_png
    from anomalyagent.synthetic import component_scene, texture_gray

    out = []
    for name, make in (("transistor", lambda s: component_scene(256, seed=s, board="perforated" if s % 2 else "plain")[0]),
                       ("magnetic_tile", lambda s: texture_gray(256, seed=s))):
        good = root / name / "train" / "good"
        good.mkdir(parents=True, exist_ok=True)
        for s in range(images):
            if not (good / f"{s:03d}.png").is_file():  # kept between runs: same mtimes, same cache key
                write_png(good / f"{s:03d}.png", make(s))
        out.append(root / name)
    return out


def file_digest(path: Path) -> str:
    """SHA-256 of a file; for a product-model .npz, of its arrays and its metadata without
    the build time (a zip stores timestamps, and the build time is measured), the code
    fingerprint and the cache key made from it (they differ whenever the code does)."""
    if path.suffix != ".npz":
        return hashlib.sha256(path.read_bytes()).hexdigest()
    import json

    import numpy as np

    h = hashlib.sha256()
    with np.load(path, allow_pickle=False) as data:
        for key in sorted(data.files):
            if key == "meta":
                meta = json.loads(str(data["meta"]))
                for volatile in ("build_seconds", "code", "key"):
                    meta.pop(volatile, None)
                h.update(json.dumps(meta, sort_keys=True).encode())
            else:
                h.update(key.encode() + data[key].tobytes())
    return h.hexdigest()


def digests(folder: Path, suffixes: tuple[str, ...]) -> dict[str, str]:
    return {str(p.relative_to(folder)): file_digest(p)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in suffixes}


def run(src: Path, data: Path, out: Path, cache: Path, n: int, seed: int) -> None:
    env = dict(os.environ, PYTHONPATH=str(src), ANOMALYAGENT_CACHE=str(cache), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "anomalyagent", "synthesize", "--data", str(data), "--defects", DEFECTS[data.name],
           "--n", str(n), "--out", str(out), "--seed", str(seed), "--keep-failed", "--no-progress", "--product", "auto"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} (PYTHONPATH={src}) failed:\n{res.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline-src", type=Path, required=True, help="the other tree's src/ (e.g. main's code)")
    ap.add_argument("--data", type=Path, default=None, help="folder of MVTec-layout categories")
    ap.add_argument("--categories", nargs="*", default=["transistor", "hazelnut"])
    ap.add_argument("--n", type=int, default=24, help="samples per data set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--synthetic-images", type=int, default=8)
    ap.add_argument("--work", type=Path, required=True, help="scratch folder (created; outputs and caches)")
    args = ap.parse_args(argv)
    here = Path(__file__).resolve().parents[1] / "src"
    work = args.work.resolve()
    sets = write_synthetic(work / "synthetic", args.synthetic_images)
    sets += [args.data.resolve() / c for c in args.categories] if args.data else []
    shutil.rmtree(work / "this", ignore_errors=True)  # this tree: outputs and product caches made afresh
    bad = 0
    for data in sets:
        tag = f"{data.parent.name}-{data.name}"
        outs = {}
        for name, src in (("baseline", args.baseline_src.resolve()), ("this", here)):
            out, cache = work / name / tag, work / name / "cache"
            run(src, data, out, cache, args.n, args.seed)
            outs[name] = out
        a, b = digests(outs["baseline"], (".png",)), digests(outs["this"], (".png",))
        differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        bad += len(differ)
        print(f"{tag}: {len(a)} png files (baseline) vs {len(b)} (this); {len(differ)} differ"
              + (f": {', '.join(differ[:5])}" if differ else ""))
    caches = {n: digests(work / n / "cache", (".npz",)) for n in ("baseline", "this")}
    for key in sorted(set(caches["baseline"]) | set(caches["this"])):
        same = caches["baseline"].get(key) == caches["this"].get(key)
        bad += not same
        print(f"product cache {key}: {'identical' if same else 'DIFFERS'}")
    print("IDENTICAL" if bad == 0 else f"DIFFERENT: {bad} files")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
