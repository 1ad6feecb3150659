"""Product model benchmark (issue 9): object-mask IoU against hand labels, part hit rate of
planned defects, locate() time and build time per category.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_product.py --data ../shared/data \
        --out docs/results/product.json

- IoU: for each category with hand labels (benchmarks/labels/object_masks.json), the model is
  built from its train/good images EXCEPT the labelled ones, then ``locate`` runs on each
  labelled image as a new image; IoU of the object mask vs the union of the label shapes.
  Transistor also gets part IoU: body vs the case polygon, lead vs the lead polylines.
- Part hit rate: for every transistor defect type in the knowledge base, ``--samples``
  plans (PG's sampler with the product model's parts, seeds 0..n-1, cycling over the
  labelled images); a plan hits when more than half of its footprint (the ellipse the spec
  describes) lies on the hand-labelled part its knowledge names: leads for *_lead, the case
  for *_case, the whole object otherwise. The same plans drawn with the old foreground
  estimate and no parts are the baseline, in the same run.
- Build time: ``ProductModel.build_from_paths`` on every train/good image of each category
  (wall seconds on a shared machine; not cached).
- locate time: median CPU (process) seconds per call at 256 px, one thread.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from anomalyagent.data import index_normals
from anomalyagent.foreground import foreground
from anomalyagent.images import read_image
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.planning import footprint, sample_spec
from anomalyagent.product import ProductModel

PART_LABELS = {"lead": ("leads",), "case": ("case",)}  # defect word -> label shape names


def raster(shapes_by_name: dict, names: tuple[str, ...] | None, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool union of the labelled shapes (polygons filled, polylines drawn at their width)."""
    mask = np.zeros(shape, np.uint8)
    for name, shapes in shapes_by_name.items():
        if names is not None and name not in names:
            continue
        for sh in shapes:
            pts = np.round(np.asarray(sh["points"], float) * 8).astype(np.int32)
            if sh["kind"] == "polygon":
                cv2.fillPoly(mask, [pts], 1, shift=3)
            else:
                cv2.polylines(mask, [pts], False, 1, max(1, int(round(sh["width"]))), shift=3)
    return mask.astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else float(np.count_nonzero(a & b)) / union


