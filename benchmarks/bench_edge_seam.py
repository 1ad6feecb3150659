"""Edge seams of our own renders: share of renders whose critic seam term passes, per
family and blend mode.

Why: the critic's seam term (critic/appearance.py) fails a mask border that is sharper
than the camera's own edges (a one-pixel step: a cut-out pasted after capture). A
``feather`` or ``poisson`` render must pass it the way a real defect does; a ``hard``
render is a deliberate one-pixel step and should fail it (the critic's seam corruption).

Scenes (all synthetic or scikit-image's bundled photos, never dataset images): the
seeded test part (object_image, 128 px) and grain (texture_image, 128 px), the striped
part and the ground texture at 256 px, the component scene (case and leads), and
skimage's ``camera`` and ``coffee`` resized to 256 px. Specs: per family, the knowledge
base's entries that use it, sampled with the planner (planning.sample_spec) on the
scene's foreground; families no entry uses get synthetic.spec_for. The mask judged is
the render's alpha > 0.5 (what the pipeline writes). A seam "passes" at value >= 0.5
(critic/term.py FAIL_BELOW); ``hard_fail`` counts values < 0.2 (critic/judge.py
HARD_FAIL: rejects the edit on its own).

Usage::

    python benchmarks/bench_edge_seam.py [--seeds 3] [--json docs/results/edge_seam.json]
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
import zlib
from collections import defaultdict
from datetime import date

import cv2
import numpy as np

from anomalyagent.critic.appearance import seam_term
from anomalyagent.critic.views import make_views
from anomalyagent.foreground import foreground
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.planning import sample_spec
from anomalyagent.render import RENDERERS, render
from anomalyagent.render.scene import Scene
from anomalyagent.synthetic import component_scene, object_image, object_rgb, spec_for, texture_gray, texture_image

BLENDS = ("feather", "poisson", "hard")


def scenes(seed: int) -> list[tuple[str, np.ndarray, str, Scene | None]]:
    """(name, image, kind, scene) for one seed."""
    from skimage import data

    rng = np.random.default_rng(seed)
    out = [("object_image", object_image(rng, 128), "object", None),
           ("texture_image", texture_image(rng, 128), "texture", None),
           ("object_rgb", object_rgb(256, seed), "object", None),
           ("texture_gray", texture_gray(256, seed + 1), "texture", None)]
    image, masks = component_scene(256, seed)
    out.append(("component", image, "object",
                Scene(foreground=masks["object"], parts={"lead": masks["lead"], "case": masks["case"]})))
    out.append(("camera", cv2.resize(data.camera(), (256, 256), interpolation=cv2.INTER_AREA), "texture", None))
    out.append(("coffee", cv2.resize(data.coffee(), (256, 256), interpolation=cv2.INTER_AREA), "object", None))
    return out


def run(seeds: int) -> dict:
    kb = KnowledgeBase.default()
    by_family = defaultdict(list)
    for e in kb.entries():
        by_family[e.family].append(e)
    counts = defaultdict(lambda: {"n": 0, "pass": 0, "hard_fail": 0, "errors": 0})
    for seed in range(seeds):
        for scene_name, image, kind, scene in scenes(seed):
            fg = scene.foreground if scene is not None else foreground(image, kind)
            for family in RENDERERS.names():
                rng = np.random.default_rng(1000 * seed + zlib.crc32(family.encode()) % 997)
                entries = by_family.get(family)
                if entries:
                    entry = entries[int(rng.integers(len(entries)))]
                    base = sample_spec(entry, image, fg, rng)
                else:
                    base = spec_for(family)
                for blend in BLENDS:
                    spec = base.replace(blend=blend)
                    key = f"{family}/{blend}"
                    try:
                        edited, alpha = render(image, spec, np.random.default_rng(seed), scene=scene)
                    except Exception as exc:  # one odd render must not stop the measurement
                        logging.warning("%s on %s: %s", key, scene_name, exc)
                        counts[key]["errors"] += 1
                        continue
                    mask = alpha > 0.5
                    if mask.sum() < 6:
                        continue
                    value = seam_term(make_views(image, edited, mask), texture=kind == "texture").value
                    c = counts[key]
                    c["n"] += 1
                    c["pass"] += int(value >= 0.5)
                    c["hard_fail"] += int(value < 0.2)
    per = {k: dict(v, pass_share=round(v["pass"] / max(v["n"], 1), 3)) for k, v in sorted(counts.items())}
    totals = {}
    for blend in BLENDS:
        rows = [v for k, v in counts.items() if k.endswith("/" + blend)]
        n = sum(r["n"] for r in rows)
        totals[blend] = {"n": n, "pass_share": round(sum(r["pass"] for r in rows) / max(n, 1), 3),
                         "hard_fail_share": round(sum(r["hard_fail"] for r in rows) / max(n, 1), 3)}
    return {"totals": totals, "per_family": per}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    t0 = time.perf_counter()
    result = run(args.seeds)
    result["meta"] = {"command": "python benchmarks/bench_edge_seam.py " + " ".join(argv or sys.argv[1:]),
                      "date": date.today().isoformat(), "machine": f"{platform.machine()}, 2 CPU cores (shared)",
                      "seconds": round(time.perf_counter() - t0, 1), "seeds": args.seeds}
    for blend, t in result["totals"].items():
        print(f"{blend:8s} n={t['n']:4d} seam pass {t['pass_share']:.3f}  hard-fail {t['hard_fail_share']:.3f}")
    for key, v in result["per_family"].items():
        print(f"  {key:24s} {v['pass']:3d}/{v['n']:3d}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
