"""Critic calibration, leave one category out: does QE rank real defects above corrupted ones?

Why: the QE score steers the loop and is the task reward later, so it must prefer real
defects to the typical failures of a synthesizer, on products it was NOT tuned on. Real
anomalies have no defect-free twin, so for every real anomaly image A with mask M the
"normal" image is ``reconstruct_normal(A, M)`` (the defect inpainted away) and the real
pair is (normal, A, M). Each pair is then corrupted (anomalyagent.critic.corrupt):
``move`` (off the object, or away from the border for edge defects on textures; skipped
where the knowledge base constrains no location or the defect has no room to move),
``fade`` (20 % contrast), ``seam`` (CutPaste patch, binary edge), ``scale`` (4x), ``flat``
(mean colour, no grain).

Honest protocol:
- each category's anomalies are split as everywhere in the project (eval/split.py: per
  type sorted by name, first n//3 reserved, at least 1 when a type has 2+); only the
  reserved third is ever used to fit anything; every number printed per category is
  measured on its test two-thirds;
- leave one category out: the thresholds used to score category C (critic.calibration:
  the visibility and abnormality ramps, the two pass floors) are fitted on the reserved
  thirds of the OTHER categories given; with a single category there is nothing to fit
  on and the shipped calibration fitted without it is used (critic/calibrations.json,
  ``without:<category>``; the default for a category outside the shipped set, which
  never saw it), said in the output;
- the normal-appearance model of each category (product/appearance.py) is fitted on its
  own ``train/good`` only (no anomalies);
- the product model (product/, built from ``train/good`` only, cached) gives each pair
  its object mask (the foreground; ``move`` goes off it) and the part the knowledge
  names for the defect (``tools.backends.named_part_mask``, as the agent's QE gets it);
- for an object product and a defect that moves or removes material (a bent or cut lead,
  a chipped case, a displaced part: ``critic.judge.moves_material`` or family
  ``missing``), the pseudo-normal is a "normal twin" (``normal_twin``: the best matching
  train/good image, registered on the object, matched on the object's or its compact
  body's outline, pasted inside the mask), since inpainting
  cannot bring back a missing piece; otherwise ``--reconstruct`` inpainting. The JSON
  counts both per category (``pseudo_normals``).

Fit: over a grid of (visibility_good, abnormality_good, incoherence_good, strength_power,
replace_good, seam_good),
among the candidates that can keep the real pass rate (mean over calibration categories)
>= 0.9, the one with the smallest mean shortfall of its corruption AUROCs below the 0.9
target, each AUROC counted only beyond one real anomaly's worth of it (``shortfall``);
then the best mean AUROC of the well-sampled categories (``N_WELL`` reserved anomalies or
more); then the candidate fewest grid steps from ``REFERENCE``; then the largest floors
(of 1.0-3.5) that keep that real pass rate >= 0.9. Why (``fit``): with 4 reserved
anomalies one anomaly moves an AUROC by 0.25, so such a category must not decide the
thresholds that the agent and ``synthesize`` use on every product.

Prints per category the AUROC per corruption and the real pass rate on the test
two-thirds, the calibration it was scored with, the terms that fail real defects, then
the timing (one thread, 256x256). ``--json`` ends with the JSON summary line (null and a
reason where a number cannot be computed, never NaN); ``--out FILE`` also writes it. A
category with at most PAIRS_MAX real test anomalies also lists every pair (score,
halves, terms, raw measurements) under ``pairs``: its AUROCs are counts over a few pairs.

Usage::

    python benchmarks/bench_critic.py --data /work/shared/data --json [--out docs/results/critic.json]
    python benchmarks/bench_critic.py --data /work/shared/data/hazelnut --json   # one category
    python benchmarks/bench_critic.py --data /work/shared/data --fits OLD_calibrations.json --json
        # changed terms under an older commit's fits (no fitting)
"""
from __future__ import annotations

