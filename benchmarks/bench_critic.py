"""Critic calibration: does the QE score rank real defects above corrupted ones?

Why: the QE score steers the loop and is the task reward later, so it must prefer real
defects to the typical failures of a synthesizer. Real anomalies have no defect-free
twin, so for every real anomaly image A with mask M the "normal" image is
``reconstruct_normal(A, M)`` (the defect inpainted away) and the real pair is
(normal, A, M). Each pair is then corrupted (anomalyagent.critic.corrupt):

- ``move``: the defect carried off the object onto the background (object categories),
  or away from the part's border for edge-type defects on textures; skipped where the
  knowledge base puts no constraint on the location (a blowhole elsewhere on a tile is
  still a real-looking blowhole) or where the defect is too big to leave its region
  (under half of it would land in the target);
- ``fade``: 20 % of the change's contrast;
- ``seam``: a CutPaste patch (background from elsewhere, binary edge);
- ``scale``: the defect 4x larger;
- ``flat``: the defect replaced by its mean colour.

It prints, per category, AUROC of the score (real = positive) per corruption and pass
rates, then the pooled table, the timing (single thread, pairs resized to 256x256), and
as its last line a JSON object ``{"auroc": {kind: float}, "real_pass_rate": float}``.

With ``--learned`` the EfficientNet-Lite0 realism term is added; its bank of real defect
features is cross-fitted: the anomalies of a category are split in two folds by index
parity and each fold is judged against a bank built from the other fold only, so no
image is ever compared with its own features.

Usage::

    python benchmarks/bench_critic.py --data /work/shared/data [--json] [--learned]
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np

from anomalyagent.critic import judge
from anomalyagent.critic import corrupt
from anomalyagent.critic.location import EDGE_LOCATIONS
from anomalyagent.eval.split import index_test
from anomalyagent.foreground import foreground
from anomalyagent.images import read_image, read_mask
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.reconstruct import reconstruct_normal

log = logging.getLogger("bench_critic")
KINDS = ("move", "fade", "seam", "scale", "flat")


def auroc(positive: list[float], negative: list[float]) -> float:
    """P(score of a random positive > a random negative), ties counting half."""
    if not positive or not negative:
        return float("nan")
    p, n = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float((p > n).mean() + 0.5 * (p == n).mean())


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


def corruptions(item: dict, rng: np.random.Generator) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], str]:
    """The corrupted (edited, mask) pairs of one real item, and why ``move`` is missing."""
    n, a, m = item["normal"], item["image"], item["mask"]
    out = {"fade": corrupt.fade(n, a, m), "seam": corrupt.hard_seam(n, a, m, rng),
           "scale": corrupt.scale_up(n, a, m), "flat": corrupt.flat_blob(n, a, m)}
    target = move_target(item)
    if target is None:
        return out, "location unconstrained"
    edited, moved = corrupt.move(n, a, m, target, rng)
    if float(target[moved].mean()) < 0.5:
        return out, "no room to move"
    out["move"] = (edited, moved)
    return out, ""


def load_items(root: Path, kb: KnowledgeBase, method: str, limit: int) -> list[dict]:
    """Real anomalies of one category folder with their masks and pseudo-normals."""
    category = root.name
    kind = getattr(kb.category(category), "kind", "auto")
    items = []
    for it in [t for t in index_test(root) if t.is_anomaly][: limit or None]:
        image = read_image(it.image)
        mask = read_mask(it.mask, image.shape[:2])
        if not mask.any():
            continue
        normal = reconstruct_normal(image, mask, method)
        items.append({"category": category, "defect": it.defect, "image": image, "mask": mask, "normal": normal,
                      "kind": kind, "entry": kb.lookup(category, it.defect).entry,
                      "foreground": foreground(normal, kind)})
    return items


def evaluate(items: list[dict], seed: int, banks: list | None) -> list[dict]:
    """Judge every real pair and its corruptions; one row per judgement."""
    rows = []
    for i, item in enumerate(items):
        rng = np.random.default_rng([seed, i])
        pairs, why = corruptions(item, rng)
        pairs = {"real": (item["image"], item["mask"]), **pairs}
        bank = banks[i % 2] if banks else None
        for kind, (edited, mask) in pairs.items():
            j = judge(item["normal"], edited, mask, entry=item["entry"], kind=item["kind"],
                      foreground=item["foreground"], learned=bank is not None, bank=bank)
            rows.append({"category": item["category"], "defect": item["defect"], "kind": kind, "score": j.score,
                         "passed": j.passed, "terms": j.terms, "skip_move": why if kind == "real" else ""})
    return rows


def cross_fitted_banks(items: list[dict]) -> list:
    """Two realism banks: bank[k] holds the real defects of the fold with parity 1 - k."""
    from anomalyagent.critic.learned import build_bank

    return [build_bank([(it["image"], it["mask"]) for j, it in enumerate(items) if j % 2 != k]) for k in (0, 1)]


def summary(rows: list[dict]) -> dict:
    real = [r["score"] for r in rows if r["kind"] == "real"]
    out = {"n_real": len(real), "real_pass_rate": float(np.mean([r["passed"] for r in rows if r["kind"] == "real"])),
           "auroc": {}, "n": {}, "pass_rate": {}}
    for kind in KINDS:
        scores = [r["score"] for r in rows if r["kind"] == kind]
        out["n"][kind] = len(scores)
        out["auroc"][kind] = auroc(real, scores)
        out["pass_rate"][kind] = float(np.mean([r["passed"] for r in rows if r["kind"] == kind])) if scores else float("nan")
    return out


def print_table(title: str, rows: list[dict]) -> dict:
    s = summary(rows)
    print(f"\n## {title}: {s['n_real']} real anomalies, real pass rate {s['real_pass_rate']:.3f}")
    print(f"{'corruption':<11}{'n':>5}{'AUROC':>8}{'pass rate':>11}")
    for kind in KINDS:
        print(f"{kind:<11}{s['n'][kind]:>5}{s['auroc'][kind]:>8.3f}{s['pass_rate'][kind]:>11.3f}")
    reasons: dict[str, int] = {}
    for r in rows:
        if r["skip_move"]:
            reasons[r["skip_move"]] = reasons.get(r["skip_move"], 0) + 1
    if reasons:
        print("move skipped: " + ", ".join(f"{k} ({v})" for k, v in sorted(reasons.items())))
    return s


def print_defects(rows: list[dict]) -> None:
    print(f"{'defect':<10}{'n':>4}{'real pass':>10}  " + "  ".join(f"{k:>6}" for k in KINDS) + "   (AUROC)")
    for d in sorted({r["defect"] for r in rows}):
        sub = [r for r in rows if r["defect"] == d]
        s = summary(sub)
        print(f"{d:<10}{s['n_real']:>4}{s['real_pass_rate']:>10.3f}  " + "  ".join(f"{s['auroc'][k]:>6.3f}" for k in KINDS))


def timing(items: list[dict], seed: int, learned_bank, repeats: int = 60) -> dict[str, float]:
    """Median ms per judge() at 256x256, one thread; pairs resized from the real items."""
    cv2.setNumThreads(1)
    rng = np.random.default_rng(seed)
    pick = [items[int(i)] for i in rng.choice(len(items), size=min(repeats, len(items)), replace=False)]
    pairs = []
    for it in pick:
        size = (256, 256)
        n, a = cv2.resize(it["normal"], size, interpolation=cv2.INTER_AREA), cv2.resize(it["image"], size, interpolation=cv2.INTER_AREA)
        m = cv2.resize(it["mask"].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
        if m.any():
            pairs.append((n, a, m, it))
    out = {}
    for name, bank in (("measured", None), ("learned", learned_bank)):
        if name == "learned" and bank is None:
            continue
        if bank is not None:
            import torch

            torch.set_num_threads(1)
        times = []
        for n, a, m, it in pairs:
            t = time.perf_counter()
            judge(n, a, m, entry=it["entry"], kind=it["kind"], learned=bank is not None, bank=bank)
            times.append((time.perf_counter() - t) * 1000.0)
        out[f"{name}_ms_median"] = float(np.median(times))
        out[f"{name}_ms_p90"] = float(np.percentile(times, 90))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="/work/shared/data", help="folder of MVTec-layout categories")
    parser.add_argument("--categories", nargs="*", help="category folder names (default: all with test/)")
    parser.add_argument("--reconstruct", default="telea", help="reconstruct_normal method for the pseudo-normals")
    parser.add_argument("--learned", action="store_true", help="add the EfficientNet-Lite0 realism term (cross-fitted banks)")
    parser.add_argument("--limit", type=int, default=0, help="at most this many anomalies per category (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="end with the JSON summary line")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    kb = KnowledgeBase.default()
    root = Path(args.data)
    names = args.categories or sorted(p.name for p in root.iterdir() if (p / "test").is_dir())
    all_rows, all_items, bank_for_timing = [], [], None
    for name in names:
        items = load_items(root / name, kb, args.reconstruct, args.limit)
        banks = cross_fitted_banks(items) if args.learned else None
        bank_for_timing = bank_for_timing or (banks[0] if banks else None)
        rows = evaluate(items, args.seed, banks)
        print_table(name, rows)
        print_defects(rows)
        all_rows += rows
        all_items += items
    pooled = print_table("all categories (pooled)", all_rows)
    t = timing(all_items, args.seed, bank_for_timing)
    print("\ntiming at 256x256, one thread: " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()))
    if args.json:
        print(json.dumps({"auroc": {k: round(v, 4) for k, v in pooled["auroc"].items()},
                          "real_pass_rate": round(pooled["real_pass_rate"], 4)}))


if __name__ == "__main__":
    main()
