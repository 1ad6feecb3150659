"""The measured critic (QE tool backend): location 0-5 + quality 0-5.

Why measured: the paper's judge is a large multimodal LLM; offline on a CPU we measure
the properties such a judge looks at (see the term modules) and combine them:

- location = 5 * location term (on the object, in the knowledge base's region);
- quality = 5 * sqrt(min(q) * geometric_mean(q)) over the quality terms q (visibility,
  seam, texture, shape, colour, and realism when asked): a defect is as good as its
  worst aspect, softened by the others;
- passed = score > 5 (the paper's rule) AND location >= a floor AND quality >= a floor
  (the paper's released judge also asks for "location reasonable" and "quality
  acceptable": with the sum alone, location 5 + quality 2 would pass) AND no hard
  failure: an empty mask (nothing changed), or a term below HARD_FAIL (one clearly
  broken aspect - off the object or the named part, a pasted border, a flat blob, four
  times too big - rejects the edit whatever the others say). Colour and the graded
  strength terms (visibility, abnormality) never hard-fail: a too-faint edit fails on
  the quality floor. The floors and the strength ramps come from ``critic.calibration``.

With a product model (``product=`` or ``appearance=``, product/appearance.py) the
critic also judges the defect against the product's normal appearance (``abnormality``:
a faded defect looks like normal variation), takes the product's own edges as the
reference for seams and its own fine detail for the resolution check; with a part mask
(``part=``) the location is judged on the named part. ``spill`` checks that nothing
changed outside an explicitly given mask.

Colour only scales quality to at least half (the knowledge base's colour relation is a
tendency: 85-100 % of real masks, not all).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..change import change_mask
from ..foreground import foreground as estimate_foreground
from ..records import DefectSpec, _Record
from ..registry import Registry
from .advice import adapt, changed_spread, unchanged_term
from .appearance import color_term, seam_term, seam_value, texture_term, visibility_term, visibility_values
from .calibration import Calibration, resolve_calibration
from .location import location_term
from .normality import abnormality_term, abnormality_value, spill_term
from .review import advice_from, write_review
from .shape import shape_term
from .term import TermResult
from .views import make_views

log = logging.getLogger(__name__)

HARD_FAIL = 0.2  # a term below this fails the edit on its own
SOFT_TERMS = ("color",)  # advisory terms: never hard-fail, weigh at most half
# Graded terms: how strong the defect is. They never hard-fail on their own: their ramps
# are calibrated to RANK (a faint edit below a clear one, so the score keeps rising over
# the range of real defects), and "too faint to accept" is the calibrated quality floor.
GRADED_TERMS = ("visibility", "abnormality")
NO_HARD_FAIL = SOFT_TERMS + GRADED_TERMS
RESCORED = GRADED_TERMS + ("seam",)  # terms whose raw measurements Judgement.measured keeps


@dataclass
class Judgement(_Record):
    """A QE verdict. ``terms``: each measured term in [0, 1] (1 = good); ``advice``: what to
    change (critic/review.py); ``review``: the same as readable text."""

    location: float
    quality: float
    score: float
    passed: bool
    terms: dict[str, float] = field(default_factory=dict)
    advice: list[dict[str, Any]] = field(default_factory=list)
    review: str = ""
    measured: dict[str, dict[str, float]] = field(default_factory=dict)


CRITICS: Registry[Judgement] = Registry("critic")


def _check(normal: np.ndarray, edited: np.ndarray, mask: np.ndarray | None) -> None:
    for name, img in (("normal", normal), ("edited", edited)):
        if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
            raise ValueError(f"{name} must be (H, W) or (H, W, 3) uint8, got {img.dtype} {img.shape}")
    if normal.shape != edited.shape:
        raise ValueError(f"normal {normal.shape} and edited {edited.shape} must have the same shape")
    if mask is not None and mask.shape != normal.shape[:2]:
        raise ValueError(f"mask {mask.shape} must be (H, W) = {normal.shape[:2]}")


def combine_quality(terms: list[TermResult]) -> float:
    """Quality in [0, 1]: sqrt(worst * geometric mean) over the quality terms.

    Soft terms count as 0.5 + 0.5 * value. The graded strength terms (visibility,
    abnormality) enter the worst-of as ONE strength, their geometric mean (either alone
    cannot veto: a normal set that itself holds faint flaws makes the normal-appearance
    model blind to them, and a grainy surface hides contrast), and the geometric mean each
    on its own; their ramps never reach zero, so a fainter edit always ranks lower.
    """
    plain, graded, logs = [], [], []
    for t in terms:
        v = 0.5 + 0.5 * t.value if t.name in SOFT_TERMS else t.value
        v = float(np.clip(v, 1e-6, 1.0))
        (graded if t.name in GRADED_TERMS else plain).append(v)
        logs.append(np.log(v))
    strength = [float(np.exp(np.mean(np.log(graded))))] if graded else []
    worst = min(plain + strength)
    return float(np.sqrt(worst * np.exp(np.mean(logs))))


def nothing_changed(share: float = 0.0, spans: bool = False, family: str | None = None) -> Judgement:
    """The verdict for an edit that changed nothing measurable; ``share``, ``spans``,
    ``family``: see critic/advice.py ``unchanged_term`` (too wide or too plain, not too faint)."""
    t = unchanged_term(share, spans, family)
    advice = advice_from([t])
    return Judgement(0.0, 0.0, 0.0, False, {"visibility": 0.0}, advice,
                     write_review(0.0, 0.0, False, [t], advice, "The edit left the image unchanged."))


STRUCTURAL_FAMILIES = ("warp", "displace", "split")


def moves_material(spec: DefectSpec | None) -> bool:
    """True for edits that move or remove a piece of the part (bend, move, split off, cut a
    part away): their true mask covers where the piece was AND where it went (or the
    background now showing), so part of it lies off the object by construction."""
    if spec is None:
        return False
    extent = spec.params.get("extent") if isinstance(spec.params, dict) else None
    return spec.family in STRUCTURAL_FAMILIES or (spec.family == "missing" and extent in ("part", "tip"))


@CRITICS.register("measured")
def judge(
    normal: np.ndarray,
    edited: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    spec: DefectSpec | None = None,
    entry: Any = None,
    kind: str = "auto",
    foreground: np.ndarray | None = None,
    learned: bool = False,
    bank: Any = None,
    product: Any = None,
    appearance: Any = None,
    part: np.ndarray | None = None,
    calibration: Calibration | str | None = None,
    changed: np.ndarray | None = None,
    memo: Any = None,
) -> Judgement:
    """Judge an edit. normal/edited: (H, W) or (H, W, 3) uint8 of the same shape; mask:
    (H, W) bool of the defect, or None to derive it from the change (hinted by
    ``spec.center``). ``entry``: a KnowledgeEntry (location, size, aspect, colour priors);
    ``kind``: "object", "texture" or "auto"; ``foreground``: (H, W) bool where the part
    is (estimated from ``normal`` when None); ``learned``: add the EfficientNet-Lite0
    realism term (needs the ``learned`` extra and a bank of real-defect features:
    ``bank``, a critic.learned.RealismBank, or the default bank file).

    ``product``: a product model (any object; its ``appearance`` attribute, a
    product.appearance.NormalAppearance, is used when present); ``appearance``: that
    model directly; ``part``: (H, W) bool mask of the part the defect should be on
    (the named part), None when unknown; ``calibration``: thresholds, a Calibration or a
    name for ``critic.calibration.resolve_calibration`` (default: its DEFAULT); ``changed``:
    the (H, W) bool mask ``change_mask(normal, edited, hint=spec.center)`` when the caller
    already has it (the QE tool shares MG's): used as if computed here (the same judgement),
    ignored when ``mask`` is given; ``memo``: a per-sample store (render.memo.RenderMemo)
    for what depends on the image's masks only (the location term's reach), same result."""
    _check(normal, edited, mask)
    given_mask = mask is not None
    cal = resolve_calibration(calibration)
    if appearance is None and product is not None:
        appearance = getattr(product, "appearance", None)
    if part is not None and (part.shape != normal.shape[:2] or not part.any()):
        part = None  # a part mask that does not fit the image: judge on the object only
    if mask is None:
        mask = changed if changed is not None else change_mask(normal, edited, hint=spec.center if spec is not None else None)
    mask = np.ascontiguousarray(mask, dtype=bool)
    if not mask.any():
        return nothing_changed(*((0.0, False) if given_mask else changed_spread(normal, edited)),
                               spec.family if spec is not None else None)
    if foreground is None:
        foreground = estimate_foreground(normal, kind)
    texture = kind == "texture" or (kind == "auto" and bool(foreground.all()))
    views = make_views(normal, edited, mask)
    if float(views.diff[views.mask].max()) <= 0.0:
        return nothing_changed()
    location = getattr(entry, "location", "anywhere") if entry is not None else "anywhere"
    priors = getattr(entry, "priors", None) or {}
    aspect = tuple(priors["aspect"]) if isinstance(priors.get("aspect"), (list, tuple)) else None
    stats = getattr(appearance, "stats", None)
    moved = moves_material(spec)
    loc = location_term(mask, foreground, location, texture, part=part, moved=moved, memo=memo)
    quality_terms = [
        visibility_term(views, cal.visibility_good, cal.strength_power, cal.replace_good),
        seam_term(views, stats, cal.incoherence_good, texture, cal.seam_good),
        texture_term(views, stats),
        shape_term(mask, foreground, getattr(entry, "size", None), aspect),
        color_term(views, getattr(entry, "color", None)),
    ]
    if appearance is not None:
        quality_terms.append(abnormality_term(views, appearance, edited, cal, counted=not moved))
    if given_mask:
        quality_terms.append(spill_term(normal, edited, mask, max(3, int(round(0.03 * min(mask.shape))))))
    if learned:
        from .learned import realism_term

        quality_terms.append(realism_term(edited, mask, bank, getattr(entry, "category", None)))
    all_terms = adapt([loc] + quality_terms, spec)
    location_score = 5.0 * loc.value
    quality_score = 5.0 * combine_quality([t for t in quality_terms if counts(t)])
    score = location_score + quality_score
    broken = [t.name for t in all_terms if t.name not in NO_HARD_FAIL and t.value < HARD_FAIL]
    hard = f"Rejected: {', '.join(broken)} clearly wrong." if broken else ""
    low = [f"{name} {value:.1f} < {floor:g}" for name, value, floor in
           (("location", location_score, cal.location_floor), ("quality", quality_score, cal.quality_floor)) if value < floor]
    if low and not hard:
        hard = f"Rejected: {' and '.join(low)} (each half needs its floor)."
    passed = score > 5.0 and not broken and not low
    advice = advice_from(all_terms)
    review = write_review(location_score, quality_score, passed, all_terms, advice, hard)
    log.debug("judged: score %.2f passed %s terms %s", score, passed, {t.name: round(t.value, 3) for t in all_terms})
    return Judgement(
        location=round(location_score, 4), quality=round(quality_score, 4), score=round(score, 4), passed=passed,
        terms={t.name: round(t.value, 4) for t in all_terms}, advice=advice, review=review,
        measured={t.name: {k: round(float(v), 4) for k, v in t.measured.items()} for t in all_terms if t.name in RESCORED},
    )


def counts(term: TermResult) -> bool:
    """Whether ``term`` enters quality: every term except one its measurement marks as
    reported only (``measured["counted"] == 0``: the abnormality of an edit that moves
    material, see ``critic.normality.abnormality_term``)."""
    return bool(term.measured.get("counted", 1.0))


def rescore(j: Judgement, calibration: Calibration) -> Judgement:
    """``j`` under another calibration: the graded terms recomputed from ``j.measured``,
    quality, score and the pass rule redone (advice and review are kept as they were).
    For fitting thresholds without judging every edit again (benchmarks/bench_critic.py)."""
    terms = dict(j.terms)
    if "visibility" in j.measured:
        m = j.measured["visibility"]
        terms["visibility"] = min(visibility_values(m["contrast"], m["cnr"], calibration.visibility_good,
                                                    calibration.strength_power, m.get("replace", float("inf")),
                                                    calibration.replace_good))
    if "abnormality" in j.measured:
        terms["abnormality"] = abnormality_value(j.measured["abnormality"]["inside"], calibration)
    if "seam" in j.measured:
        m = j.measured["seam"]
        terms["seam"] = seam_value(m["excess"], m["incoherence"], calibration.incoherence_good,
                                   bool(m.get("texture", 1.0)), calibration.seam_good)
    if not j.measured:  # nothing_changed(): stays a failure
        return j
    quality = 5.0 * combine_quality([TermResult(k, v) for k, v in terms.items()
                                      if k != "location" and j.measured.get(k, {}).get("counted", 1.0)])
    location = 5.0 * terms["location"]
    broken = any(v < HARD_FAIL for k, v in terms.items() if k not in NO_HARD_FAIL)
    passed = (location + quality > 5.0 and not broken and location >= calibration.location_floor
              and quality >= calibration.quality_floor)
    return Judgement(location=round(location, 4), quality=round(quality, 4), score=round(location + quality, 4),
                     passed=passed, terms={k: round(v, 4) for k, v in terms.items()}, advice=j.advice,
                     review=j.review, measured=j.measured)