import argparse
import datetime
import itertools
import json
import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from anomalyagent.critic import HARD_FAIL, corrupt, judge
from anomalyagent.critic.calibration import DEFAULT, Calibration, resolve_calibration
from anomalyagent.critic.judge import NO_HARD_FAIL, moves_material, rescore
from anomalyagent.critic.location import EDGE_LOCATIONS
from anomalyagent.eval.split import find_categories, split_category, train_images
from anomalyagent.foreground import foreground
from anomalyagent.images import ImageError, read_image, read_mask
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.product import ProductError, ProductModel
from anomalyagent.product.appearance import fit_appearance
from anomalyagent.records import DefectSpec
from anomalyagent.reconstruct import reconstruct_normal

log = logging.getLogger("bench_critic")
KINDS = ("move", "fade", "seam", "scale", "flat")
GRID_VISIBILITY = (3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0)
GRID_ABNORMALITY = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
GRID_INCOHERENCE = (0.8, 1.2, 1.6, 2.4, 100.0)  # 100: the incoherence check off
GRID_POWER = (0.5, 1.0)
GRID_REPLACE = (0.0, 0.25, 0.5, 1.0)  # 0: the replacement ratio off
GRID_SEAM = (0.1, 0.15, 0.25)  # texture seams: excess sharpness at which the seam term is full
FLOORS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5)
TARGET_AUROC, TARGET_PASS, FIT_PASS = 0.9, 0.85, 0.9
N_WELL = 20  # reserved real anomalies from which a category's mean AUROC breaks ties (one anomaly <= 0.05 AUROC)
REFERENCE = (Calibration().visibility_good, Calibration().abnormality_good, Calibration().incoherence_good,
             Calibration().strength_power, Calibration().replace_good, Calibration().seam_good)  # the terms' hand-set values, all on the grid
PAIRS_MAX = 10  # categories with at most this many real test anomalies list every pair in the JSON
MAX_NORMALS = 100
TWIN_RING = 0.03  # the defect mask grown by this (fraction of the side) is left out when registering
TWIN_NORMALS = 40  # normal images searched for a twin
TWIN_FEATHER = 3.0  # px over which the twin fades in from the mask's border
TWIN_IOU = 0.8  # object- or body-outline IoU (outside the defect) a normal twin needs


def auroc(positive: list[float], negative: list[float]) -> tuple[float | None, str]:
    """(P(random positive > random negative), ties half; reason) or (None, why not)."""
    if not positive or not negative:
        return None, "no real defects" if not positive else "no corrupted pairs"
    p, n = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float((p > n).mean() + 0.5 * (p == n).mean()), ""


def move_target(item: dict) -> np.ndarray | None:
    """Where ``move`` should put the defect, or None when moving is not a corruption."""
    fg = item["foreground"]
    if item["kind"] == "object":
        return ~fg
    if item["entry"].location in EDGE_LOCATIONS:
        h, w = fg.shape
        yy, xx = np.mgrid[:h, :w]
        inset = np.minimum(np.minimum(yy, xx), np.minimum(h - 1 - yy, w - 1 - xx))
        return inset >= 0.3 * min(h, w)
    return None


def corruptions(item: dict, rng: np.random.Generator) -> tuple[dict, str]:
    """The corrupted (edited, mask) pairs of one real item, and why ``move`` is missing."""
    n, a, m = item["normal"], item["image"], item["mask"]
    out = {"fade": corrupt.fade(n, a, m), "seam": corrupt.hard_seam(n, a, m, rng),
           "scale": corrupt.scale_up(n, a, m), "flat": corrupt.flat_blob(n, a, m)}
    target = move_target(item)
    if target is None or not target.any():
        return out, "location unconstrained" if target is None else "no background"
    edited, moved = corrupt.move(n, a, m, target, rng)
    if float(target[moved].mean()) < 0.5:
        return out, "no room to move"
    out["move"] = (edited, moved)
    return out, ""


def _gray(image: np.ndarray) -> np.ndarray:
    return (image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)).astype(np.float32)


def _centroid(mask: np.ndarray) -> tuple[float, float] | None:
    ys, xs = np.nonzero(mask)
    return (float(xs.mean()), float(ys.mean())) if xs.size else None


