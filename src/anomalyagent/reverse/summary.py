"""Numbers of a reverse-synthesis run, from its per-anomaly records (pure functions).

Reported (docs/benchmarks.md, "Reverse synthesis"): trajectories by N and with/without
KR; how often the critic flags the chosen reconstruction (and each method's own rate
over every anomaly it was tried on); spec fit as mask IoU and colour error (delta-E)
with quartiles.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

import numpy as np


def quartiles(values: Iterable[float]) -> dict[str, float] | None:
    """{"q25", "median", "q75", "n"} of the finite values; None when there are none."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], np.float64)
    if v.size == 0:
        return None
    q25, med, q75 = np.percentile(v, [25, 50, 75])
    return {"q25": round(float(q25), 4), "median": round(float(med), 4), "q75": round(float(q75), 4), "n": int(v.size)}


def _rate(flags: list[bool]) -> dict[str, float] | None:
    return {"flagged": int(sum(flags)), "n": len(flags), "rate": round(sum(flags) / len(flags), 4)} if flags else None


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Summary of ``AnomalyResult.to_dict()`` records (one run, any categories)."""
    ok = [r for r in records if not r.get("error")]
    trajs = [t for r in ok for t in r.get("trajectories", [])]
    by_n = Counter(str(t["n"]) for t in trajs)
    by_n_kr = Counter(f"N={t['n']} {'with' if t['kr'] else 'without'} KR" for t in trajs)
    per_method: dict[str, list[bool]] = {}
    for r in ok:
        for c in r.get("candidates", []):
            per_method.setdefault(c["method"], []).append(bool(c["flagged"]))
    fits = [r["fit"] for r in ok if r.get("fit")]
    return {
        "anomalies": len(records),
        "errors": [f"{r['image']}: {r['error']}" for r in records if r.get("error")],
        "anomalies_with_trajectories": sum(bool(r.get("trajectories")) for r in ok),
        "trajectories": len(trajs),
        "by_n": dict(sorted(by_n.items())),
        "with_kr": sum(bool(t["kr"]) for t in trajs),
        "without_kr": sum(not t["kr"] for t in trajs),
        "by_n_kr": dict(sorted(by_n_kr.items())),
        "chains": dict(sorted(Counter(t["chain"] for t in trajs).items())),
        "flaws": dict(sorted(Counter(f for t in trajs for attempt in t["flaws"] for f in attempt).items())),
        "missing": dict(sorted(Counter(m.split(": ", 1)[1] if ": " in m else m for r in ok for m in r.get("missing", [])).items())),
        "reconstruction": {
            "chosen": dict(sorted(Counter(r["method"] for r in ok).items())),
            "flagged_chosen": _rate([bool(r["flagged"]) for r in ok if r.get("flagged") is not None]),
            "flagged_by_method": {m: _rate(f) for m, f in sorted(per_method.items())},
        },
        "fit": {
            "iou": quartiles(f["iou"] for f in fits),
            "color_error": quartiles(f["color_error"] for f in fits),
            "baseline_error": quartiles(f["baseline_error"] for f in fits),
            "mean_color_error": quartiles(f.get("mean_color_error") for f in fits),
        },
        "by_category": {
            cat: {"anomalies": sum(r["category"] == cat for r in records),
                  "trajectories": sum(len(r.get("trajectories", [])) for r in ok if r["category"] == cat),
                  "flagged_chosen": _rate([bool(r["flagged"]) for r in ok if r["category"] == cat and r.get("flagged") is not None]),
                  "fit_iou": quartiles(r["fit"]["iou"] for r in ok if r["category"] == cat and r.get("fit")),
                  "fit_color_error": quartiles(r["fit"]["color_error"] for r in ok if r["category"] == cat and r.get("fit"))}
            for cat in sorted({r["category"] for r in records})
        },
    }


def format_summary(s: dict[str, Any]) -> str:
    """A few readable lines of a summary (for the CLI and the benchmark)."""
    q = lambda d: "n/a" if not d else f"{d['median']:.3f} [{d['q25']:.3f}, {d['q75']:.3f}] (n={d['n']})"
    rate = lambda d: "n/a" if not d else f"{d['rate']:.1%} ({d['flagged']}/{d['n']})"
    rec = s["reconstruction"]
    lines = [
        f"anomalies {s['anomalies']} ({len(s['errors'])} skipped), with trajectories {s['anomalies_with_trajectories']}",
        f"trajectories {s['trajectories']}: by N {s['by_n']}; with KR {s['with_kr']}, without KR {s['without_kr']}",
        f"  {s['by_n_kr']}",
        f"  chains {s['chains']}; flaws used {s['flaws']}; not built {s['missing']}",
        f"reconstruction chosen {rec['chosen']}; flagged by QE: chosen {rate(rec['flagged_chosen'])}",
        "  by method: " + ", ".join(f"{m} {rate(r)}" for m, r in rec["flagged_by_method"].items()),
        f"spec fit IoU median [q25, q75]: {q(s['fit']['iou'])}",
        f"colour error (delta-E in mask): {q(s['fit']['color_error'])}; unedited {q(s['fit']['baseline_error'])}; "
        f"mean-colour {q(s['fit']['mean_color_error'])}",
    ]
    for cat, c in s["by_category"].items():
        lines.append(f"  {cat}: {c['anomalies']} anomalies, {c['trajectories']} trajectories, flagged {rate(c['flagged_chosen'])}, "
                     f"IoU {q(c['fit_iou'])}, colour error {q(c['fit_color_error'])}")
    return "\n".join(lines)