def labelled_categories(labels: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key in labels["images"]:
        out.setdefault(key.split("/")[0], []).append(key)
    return out


def measure_iou(data: Path, category: str, keys: list[str], labels: dict) -> tuple[ProductModel, dict, list]:
    normal = index_normals(data / category)[0]
    held = {str((data / k).resolve()) for k in keys}
    train = [p for p in normal.paths if str(p.resolve()) not in held]
    model = ProductModel.build_from_paths(train, category)
    rows, located = [], []
    for key in sorted(keys):
        image = read_image(data / key)
        t0 = time.process_time()
        obj, parts = model.locate(image)
        cpu = time.process_time() - t0
        rec = labels["images"][key]
        gt = raster(rec, None, obj.shape)
        row = {"image": key, "iou": round(iou(obj, gt), 4), "locate_cpu_ms": round(1000 * cpu, 2)}
        if "case" in rec:
            row["body_vs_case_iou"] = round(iou(parts.get("body", np.zeros_like(obj)), raster(rec, ("case",), obj.shape)), 4)
            row["lead_vs_leads_iou"] = round(iou(parts.get("lead", np.zeros_like(obj)), raster(rec, ("leads",), obj.shape)), 4)
            row["leads_found"] = int(parts["lead_labels"].max()) if "lead_labels" in parts else 0
        rows.append(row)
        located.append((key, image, obj, parts, rec))
    summary = {"category": category, "n_build_images": len(train), "n_labelled": len(keys),
               "mean_iou": round(float(np.mean([r["iou"] for r in rows])), 4),
               "min_iou": round(float(np.min([r["iou"] for r in rows])), 4),
               "median_locate_cpu_ms": round(float(np.median([r["locate_cpu_ms"] for r in rows])), 2),
               "build_seconds": round(model.build_seconds, 2), "parts": model.parts, "images": rows}
    # Halves of the labels: method changes after the first run were tried while looking
    # only at the "dev" half (image numbers divisible by 10); the "held" half checks them.
    for half, pick in (("dev", lambda n: n % 10 == 0), ("held", lambda n: n % 10 != 0)):
        ious = [r["iou"] for r in rows if pick(_number(r["image"]))]
        if ious:
            summary[f"{half}_half_mean_iou"] = round(float(np.mean(ious)), 4)
    for k in ("body_vs_case_iou", "lead_vs_leads_iou"):
        if rows and k in rows[0]:
            summary["mean_" + k] = round(float(np.mean([r[k] for r in rows])), 4)
    return model, summary, located


def _number(key: str) -> int:
    """Image number of a label key (``.../005.png`` -> 5); -1 when the name is not a number."""
    stem = Path(key).stem
    return int(stem) if stem.isdigit() else -1


def named_label(defect: str) -> tuple[str, ...] | None:
    for word, names in PART_LABELS.items():
        if word in defect.split("_"):
            return names
    return None  # whole object


def measure_hits(category: str, located: list, samples: int, kb: KnowledgeBase) -> dict:
    out = {}
    for entry in kb.entries(category):
        names = named_label(entry.defect)
        hits = {"product": [], "foreground": []}
        chosen: dict[str, int] = {}
        for seed in range(samples):
            key, image, obj, parts, rec = located[seed % len(located)]
            gt = raster(rec, names, obj.shape)
            for mode in hits:
                rng = np.random.default_rng([seed, 9])
                if mode == "product":
                    spec = sample_spec(entry, image, obj, rng, parts=parts)
                    chosen[spec.params.get("part", "?")] = chosen.get(spec.params.get("part", "?"), 0) + 1
                else:
                    spec = sample_spec(entry, image, foreground(image, "object"), rng)
                fp = footprint(spec, obj.shape)
                frac = float(np.count_nonzero(gt[fp])) / max(1, int(fp.sum()))
                hits[mode].append(frac > 0.5)
        rate = {m: round(float(np.mean(v)), 4) for m, v in hits.items()}
        out[entry.defect] = {"location": entry.location, "named_label": list(names) if names else ["case", "leads"],
                             "hit_rate": rate["product"], "hit_rate_foreground_baseline": rate["foreground"],
                             "ratio_vs_baseline": round(rate["product"] / max(rate["foreground"], 1e-6), 3),
                             "parts_chosen": chosen, "samples": samples}
    return out


def measure_loop(category: str, model: ProductModel, located: list, samples: int, kb: KnowledgeBase) -> dict:
    """The full agent loop (rule policy, procedural editor, measured critic, up to 3 episodes)
    per sample, with and without the product model: CPU seconds, pass rate, and the share of
    final masks mostly (> 50 %) on the labelled part the defect names."""
    from anomalyagent.methods.agent import AgentMethod
    from anomalyagent.methods.base import NormalPool
    from anomalyagent.records import Task

    defects = [e.defect for e in kb.entries(category)]
    out = {}
    for mode, method in (("product", AgentMethod(product=model)), ("foreground", AgentMethod())):
        cpu, passed, on_part = [], [], []
        for seed in range(samples):
            key, image, obj, parts, rec = located[seed % len(located)]
            defect = defects[seed % len(defects)]
            task = Task(image_path=key, category=category, defect_type=defect, seed=seed)
            t0 = time.process_time()
            res = method.synthesize(image, task, np.random.default_rng(seed), NormalPool([]))
            cpu.append(time.process_time() - t0)
            passed.append(res.passed)
            gt = raster(rec, named_label(defect), obj.shape)
            on_part.append(bool(res.mask.any()) and float(gt[res.mask].mean()) > 0.5)
        out[mode] = {"median_cpu_ms_per_sample": round(1000 * float(np.median(cpu)), 1),
                     "mean_cpu_ms_per_sample": round(1000 * float(np.mean(cpu)), 1),
                     "pass_rate": round(float(np.mean(passed)), 3),
                     "final_mask_on_named_part": round(float(np.mean(on_part)), 3), "samples": samples}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder of MVTec-layout categories")
    ap.add_argument("--labels", type=Path, default=Path(__file__).parent / "labels" / "object_masks.json")
    ap.add_argument("--samples", type=int, default=100, help="plans per transistor defect type")
    ap.add_argument("--build-categories", nargs="*", default=["hazelnut", "transistor", "magnetic_tile", "neu_seg", "crackforest"])
    ap.add_argument("--loop-samples", type=int, default=40, help="agent-loop samples timed per mode (transistor)")
    ap.add_argument("--out", type=Path, default=None, help="write results JSON here")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    labels = json.loads(args.labels.read_text())
    kb = KnowledgeBase.default()
    result: dict = {"command": " ".join(["python", "benchmarks/bench_product.py", *(argv or sys.argv[1:])]),
                    "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
                    "machine": f"{platform.machine()}, 2 shared CPU cores, OMP_NUM_THREADS=1",
                    "iou": {}, "part_hit_rate": {}, "build": {}}
    for category, keys in sorted(labelled_categories(labels).items()):
        if not (args.data / category).is_dir():
            continue
        model, summary, located = measure_iou(args.data, category, keys, labels)
        result["iou"][category] = summary
        print(f"{category}: object IoU mean {summary['mean_iou']:.3f} (min {summary['min_iou']:.3f}) over {len(keys)} labelled images; "
              f"dev/held halves {summary.get('dev_half_mean_iou', float('nan')):.3f}/{summary.get('held_half_mean_iou', float('nan')):.3f}; "
              f"locate {summary['median_locate_cpu_ms']:.1f} ms CPU; parts {', '.join(model.parts)}")
        if any("case" in labels["images"][k] for k in keys):
            hits = measure_hits(category, located, args.samples, kb)
            result["part_hit_rate"][category] = hits
            for defect, h in hits.items():
                print(f"  {defect:14s} ({h['location']}): hit {h['hit_rate']:.2f}  foreground baseline {h['hit_rate_foreground_baseline']:.2f}  parts {h['parts_chosen']}")
            if args.loop_samples > 0:
                loop = measure_loop(category, model, located, args.loop_samples, kb)
                result.setdefault("loop", {})[category] = loop
                for mode, row in loop.items():
                    print(f"  loop ({mode}): median {row['median_cpu_ms_per_sample']:.1f} ms CPU/sample, pass {row['pass_rate']:.2f}, "
                          f"final mask on named part {row['final_mask_on_named_part']:.2f}")
    for category in args.build_categories:
        if not (args.data / category).is_dir():
            continue
        normal = index_normals(args.data / category)[0]
        t0 = time.perf_counter()
        model = ProductModel.build_from_paths(list(normal.paths), category)
        result["build"][category] = {"kind": model.kind, "n_images": model.n_images, "build_seconds": round(time.perf_counter() - t0, 2),
                                     "parts": sorted(model.parts)}
        print(f"build {category}: {model.kind}, {model.n_images} images, {time.perf_counter() - t0:.1f} s, parts {sorted(model.parts)}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
