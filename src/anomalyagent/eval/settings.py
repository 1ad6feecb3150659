"""The two benchmark settings: what a method may know about the evaluated category's anomalies.

- ``zero-shot``: nothing measured from the category's real anomalies; the agent reads the
  knowledge base's text and numbers. Which numbers (``base_priors``):
  - ``package`` (default): the knowledge base as installed. Its files state where each
    number comes from; they are written from knowledge (how a defect forms, the
    product's geometry), never measured on the evaluated category's anomaly masks, and
    measured priors live in separate files (``anomalyagent kb measure``). The bench
    trusts that provenance.
  - ``generic``: a stricter check that trusts nothing: every number of the evaluated
    category's entries (``size``, ``priors.aspect``, ``priors.intensity``,
    ``priors.count`` and the family's numeric ``params``) is reset to the renderer
    family's defaults (``families.yaml``) and the median size range of the
    generic-material entries of the same family (``generic.yaml``); only the text stays.
- ``few-shot``: on top of that, numbers measured from the category's reserved first third
  of anomalies (``split.py``) by ``anomalyagent.knowledge.measure.measure_priors``; never
  the test two-thirds. With a prior strength K > 0 each measured range is shrunk toward
  the range the agent would read in zero-shot (the base above) by the weight n / (n + K)
  of its n reserved masks (``knowledge/shrinkage.py``): one mask per type barely moves the
  knowledge range, tens of masks replace it. The default K = 0 (the raw measurement) is
  what the leave-one-category-out tuning chose.

In few-shot the agent also gets a defect bank (bank.py) cut from the same reserved third:
for a share of its tasks (``FEW_SHOT_BANK_SHARE``, chosen on hazelnut and neu_seg; the
bench's ``bank_share``, 0 for none) the edit pastes one of those real defects, scaled,
turned and placed as planned; structural edits (a bent or moved part) never do.

The agent's critic (QE) is calibrated too (critic/calibration.py): in zero-shot it uses
the shipped thresholds fitted WITHOUT the evaluated category (``without:<category>``; for
a category outside the fitted set that is the default, which never saw it); in few-shot
the default, fitted on the reserved thirds only (``critic_calibration``).

Both are knowledge-base documents (the YAML schema of ``knowledge/data``) that the bench
writes under its output folder and hands to the agent's ``knowledge=`` argument. Methods
that take no knowledge (the re-run baselines) see no anomaly in either setting, so their
rows are shared by both.
"""
from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from statistics import median
from typing import Any, Callable

import yaml

from ..knowledge import KnowledgeBase
from ..knowledge.loader import dump_knowledge, read_document
from .split import Split

SETTINGS = ("zero-shot", "few-shot")
BASE_PRIORS = ("package", "generic")
# See the module docstring. 0.5 and 1.0 tried on hazelnut and neu_seg: 1.0 won with the
# paper's U-Net input (stop 15, rechecked at stop 20), 0.5 with the standardised input the
# cpu preset uses since stop 20 (docs/benchmarks.md, "The U-Net reads standardised images,
# few-shot bank share 0.5").
FEW_SHOT_BANK_SHARE = 0.5
DEFAULT_SIZE = (0.05, 0.25)  # KnowledgeEntry's default when no generic entry shares the family
NUMERIC_PRIORS = ("aspect", "intensity", "count")


def family_priors() -> dict[str, dict[str, Any]]:
    """family -> default priors, as the package's families.yaml states them."""
    text = (resources.files("anomalyagent.knowledge") / "data" / "families.yaml").read_text(encoding="utf-8")
    return read_document("families.yaml", text).get("family_priors", {})


def _generic_sizes(kb: KnowledgeBase) -> dict[str, tuple[float, float]]:
    """family -> median (low, high) size over the generic-material entries of that family."""
    by_family: dict[str, list[tuple[float, float]]] = {}
    for cat in kb.categories("generic"):
        for e in kb.entries(cat.name):
            by_family.setdefault(e.family, []).append(e.size)
    return {f: (round(median(lo for lo, _ in s), 4), round(median(hi for _, hi in s), 4)) for f, s in by_family.items()}


def _numeric_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if isinstance(v, (int, float, list)) and not isinstance(v, bool)}


def generic_knowledge(category: str, kb: KnowledgeBase | None = None) -> dict[str, Any] | None:
    """A knowledge document resetting the category's entries to generic numbers (``base_priors``
    "generic"); None when the knowledge base has no entry of its own for ``category``."""
    kb = kb or KnowledgeBase.default()
    cat = kb.category(category)
    entries = kb.entries(cat.name) if cat is not None else []
    if not entries:
        return None
    families, sizes = family_priors(), _generic_sizes(kb)
    out = []
    for e in entries:
        fam = families.get(e.family, {})
        priors = {k: fam[k] for k in NUMERIC_PRIORS if k in fam}
        params = _numeric_params(fam.get("params", {}))
        if params:
            priors["params"] = params
        out.append({"category": e.category, "defect": e.defect, "size": list(sizes.get(e.family, DEFAULT_SIZE)),
                    "priors": priors})
    return {"entries": out}


