"""Write a small MVTec-layout category of synthetic images (no dataset pixels), for
pictures and smoke runs that must not use licensed data.

Normal images are ``anomalyagent.synthetic.object_image`` (a nut-like part on a dark
cloth); each "real" anomaly is one of our renders planned from the knowledge base's
hazelnut entry, with its alpha > 0.5 as the mask.

Usage::

    python benchmarks/synthetic_tree.py --out /tmp/synth [--size 192] [--per-defect 3]
    python benchmarks/bench_reverse.py --data /tmp/synth/hazelnut --picture docs/img/reverse_example.png \\
        --id hazelnut/crack/000/n3 --credit "synthetic images (anomalyagent.synthetic)"
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from anomalyagent.foreground import foreground
from anomalyagent.images import write_png
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.planning import sample_spec
from anomalyagent.render import render
from anomalyagent.synthetic import object_image


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=192)
    p.add_argument("--per-defect", type=int, default=3)
    p.add_argument("--defects", default="crack,hole")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    cat = Path(args.out) / "hazelnut"
    rng = np.random.default_rng(args.seed)
    kb = KnowledgeBase.default()
    for i in range(8):
        write_png(cat / "train" / "good" / f"{i:03d}.png", object_image(rng, args.size))
    write_png(cat / "test" / "good" / "000.png", object_image(rng, args.size))
    for defect in args.defects.split(","):
        entry = kb.lookup("hazelnut", defect).entry
        for i in range(args.per_defect):
            normal = object_image(rng, args.size)
            spec = sample_spec(entry, normal, foreground(normal, "object"), rng).replace(defect_type=defect, category="hazelnut")
            anomaly, alpha = render(normal, spec, rng)
            write_png(cat / "test" / defect / f"{i:03d}.png", anomaly)
            write_png(cat / "ground_truth" / defect / f"{i:03d}_mask.png", (alpha > 0.5).astype(np.uint8) * 255)
    print(f"wrote {cat}")


if __name__ == "__main__":
    main()