def normal_twin(image: np.ndarray, mask: np.ndarray, normals: list[tuple],
                obj: np.ndarray, body: np.ndarray | None = None) -> tuple[np.ndarray | None, float]:
    """A pseudo-normal from the product's own normal images, for a defect that moves or
    removes material (a bent or cut lead, a chipped case, a displaced part): inpainting cannot bring back
    the missing piece, the normal set can. ``normals``: (image, object mask) pairs from
    the product model; ``obj``: the object mask of ``image``. The normal is shifted so its
    object lies where this image's object lies outside the (dilated) defect (no shift when
    the defect covers most of the object: a displaced part), the one whose object outline
    then best matches outside the defect is pasted inside ``mask`` only (outside, the pair
    is exactly the anomaly image). (twin or None, that IoU); None below TWIN_IOU. Without
    an anchor the match is the share of the normal's object inside the grown defect.
    ``normals`` may carry a third element, the normal's compact body (product part
    "body"), and ``body`` that of ``image``: the match is then the better of the object's
    and the body's IoU, since thin parts (leads) bend differently from one normal image to
    the next and are the first thing the object mask of a damaged image gets wrong (a lead
    missed outside the defect is no reason to reject a twin whose case fits).
    Only the normal images are searched (train/good), never another anomaly."""
    h, w = mask.shape
    r = max(3, int(round(TWIN_RING * min(h, w))))
    grown = cv2.dilate(mask.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0
    keep = obj & ~grown
    anchor = _centroid(keep) if keep.sum() >= 0.3 * max(int(obj.sum()), 1) else None
    best, best_iou = None, -1.0
    keep_body = body & ~grown if body is not None else None
    for n, n_obj, *rest in normals:
        if n.shape != image.shape:
            continue
        n_body = rest[0] if rest else None
        dx = dy = 0.0
        if anchor is not None:
            c = _centroid(n_obj & ~grown)
            if c is None:
                continue
            dx, dy = anchor[0] - c[0], anchor[1] - c[1]
        shift = np.float32([[1, 0, dx], [0, 1, dy]])
        moved_obj = cv2.warpAffine(n_obj.view(np.uint8), shift, (w, h), flags=cv2.INTER_NEAREST) > 0
        if anchor is None:  # the defect covers the object (a displaced part): the normal's object must lie in it
            iou = float((moved_obj & grown).sum() / max(int(moved_obj.sum()), 1))
        else:
            a, b = obj & ~grown, moved_obj & ~grown
            iou = float((a & b).sum() / max(int((a | b).sum()), 1))
            if keep_body is not None and n_body is not None and keep_body.any():
                moved_body = cv2.warpAffine(n_body.view(np.uint8), shift, (w, h), flags=cv2.INTER_NEAREST) > 0
                b = moved_body & ~grown
                iou = max(iou, float((keep_body & b).sum() / max(int((keep_body | b).sum()), 1)))
        if iou > best_iou:
            best_iou = iou
            best = cv2.warpAffine(n, shift, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if best is None or best_iou < TWIN_IOU:
        return None, max(best_iou, 0.0)
    # Feathered inside the mask (full TWIN_FEATHER px in): the pseudo-normal has no step at
    # the mask's border, so a faded copy is not failed for a seam our pasting made.
    inside = cv2.distanceTransform(np.pad(mask.view(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    alpha = np.clip(inside / TWIN_FEATHER, 0.0, 1.0)
    if image.ndim == 3:
        alpha = alpha[..., None]
    twin = np.clip(alpha * best.astype(np.float32) + (1 - alpha) * image.astype(np.float32) + 0.5, 0, 255)
    return twin.astype(np.uint8), best_iou


def _object_and_body(product, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(object mask, compact body mask or None) of ``image`` from the product model."""
    obj, parts = product.locate(image)
    body = parts.get("body")
    return obj, (body if body is not None and body.shape == obj.shape and body.any() else None)


def part_mask(entry, defect: str, parts: dict[str, np.ndarray]) -> np.ndarray | None:
    """The named part of the knowledge entry on this image (as the agent's QE gets it)."""
    from anomalyagent.tools.backends import named_part_mask

    return named_part_mask(getattr(entry, "location", "anywhere"), defect, parts,
                           whole=str((getattr(entry, "priors", None) or {}).get("params", {}).get("whole", "")))


def entry_spec(entry, defect: str) -> DefectSpec:
    """The spec the judge reads the family from (edits that move material): the entry's own."""
    params = dict((getattr(entry, "priors", None) or {}).get("params", {}) or {})
    return DefectSpec(family=getattr(entry, "family", "blob"), defect_type=defect, params=params)


def load_category(root: Path, kb: KnowledgeBase, method: str, limit: int, seed: int,
                  cache: Path | None = None) -> dict:
    """Reserved and test anomalies of one category (pairs built once), its normal model and
    its product model (object and part masks; train/good only)."""
    category = root.name
    kind = getattr(kb.category(category), "kind", "auto")
    split = split_category(root)
    t = time.perf_counter()
    normals = [read_image(p) for p in train_images(root)[:MAX_NORMALS]]
    model = fit_appearance(normals, np.random.default_rng(seed))
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    try:
        product = ProductModel.build(root, cache_dir=cache, category=category, kind=kind if kind != "auto" else "auto")
    except ProductError as exc:
        log.warning("%s: no product model (%s); judging on the foreground estimate", category, exc)
        product = None
    product_s = time.perf_counter() - t
    twins = {"used": 0, "inpainted": 0}
    located = [(n, *_object_and_body(product, n)) for n in normals[:TWIN_NORMALS]] if product is not None else []
    sets: dict[str, list[dict]] = {}
    for name, records in (("reserved", split.reserved), ("test", [r for r in split.test if r.is_anomaly])):
        items = []
        for i, rec in enumerate(records[: limit or None]):
            try:
                image = read_image(rec.image)
                mask = read_mask(rec.mask, image.shape[:2])
            except ImageError as exc:
                log.warning("skipped: %s", exc)
                continue
            if not mask.any():
                continue
            entry = kb.lookup(category, rec.defect).entry
            spec = entry_spec(entry, rec.defect)
            twin = None
            if located and product.kind == "object" and (moves_material(spec) or spec.family == "missing"):
                twin = normal_twin(image, mask, located, *_object_and_body(product, image))[0]
            twins["used" if twin is not None else "inpainted"] += 1
            normal = twin if twin is not None else reconstruct_normal(image, mask, method)
            if product is not None:
                fg, parts = product.locate(normal)
                part = part_mask(entry, rec.defect, parts)
            else:
                fg, part = foreground(normal, kind), None
            item = {"category": category, "defect": rec.defect, "image": image, "mask": mask, "normal": normal,
                    "kind": kind, "entry": entry, "foreground": fg, "part": part,
                    "spec": spec}
            pairs, why = corruptions(item, np.random.default_rng([seed, i, name == "test"]))
            item["pairs"], item["skip_move"] = {"real": (image, mask), **pairs}, why
            items.append(item)
        sets[name] = items
    return {"name": category, "model": model, "fit_s": fit_s, "n_normals": len(normals), "product_s": product_s,
            "product": finite(product.summary()) if product is not None else None, "twins": twins, **sets}


def judge_all(items: list[dict], model) -> list[dict]:
    """Judge every real pair and its corruptions once (default calibration); one record
    per judgement. Other calibrations are applied with ``critic.judge.rescore``."""
    out = []
    for item in items:
        for kind, (edited, mask) in item["pairs"].items():
            j = judge(item["normal"], edited, mask, spec=item["spec"], entry=item["entry"], kind=item["kind"],
                      foreground=item["foreground"], appearance=model, part=item["part"])
            out.append({"category": item["category"], "defect": item["defect"], "kind": kind, "judgement": j,
                        "skip_move": item["skip_move"] if kind == "real" else ""})
    return out


def evaluate(judged: list[dict], cal: Calibration) -> list[dict]:
    """Rows under calibration ``cal`` (floors applied later by ``passes``)."""
    rows = []
    for rec in judged:
        j = rescore(rec["judgement"], cal)
        broken = any(v < HARD_FAIL for k, v in j.terms.items() if k not in NO_HARD_FAIL)
        rows.append({**{k: v for k, v in rec.items() if k != "judgement"}, "score": j.score, "location": j.location,
                     "quality": j.quality, "broken": broken, "terms": j.terms, "measured": j.measured})
    return rows


def passes(row: dict, cal: Calibration) -> bool:
    """The judge's pass rule, recomputed for other floors (same as critic.judge)."""
    return (row["score"] > 5.0 and not row["broken"] and row["location"] >= cal.location_floor
            and row["quality"] >= cal.quality_floor)


def summary(rows: list[dict], cal: Calibration) -> dict:
    """AUROC per corruption, pass rates, counts; null + reason instead of NaN."""
    real = [r for r in rows if r["kind"] == "real"]
    out: dict = {"n_real": len(real), "real_pass_rate": None, "auroc": {}, "auroc_reason": {}, "n": {},
                 "pass_rate": {}, "real_failing_terms": {}}
    if real:
        out["real_pass_rate"] = round(float(np.mean([passes(r, cal) for r in real])), 4)
    for kind in KINDS:
        sub = [r for r in rows if r["kind"] == kind]
        value, why = auroc([r["score"] for r in real], [r["score"] for r in sub])
        out["auroc"][kind] = None if value is None else round(value, 4)
        if why:
            out["auroc_reason"][kind] = why
        out["n"][kind] = len(sub)
        out["pass_rate"][kind] = round(float(np.mean([passes(r, cal) for r in sub])), 4) if sub else None
    for r in real:
        if not passes(r, cal):
            for name, v in r["terms"].items():
                if v < 0.5:
                    out["real_failing_terms"][name] = out["real_failing_terms"].get(name, 0) + 1
            if r["quality"] < cal.quality_floor:
                out["real_failing_terms"]["quality floor"] = out["real_failing_terms"].get("quality floor", 0) + 1
    if 0 < len(real) <= PAIRS_MAX:  # a few anomalies: every pair, so each AUROC step can be read
        out["pairs"] = [{"defect": r["defect"], "kind": r["kind"], "score": r["score"], "location": r["location"],
                         "quality": r["quality"], "passed": passes(r, cal), "terms": r["terms"],
                         "measured": r["measured"]} for r in rows]
    return out


def shortfall(rows: list[dict]) -> tuple[float, float, int]:
    """(shortfall, mean AUROC, real anomalies) of one category's rows: what the fit
    minimises, then (well-sampled categories only) maximises.

    The shortfall (AUROC units, summed over the corruptions) of a corruption's AUROC ``a``
    is ``max(0, TARGET_AUROC - a - 1/n)`` with ``n`` the smaller of the real and corrupted
    counts: one real anomaly (or one corruption) ranked differently moves an AUROC by up
    to 1/n, so a shortfall no larger than that is within what a single anomaly decides and
    is not counted. For 60 anomalies the allowance is 0.017; for 4 it is 0.25, so a
    category with 4 anomalies moves the fit only where it misses the target by more than
    one of them."""
    s = summary(rows, DEFAULT)
    values = {k: v for k, v in s["auroc"].items() if v is not None}
    if not values:
        return 0.0, 0.0, s["n_real"]
    short = sum(max(0.0, TARGET_AUROC - v - 1.0 / min(s["n_real"], s["n"][k])) for k, v in values.items())
    return float(short), float(np.mean(list(values.values()))), s["n_real"]


def real_pass(rows_by_cat: dict[str, list[dict]], names: list[str], cal: Calibration) -> float:
    """Real pass rate averaged over the categories ``names`` (each category weighs the same)."""
    rates = [np.mean([passes(r, cal) for r in rows_by_cat[c] if r["kind"] == "real"])
             for c in names if any(r["kind"] == "real" for r in rows_by_cat[c])]
    return float(np.mean(rates)) if rates else 0.0


def grid_steps(key: tuple) -> int:
    """Grid steps (summed over the six axes) from REFERENCE to the candidate ``key``."""
    axes = (GRID_VISIBILITY, GRID_ABNORMALITY, GRID_INCOHERENCE, GRID_POWER, GRID_REPLACE, GRID_SEAM)
    return sum(abs(axis.index(v) - axis.index(r)) for axis, v, r in zip(axes, key, REFERENCE))


def fit(calib_rows: dict[tuple, dict[str, list[dict]]], names: list[str]) -> Calibration:
    """Fit on the reserved thirds of ``names`` only.

    Among the grid candidates whose real pass rate (mean over categories, lowest floors)
    can reach FIT_PASS (all candidates when none can), the best by, in order:
    1. the smallest mean (over categories) ``shortfall``, which counts an AUROC's miss
       only beyond one real anomaly's worth of it (1/n AUROC);
    2. the largest mean AUROC (mean over corruptions, then categories) of the categories
       with at least N_WELL reserved anomalies (of all when none has that many);
    3. the fewest grid steps from REFERENCE (the terms' hand-set values), then the grid
       key, so that an exact tie never depends on the grid's order.
    Then the largest floors keeping that real pass rate >= FIT_PASS.

    Why: a reserved third of 4 anomalies (hazelnut, transistor) moves an AUROC in steps of
    up to 0.25 (one discordant real/corrupted pair: 1/16); when every
    well-sampled category was indifferent, such a category alone chose the shipped
    default (issue 9: visibility full at CNR 24 instead of 6, which cost magnetic_tile
    real pass 0.954 -> 0.862). Under this order it moves the fit only through a miss of
    more than one anomaly (step 1), never through a near-tie (step 2)."""
    if not names:
        return DEFAULT

    def calibration(key, lf: float, qf: float) -> Calibration:
        return Calibration(visibility_good=key[0], abnormality_good=key[1], incoherence_good=key[2],
                           strength_power=key[3], replace_good=key[4], seam_good=key[5], location_floor=lf,
                           quality_floor=qf,
                           fitted_on=sorted(names))

    lowest = FLOORS[0]
    feasible = [k for k in calib_rows if real_pass(calib_rows[k], names, calibration(k, lowest, lowest)) >= FIT_PASS]

    def objective(k) -> tuple:
        parts = {c: shortfall(calib_rows[k][c]) for c in names}
        well = [c for c in names if parts[c][2] >= N_WELL] or list(names)
        return (-float(np.mean([p[0] for p in parts.values()])), float(np.mean([parts[c][1] for c in well])),
                -grid_steps(k), tuple(-v for v in k))

    best = max(feasible or list(calib_rows), key=objective)
    lf = max([f for f in FLOORS if real_pass(calib_rows[best], names, calibration(best, f, lowest)) >= FIT_PASS],
             default=lowest)
    qf = max([f for f in FLOORS if real_pass(calib_rows[best], names, calibration(best, lf, f)) >= FIT_PASS],
             default=lowest)
    return calibration(best, lf, qf)


def timing(items: list[dict], seed: int, repeats: int = 40) -> dict[str, float]:
    """Median and p90 ms per judge() at 256x256, one thread, with the category's normal
    model: wall time and this process's CPU time (the machine is shared, so wall time
    includes waiting for a core)."""
    if not items:
        return {}
    cv2.setNumThreads(1)
    rng = np.random.default_rng(seed)
    times = []
    for k in rng.choice(len(items), size=min(repeats, len(items)), replace=False):
        it = items[int(k)]
        n, a = (cv2.resize(x, (256, 256), interpolation=cv2.INTER_AREA) for x in (it["normal"], it["image"]))
        m = cv2.resize(it["mask"].astype(np.uint8), (256, 256), interpolation=cv2.INTER_NEAREST).astype(bool)
        if not m.any():
            continue
        t, c = time.perf_counter(), time.process_time()
        judge(n, a, m, spec=it["spec"], entry=it["entry"], kind=it["kind"], appearance=it["model"])
        times.append(((time.perf_counter() - t) * 1000.0, (time.process_time() - c) * 1000.0))
    if not times:
        return {}
    wall, cpu = np.asarray(times).T
    return {"wall_ms_median": round(float(np.median(wall)), 2), "wall_ms_p90": round(float(np.percentile(wall, 90)), 2),
            "cpu_ms_median": round(float(np.median(cpu)), 2), "cpu_ms_p90": round(float(np.percentile(cpu, 90)), 2)}


def finite(value):
    """``value`` with every non-finite float replaced by None (the JSON never holds NaN)."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def shipped_calibrations(result: dict) -> dict:
    """The package's calibration set (critic/calibrations.json) from one run's result: the
    fit on all given categories ("default") and, per category, the fit without it."""
    return {"note": "written by benchmarks/bench_critic.py --write-calibrations; do not edit by hand",
            "command": result["command"], "date": result["date"], "default": result["calibration_all"],
            "without": {name: c["calibration"] for name, c in sorted(result["categories"].items())
                        if name not in c["calibration"]["fitted_on"]}}


def read_fits(path: Path) -> dict:
    """A calibration set as ``shipped_calibrations`` writes it: {"default": Calibration,
    "without": {category: Calibration}}; ValueError naming the file otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {"default": Calibration.from_dict(data["default"]),
                "without": {str(k): Calibration.from_dict(v) for k, v in dict(data.get("without", {})).items()}}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a calibration set ({exc})") from None


def given_fit(fits: dict, category: str) -> Calibration:
    """The fit without ``category`` from a calibration set; its default when that never saw it."""
    if category in fits["without"]:
        return fits["without"][category]
    if category in fits["default"].fitted_on:
        raise ValueError(f"the calibration set has no fit without {category!r}")
    return fits["default"]


def fmt(v: float | None) -> str:
    return "   n/a" if v is None else f"{v:6.3f}"


def print_category(name: str, s: dict, cal: Calibration, skipped: dict[str, int], names_other: list[str]) -> None:
    fitted = ", ".join(cal.fitted_on)
    if not names_other:
        fitted = f"the shipped fit without {name} ({fitted}): no other category given"
    print(f"\n## {name} (test two-thirds): {s['n_real']} real, real pass rate {fmt(s['real_pass_rate'])}; "
          f"thresholds fitted on {fitted}")
    print(f"   calibration: visibility_good {cal.visibility_good:g}, abnormality_good {cal.abnormality_good:g}, "
          f"power {cal.strength_power:g}, incoherence_good {cal.incoherence_good:g}, replace_good {cal.replace_good:g}, seam_good {cal.seam_good:g}, floors location {cal.location_floor:g} quality {cal.quality_floor:g}")
    print(f"{'corruption':<11}{'n':>5}{'AUROC':>8}{'pass':>8}")
    for kind in KINDS:
        print(f"{kind:<11}{s['n'][kind]:>5}{fmt(s['auroc'][kind]):>8}{fmt(s['pass_rate'][kind]):>8}"
              + (f"  ({s['auroc_reason'][kind]})" if kind in s["auroc_reason"] else ""))
    if skipped:
        print("move skipped: " + ", ".join(f"{k} ({v})" for k, v in sorted(skipped.items())))
    if s["real_failing_terms"]:
        print("terms failing real defects: " + ", ".join(f"{k} {v}" for k, v in sorted(s["real_failing_terms"].items())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="/work/shared/data", help="an MVTec-layout category folder, or a folder of them")
    parser.add_argument("--categories", nargs="*", help="category folder names (default: all found)")
    parser.add_argument("--reconstruct", default="telea", help="reconstruct_normal method for the pseudo-normals")
    parser.add_argument("--limit", type=int, default=0, help="at most this many anomalies per split and category (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--product-cache", default="", help="folder for the product models (default: the package's "
                        "cache folder, $ANOMALYAGENT_CACHE or ~/.cache/anomalyagent)")
    parser.add_argument("--json", action="store_true", help="end with the JSON summary line")
    parser.add_argument("--out", default="", help="also write the JSON summary to this file")
    parser.add_argument("--write-calibrations", default="", metavar="FILE",
                        help="write the shipped calibration set (the all-category fit and each fit without one "
                        "category) to FILE, e.g. src/anomalyagent/critic/calibrations.json")
    parser.add_argument("--fits", default="", metavar="FILE",
                        help="score each category with the fit without it from FILE, a calibration set as "
                        "--write-calibrations writes (e.g. an older commit's critic/calibrations.json), instead of "
                        "fitting: what changed terms do under unchanged thresholds")
    args = parser.parse_args(argv)
    if args.fits and args.write_calibrations:
        print("error: --fits scores with given fits; it cannot write new ones (--write-calibrations)", file=sys.stderr)
        return 2
    try:
        given = read_fits(Path(args.fits)) if args.fits else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    cv2.setNumThreads(1)
    kb = KnowledgeBase.default()
    try:
        roots = find_categories(args.data)
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.categories:
        roots = [r for r in roots if r.name in set(args.categories)]
    if given:
        try:
            for root in roots:
                given_fit(given, root.name)
        except ValueError as exc:
            print(f"error: {args.fits}: {exc}", file=sys.stderr)
            return 2
    cats = []
    for root in roots:
        try:
            cats.append(load_category(root, kb, args.reconstruct, args.limit, args.seed,
                                      Path(args.product_cache) if args.product_cache else None))
        except ImageError as exc:
            print(f"skipped {root.name}: {exc}", file=sys.stderr)
    grid = list(itertools.product(GRID_VISIBILITY, GRID_ABNORMALITY, GRID_INCOHERENCE, GRID_POWER, GRID_REPLACE,
                                  GRID_SEAM))
    judged = {c["name"]: {split: judge_all(c[split], c["model"]) for split in ("reserved", "test")} for c in cats}
    calib_rows = {} if given else {key: {c["name"]: evaluate(judged[c["name"]]["reserved"], Calibration(
        visibility_good=key[0], abnormality_good=key[1], incoherence_good=key[2], strength_power=key[3],
        replace_good=key[4], seam_good=key[5]))
        for c in cats} for key in grid}
    names = [c["name"] for c in cats]
    result: dict = {"command": "python benchmarks/bench_critic.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                    "date": datetime.date.today().isoformat(), "machine": "2 shared CPU cores, one thread",
                    "protocol": "leave one category out; thresholds fitted on the other categories' reserved first "
                                "third; scores on the test two-thirds", "categories": {}}
    if given:
        result["fits_from"] = args.fits
    for c in cats:
        others = [n for n in names if n != c["name"]]
        if given:
            cal = given_fit(given, c["name"])
        else:
            cal = fit(calib_rows, others) if others else resolve_calibration(f"without:{c['name']}")
        rows = evaluate(judged[c["name"]]["test"], cal)
        s = summary(rows, cal)
        skipped: dict[str, int] = {}
        for r in rows:
            if r["skip_move"]:
                skipped[r["skip_move"]] = skipped.get(r["skip_move"], 0) + 1
        print_category(c["name"], s, cal, skipped, others)
        missed = [f"{k} AUROC {v:.3f} < {TARGET_AUROC}" for k, v in s["auroc"].items() if v is not None and v < TARGET_AUROC]
        if s["real_pass_rate"] is not None and s["real_pass_rate"] < TARGET_PASS:
            missed.append(f"real pass rate {s['real_pass_rate']:.3f} < {TARGET_PASS}")
        held_out = c["name"] not in cal.fitted_on
        if not held_out:
            print(f"   NOTE: {c['name']} is among the default calibration's categories (its reserved third, never its "
                  "test two-thirds): not a leave-one-category-out number")
        result["categories"][c["name"]] = {**s, "calibration": cal.to_dict(), "held_out": held_out, "move_skipped": skipped,
                                           "normal_model": {"train_good_images": c["n_normals"], "fit_s": round(c["fit_s"], 2)},
                                           "product_model": {"build_or_load_s": round(c["product_s"], 2),
                                                             **(c["product"] or {"none": True})},
                                           "pseudo_normals": c["twins"],
                                           "targets_missed": missed}
    result["calibration_all"] = (given["default"] if given else fit(calib_rows, names)).to_dict()
    result["timing_256"] = timing([{**it, "model": c["model"]} for c in cats for it in c["test"]], args.seed)
    print(("\ndefault calibration of the given fits: " if given else "\ncalibration fitted on all given "
           "categories' reserved thirds (the committed default candidate): ") + json.dumps(result["calibration_all"]))
    print("timing at 256x256, one thread: " + json.dumps(result["timing_256"]))
    print("\n| category | " + " | ".join(KINDS) + " | real pass |")
    print("|---" * (len(KINDS) + 2) + "|")
    for name, s in result["categories"].items():
        print(f"| {name} | " + " | ".join(fmt(s["auroc"][k]).strip() for k in KINDS) + f" | {fmt(s['real_pass_rate']).strip()} |")
    text = json.dumps(result, allow_nan=False)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
    if args.write_calibrations:
        Path(args.write_calibrations).write_text(json.dumps(shipped_calibrations(result), indent=1, allow_nan=False) + "\n")
    if args.json:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