def _measure() -> Callable[..., dict[str, Any]]:
    try:
        from ..knowledge.measure import measure_priors
    except ImportError as exc:
        raise RuntimeError("few-shot priors need anomalyagent.knowledge.measure (measure_priors), which this "
                           f"installation lacks ({exc}); run --setting zero-shot") from None
    return measure_priors


def check_setting(setting: str, base_priors: str = "package") -> None:
    """Fail before any work: unknown setting or base, or few-shot without the measuring module."""
    if setting not in SETTINGS:
        raise ValueError(f"setting {setting!r} must be one of {', '.join(SETTINGS)}")
    if base_priors not in BASE_PRIORS:
        raise ValueError(f"base priors {base_priors!r} must be one of {', '.join(BASE_PRIORS)}")
    if setting == "few-shot":
        _measure()


def few_shot_knowledge(split: Split, prior: KnowledgeBase | None = None, strength: float | None = None) -> dict[str, Any]:
    """Priors measured from the reserved third only: (image, mask, defect) records of ``split.reserved``,
    shrunk toward ``prior`` (the knowledge base the patch is laid over; default the package's)
    with ``strength`` (default ``shrinkage.PRIOR_STRENGTH``)."""
    records = [(it.image, it.mask, it.defect) for it in split.reserved if it.is_anomaly]
    if not records:
        raise ValueError(f"{split.category}: no reserved anomalies to measure few-shot priors from")
    reserved = {it.image for it in split.reserved}
    assert not reserved & {it.image for it in split.test}, "reserved and test anomalies overlap"
    options: dict[str, Any] = {"prior": prior or KnowledgeBase.default()}
    if strength is not None:
        options["strength"] = strength
    doc = _measure()(records, **options)
    if not isinstance(doc, dict):
        raise TypeError(f"measure_priors returned {type(doc).__name__}, expected a knowledge document (dict)")
    return doc


def knowledge_files(setting: str, split: Split, folder: Path, base_priors: str = "package",
                    strength: float | None = None) -> list[str]:
    """Write the setting's knowledge documents for one category under ``folder``; their paths
    in load order ([] when the agent reads the package knowledge base unchanged).
    ``strength``: the few-shot prior strength (None: ``shrinkage.PRIOR_STRENGTH``)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[str] = []

    def write(name: str, doc: dict[str, Any] | None) -> None:
        if doc is not None:
            path = folder / f"{split.category}_{name}.yaml"
            path.write_text(dump_knowledge(doc), encoding="utf-8")
            paths.append(str(path))

    if base_priors == "generic":
        write("generic", generic_knowledge(split.category))
    base = KnowledgeBase.load(paths)  # a document the knowledge base refuses fails here, naming the file
    if setting == "few-shot":
        write("few_shot", few_shot_knowledge(split, base, strength))
        KnowledgeBase.load(paths)
    return paths


def critic_calibration(setting: str, category: str) -> str:
    """The AgentConfig ``calibration`` of the agent's critic in ``setting`` for ``category``:
    zero-shot must not use thresholds fitted on any of the category's anomalies, so it takes
    the fit without it; few-shot may use the default (reserved thirds only)."""
    if setting not in SETTINGS:
        raise ValueError(f"setting {setting!r} must be one of {', '.join(SETTINGS)}")
    return f"without:{category}" if setting == "zero-shot" else "default"


def few_shot_bank(category_dir: Path, folder: Path, share: float) -> tuple[str, dict[str, Any]]:
    """(bank folder, row parameters): a defect bank of the category's reserved third built
    under ``folder`` (bank.build_bank, reserved anomalies only); the parameters are its
    index digest and ``share``, so a row made with another bank or share is redone."""
    from ..bank import build_bank

    summary = build_bank(category_dir, folder, reserved_only=True)
    if not summary["entries"]:
        raise ValueError(f"{category_dir}: no reserved anomaly could be cut into a defect bank")
    index = (folder / "index.json").read_bytes()
    return str(folder), {"digest": hashlib.sha256(index).hexdigest()[:16], "share": float(share)}


def knowledge_digest(paths: list[str]) -> str:
    """SHA-256 (16 hex) of the knowledge documents' contents: part of a row's parameters."""
    digest = hashlib.sha256()
    for p in paths:
        digest.update(json.dumps(yaml.safe_load(Path(p).read_text(encoding="utf-8")), sort_keys=True).encode())
    return digest.hexdigest()[:16]
