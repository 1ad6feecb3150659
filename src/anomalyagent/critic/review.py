"""Turning term results into advice a policy can act on, and a review it can read.

Advice is one dict per failing term, worst first:
``{"term", "parameter", "direction", "text", "value"}`` (plus ``"scale"``, a factor for a
size or aspect change, when the term measured one: critic/advice.py) where ``parameter`` is the edit
parameter to change (critic/term.py PARAMETERS) and ``direction`` how ("increase",
"decrease", "move_onto_object", "move_to_edge", "soften", "smooth", "change", ...). The review is
the same content in sentences, led by the scores, so a language model sees what failed
and what to do in one paragraph.
"""
from __future__ import annotations

from typing import Any, Iterable

from .term import TermResult

NAMES = {
    "location": "location", "visibility": "visibility", "seam": "border blending",
    "texture": "texture", "shape": "size and shape", "color": "colour", "realism": "realism",
}


def advice_from(terms: Iterable[TermResult]) -> list[dict[str, Any]]:
    """Advice for every failing term that knows what to change, worst term first."""
    failing = sorted((t for t in terms if t.failing and t.parameter), key=lambda t: t.value)
    out = []
    for t in failing:
        item = {"term": t.name, "parameter": t.parameter, "direction": t.direction, "text": t.text,
                "value": round(t.value, 3)}
        if t.scale > 0:
            item["scale"] = round(t.scale, 3)
        out.append(item)
    return out


def write_review(location: float, quality: float, passed: bool, terms: Iterable[TermResult],
                 advice: list[dict[str, Any]], hard_fail: str = "") -> str:
    """One paragraph: verdict and scores, then what to change (or what is good)."""
    terms = list(terms)
    verdict = "Acceptable defect" if passed else "Not acceptable yet"
    head = f"{verdict}: location {location:.1f}/5, quality {quality:.1f}/5."
    if hard_fail:
        head += f" {hard_fail}"
    if advice:
        body = " ".join(a["text"] for a in advice)
        return f"{head} To fix: {body}"
    good = [NAMES.get(t.name, t.name) for t in terms if t.value >= 0.8]
    weak = [NAMES.get(t.name, t.name) for t in terms if t.value < 0.8]
    text = f"{head} Good: {', '.join(good) or 'nothing stands out'}."
    if weak:
        text += f" Could be better: {', '.join(weak)}."
    return text
