"""Few-shot priors: size, elongation and colour measured from a category's reserved third.

Why: the committed knowledge base is zero-shot (written from knowledge, no measurement
of the evaluated category's anomalies). In the few-shot setting the project may look at
the reserved FIRST third of a category's anomalies (eval/split.py) and nothing else;
``measure_priors`` turns those masks into a knowledge patch in the KB YAML schema, which
``--knowledge FILE`` (or ``KnowledgeBase.load([FILE])``) merges over the package entries.

It refuses records from the test two-thirds: for every record inside an MVTec-layout
category folder (``<cat>/test/<defect>/<name>``) it recomputes the split and raises
``ValueError`` naming the first file that is not reserved; records outside such a folder
cannot be checked and are refused too.

Measurements per mask (the KnowledgeEntry conventions, also used by the critic's shape
term): ``extent`` = longest side of the min-area rectangle around all mask pixels as a
fraction of min(H, W), at most 1; ``aspect`` = long/short side of the largest
component's min-area rectangle (>= 1); ``contrast`` = mean grey level inside the mask
minus in a ring 3-9 px around it (negative: darker).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np

from ..eval.split import split_category
from ..images import read_image, read_mask, to_gray
from .shrinkage import PRIOR_STRENGTH, measured_weight, shrink_entry

COLOR_SHARE = 0.7  # "darker" when >= 70 % of the masks are darker ("lighter" when <= 30 %)
MIN_FOR_COLOR = 2  # fewer masks than this say nothing about the colour: "mixed"


def measure_mask(gray: np.ndarray, mask: np.ndarray) -> dict[str, float] | None:
    """Extent, aspect and contrast of one (H, W) bool ``mask`` over its (H, W) uint8 grey
    image; None when the mask is empty."""
    if not mask.any():
        return None
    h, w = mask.shape
    m8 = mask.astype(np.uint8)
    (_, _), (rw, rh), _ = cv2.minAreaRect(cv2.findNonZero(m8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m8, connectivity=8)
    big = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    (_, _), (cw, ch), _ = cv2.minAreaRect(cv2.findNonZero((labels == big).astype(np.uint8)))
    outer = cv2.dilate(m8, np.ones((19, 19), np.uint8)).astype(bool)
    inner = cv2.dilate(m8, np.ones((7, 7), np.uint8)).astype(bool)
    ring = outer & ~inner
    g = gray.astype(np.float64)
    return {
        "area": float(mask.mean()),
        "extent": float(min(1.0, max(rw, rh, 1.0) / min(h, w))),
        "aspect": float(max(cw, ch, 1.0) / max(min(cw, ch), 1.0)),
        "contrast": float(g[mask].mean() - g[ring].mean()) if ring.any() else 0.0,
        "components": float(n - 1),
    }


def _as_record(rec: Any) -> tuple[Path, Path, str]:
    if isinstance(rec, (tuple, list)) and len(rec) == 3:
        return Path(rec[0]), Path(rec[1]), str(rec[2])
    if all(hasattr(rec, k) for k in ("image", "mask", "defect")):
        return Path(rec.image), Path(rec.mask), str(rec.defect)
    raise TypeError(f"a record must be (image path, mask path, defect) or have .image/.mask/.defect, got {rec!r}")


def check_reserved(images: Iterable[Path]) -> str:
    """The category name of ``images`` if every one is in its category's reserved third;
    ValueError naming the first that is not (or that is not in an MVTec layout)."""
    category_dir: Path | None = None
    reserved: set[Path] = set()
    for image in images:
        image = image.resolve()
        root = image.parents[2] if len(image.parents) > 2 else None
        if root is None or image.parents[1].name != "test" or not (root / "test").is_dir():
            raise ValueError(f"{image}: not inside an MVTec-layout category (<cat>/test/<defect>/); "
                             "only a category's reserved third can be measured")
        if category_dir is None:
            category_dir = root
            reserved = {Path(it.image).resolve() for it in split_category(root).reserved}
        elif root != category_dir:
            raise ValueError(f"{image}: records mix categories ({category_dir.name} and {root.name}); measure one at a time")
        if image not in reserved:
            raise ValueError(f"{image}: in the test two-thirds of {root.name}, not its reserved first third; "
                             "priors may be measured on the reserved third only (eval/split.py)")
    if category_dir is None:
        raise ValueError("no records to measure")
    return category_dir.name


def summarise(rows: list[dict[str, float]]) -> dict[str, Any]:
    """Prior ranges from one defect type's measurements: size and aspect span the
    10th-90th percentile (min-max under 5 masks), widened 1.25x each way (1.5x under 5
    masks: few samples underestimate the spread); colour from the share of darker masks."""
    n = len(rows)
    widen = 1.25 if n >= 5 else 1.5
    q = (10, 90) if n >= 5 else (0, 100)

    def span(key: str) -> tuple[float, float]:
        values = [r[key] for r in rows]
        return float(np.percentile(values, q[0])), float(np.percentile(values, q[1]))

    e_lo, e_hi = span("extent")
    a_lo, a_hi = span("aspect")
    darker = float(np.mean([r["contrast"] < 0 for r in rows]))
    color = "mixed"
    if n >= MIN_FOR_COLOR:
        color = "darker" if darker >= COLOR_SHARE else "lighter" if darker <= 1 - COLOR_SHARE else "mixed"
    size = [max(0.01, math.floor(e_lo / widen * 100) / 100), min(1.0, math.ceil(e_hi * widen * 100) / 100)]
    aspect = [max(1.0, math.floor(a_lo / widen * 2) / 2), max(1.0, math.ceil(a_hi * widen * 2) / 2)]
    return {"n": n, "size": size, "aspect": aspect, "color": color, "share_darker": round(darker, 2)}


def measure_priors(records: Iterable[Any], category: str | None = None, prior: Any | None = None,
                   strength: float = PRIOR_STRENGTH) -> dict[str, Any]:
    """A knowledge patch measured from one category's RESERVED anomalies.

    ``records``: (image path, mask path, defect) tuples, or objects with ``image``,
    ``mask`` and ``defect`` (eval.split.EvalItem), all from the reserved first third of
    one MVTec-layout category (checked; ValueError otherwise). ``category``: the KB
    category name (default: the category folder's name). ``prior``: the KnowledgeBase the
    patch will be laid over; each measured range is shrunk toward that base's own entry
    for the (category, defect) pair with the weight n / (n + ``strength``) of its n masks
    (``shrinkage.py`` says why). None, or ``strength`` 0, keeps the raw measurement.

    Returns ``{"entries": [{"category", "defect", "size", "color", "priors":
    {"aspect"}}, ...]}``: the KB YAML schema (entries patch the package ones field by
    field), ready for ``yaml.safe_dump`` and ``--knowledge``. Defect types whose masks
    are all empty are left out; ``color`` is left out where the knowledge outweighs the
    measurement.
    """
    measured_weight(0, strength)  # a bad strength fails before any image is read
    recs = [_as_record(r) for r in records]
    folder_name = check_reserved(p for p, _, _ in recs)
    category = category or folder_name
    by_defect: dict[str, list[dict[str, float]]] = {}
    for image_path, mask_path, defect in recs:
        gray = to_gray(read_image(image_path))
        row = measure_mask(gray, read_mask(mask_path, gray.shape[:2]))
        if row is not None:
            by_defect.setdefault(defect, []).append(row)
    entries = []
    for defect, rows in sorted(by_defect.items()):
        s = summarise(rows)
        entry = {"category": category, "defect": defect, "size": s["size"], "color": s["color"],
                 "priors": {"aspect": s["aspect"]}}
        entries.append(shrink_entry(entry, s["n"], _own_entry(prior, category, defect), strength))
    return {"entries": entries}


def _own_entry(kb: Any | None, category: str, defect: str) -> Any | None:
    """The knowledge base's own entry for the pair (exact name or a synonym within the
    category); None for a generic or searched fallback, which is no prior for this pair."""
    if kb is None:
        return None
    found = kb.lookup(category, defect)
    return found.entry if found.match in ("exact", "synonym") else None
