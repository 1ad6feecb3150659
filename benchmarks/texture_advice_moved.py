"""Texture advice on moved parts, read from ``synthesize`` trajectories.

    python benchmarks/texture_advice_moved.py OUT [OUT ...]

Why: a part turned or bent is resampled, and the critic's texture term asks for grain;
this counts, per output folder, every QE whose advice says "texture increase" and the QE
after the refined edit: did the texture term rise, did that QE pass (docs/benchmarks.md,
"Moved parts keep the camera's grain"). Make OUT with e.g.
``anomalyagent synthesize --data ../shared/data/transistor --defects bent_lead,misplaced --n 80 --out OUT``.
Nothing is rendered here.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def _qe_payloads(trajectory: dict) -> list[dict]:
    return [st["observation"]["payload"] for st in trajectory.get("steps", [])
            if st.get("call") and st["call"].get("name") == "QE" and (st.get("observation") or {}).get("payload")]


def summarise(run: Path) -> dict:
    files = sorted(run.glob("trajectories/*/*/*.json"))
    if not files:
        raise SystemExit(f"{run}: no trajectories/*/*/*.json (is it a synthesize output folder?)")
    samples = passed = advices = rose = next_passed = 0
    changes = []
    for path in files:
        trajectory = json.loads(path.read_text(encoding="utf-8"))
        samples += 1
        passed += bool(trajectory.get("passed"))
        qes = _qe_payloads(trajectory)
        for before, after in zip(qes, qes[1:]):
            if any((a.get("term"), a.get("parameter"), a.get("direction")) == ("texture", "texture", "increase")
                   for a in before.get("advice", [])):
                advices += 1
                change = after["terms"]["texture"] - before["terms"]["texture"]
                changes.append(change)
                rose += change > 0
                next_passed += bool(after.get("passed"))
    return {"run": str(run), "samples": samples, "passed": passed, "texture_increase_advices": advices,
            "term_rose": rose, "next_qe_passed": next_passed,
            "median_term_change": statistics.median(changes) if changes else 0.0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="synthesize output folders")
    for run in p.parse_args(argv).runs:
        s = summarise(run)
        n = max(s["texture_increase_advices"], 1)
        print(f"{s['run']}: {s['samples']} samples, {s['passed']} passed; texture-increase advices "
              f"{s['texture_increase_advices']}: term rose {s['term_rose']} ({s['term_rose'] / n:.0%}), next QE passed "
              f"{s['next_qe_passed']} ({s['next_qe_passed'] / n:.0%}), median change {s['median_term_change']:+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
