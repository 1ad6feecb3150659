"""Does each piece of critic advice, applied the way the rule policy applies it, improve
the critic term that gave it?

Why: after a failed QE the rule policy refines the spec with ``planning.refine`` (one
parameter change per advice item). If an advice's change does not move its own term,
the "refinement" is only a new random draw. For each case: a knowledge-base spec on a
seeded synthetic image (a nut-like part on cloth for object categories' entries, a grey
ground surface for texture categories'; hazelnut and magnetic_tile by default), randomly
pushed towards failure (hard edges, an extreme texture or intensity, a wrong size, off
the object); render, judge with the measured critic (as the QE tool does), then for
every advice item separately: refine with that item alone, render again with the same
render seed, judge again and compare the advising term before and after ("improved": it
went up; "score not worse": the whole verdict's score did not go down, so the change
did not just trade one term for another).

Usage::

    python benchmarks/bench_advice.py [--cases 150] [--size 192] [--categories hazelnut,magnetic_tile]
        [--json docs/results/bench_advice.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import cv2
import numpy as np

from anomalyagent.critic import judge
from anomalyagent.foreground import foreground
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.planning import refine, sample_spec
from anomalyagent.records import TEXTURES
from anomalyagent.render import render
from anomalyagent.synthetic import object_image, texture_image


def perturb(spec, rng: np.random.Generator):
    """Push a planned spec towards a failing QE in one or two random ways."""
    out = spec
    for _ in range(int(rng.integers(1, 3))):
        k = int(rng.integers(6))
        if k == 0:
            out = out.replace(blend="hard")
        elif k == 1:
            out = out.replace(texture=str(rng.choice(TEXTURES)))
        elif k == 2:
            out = out.replace(intensity=float(rng.choice([0.05, 0.1, 1.0])))
        elif k == 3:
            out = out.replace(size=float(np.clip(out.size * rng.choice([0.25, 3.0]), 0.01, 0.9)))
        elif k == 4:
            out = out.replace(center=(float(rng.uniform(0.02, 0.98)), float(rng.choice([0.03, 0.97]))))
        else:
            out = out.replace(aspect=float(np.clip(out.aspect * rng.choice([0.2, 5.0]), 1.0, 60.0)))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=150)
    p.add_argument("--size", type=int, default=192)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None)
    p.add_argument("--details", type=int, default=0, help="print up to N non-improving cases per advice")
    p.add_argument("--categories", default="hazelnut,magnetic_tile",
                   help="knowledge-base categories, comma-separated, taken in turn (object categories on the "
                        "synthetic nut-like part, texture categories on the synthetic grey surface)")
    args = p.parse_args()
    cv2.setNumThreads(1)
    kb = KnowledgeBase.default()
    names = [c.strip() for c in args.categories.split(",") if c.strip()]
    groups = {c: kb.entries(c) for c in names}
    empty = [c for c, entries in groups.items() if not entries]
    if empty:
        p.error(f"--categories: no knowledge-base entries for {', '.join(empty)}")
    kinds = {c: kb.category(c).kind for c in names}
    rng = np.random.default_rng(args.seed)
    stats: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    detail: dict[tuple[str, str, str], list[tuple]] = defaultdict(list)
    score: dict[tuple[str, str, str], list[float]] = defaultdict(list)  # the whole verdict's score change
    start = time.perf_counter()
    for case in range(args.cases):
        category = names[case % len(names)]
        kind = "object" if kinds[category] == "object" else "texture"
        image = object_image(np.random.default_rng([args.seed, case]), args.size) if kind == "object" else \
            texture_image(np.random.default_rng([args.seed, case]), args.size)
        fg = foreground(image, kind)
        entry = groups[category][int(rng.integers(len(groups[category])))]
        spec = perturb(sample_spec(entry, image, fg, rng), rng)
        render_seed = int(rng.integers(2**31))
        edited, _ = render(image, spec, np.random.default_rng(render_seed))
        before = judge(image, edited, None, spec=spec, entry=entry, kind=kind, foreground=fg)
        for item in before.advice:
            term = item["term"]
            new = refine(spec, [item], entry, fg, np.random.default_rng([args.seed, case, 7]))
            edited2, _ = render(image, new, np.random.default_rng(render_seed))
            after = judge(image, edited2, None, spec=new, entry=entry, kind=kind, foreground=fg)
            direction = item["direction"] if item["parameter"] != "location" else "move"
            if item["parameter"] in ("blend", "texture", "color"):  # which step was taken
                field = item["parameter"]
                direction = f"{direction} ({getattr(spec, field)} -> {getattr(new, field)})"
            key = (term, item["parameter"], direction)
            stats[key].append(after.terms.get(term, 0.0) - before.terms.get(term, 0.0))
            score[key].append(after.score - before.score)
            detail[key].append((spec.family, spec.blend, spec.color, spec.intensity, round(stats[key][-1], 3)))
    wall = time.perf_counter() - start
    rows = []
    print("| term | parameter | direction | n | improved | not worse | mean change | score not worse |")
    print("|---|---|---|---|---|---|---|---|")
    for (term, parameter, direction), deltas in sorted(stats.items()):
        d = np.asarray(deltas)
        sc = np.asarray(score[(term, parameter, direction)])
        row = {"term": term, "parameter": parameter, "direction": direction, "n": int(len(d)),
               "improved": round(float((d > 1e-6).mean()), 3), "not_worse": round(float((d >= -1e-6).mean()), 3),
               "mean_change": round(float(d.mean()), 3), "score_not_worse": round(float((sc >= -1e-6).mean()), 3)}
        rows.append(row)
        print(f"| {term} | {parameter} | {direction} | {row['n']} | {row['improved']:.0%} | {row['not_worse']:.0%} | "
              f"{row['mean_change']:+.3f} | {row['score_not_worse']:.0%} |")
    if args.details:
        for key, items in sorted(detail.items()):
            bad = [d for d in items if d[-1] <= 1e-6]
            print(key, "not improved:", bad[:args.details])
    print(f"{args.cases} cases, {sum(len(v) for v in stats.values())} advice items, wall {wall:.0f} s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({
            "command": "python " + " ".join(sys.argv), "date": date.today().isoformat(),
            "machine": f"{platform.machine()}, 2 shared CPU cores", "cases": args.cases, "size": args.size,
            "seed": args.seed, "categories": names, "rows": rows, "wall_s": round(wall, 1)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
