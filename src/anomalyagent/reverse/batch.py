"""Reverse synthesis of one real anomaly, and of every anomaly in a dataset.

Per anomaly: read image and mask -> reconstruction candidates (reverse/choose.py), each
checked by the critic -> in order of consistency, the first candidate under which QE
passes the real anomaly becomes the normal image -> spec extraction and fit
(reverse/extract.py) -> trajectories with N = 1, 2, 3 IG turns (reverse/trajectory.py).

Which anomalies: by default only the reserved first third of each defect type (the
evaluation harness's split, ``eval/split.py``), so nothing from a test split leaks into
training data; ``reserved_only=False`` takes every anomaly. An anomaly without a mask,
or whose files cannot be read, is skipped with a warning naming it; one failure never
stops the batch.
"""
from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..agent.loop import category_kind
from ..data import index_mvtec
from ..eval.split import EvalItem, find_categories, reserved_count, train_images
from ..foreground import looks_like_texture
from ..images import ImageError, read_image, read_mask
from ..knowledge import KnowledgeBase
from ..records import Task
from .choose import METHODS, candidates, critic_flags
from .extract import extract
from .trajectory import Builder, Built, Source

log = logging.getLogger(__name__)


@dataclass
class ReverseConfig:
    """Options of a reverse-synthesis run (defaults work offline on a CPU)."""

    turns: tuple[int, ...] = (1, 2, 3)  # trajectories per anomaly: one per N
    kr_fraction: float = 0.5  # share of N >= 2 trajectories that call KR after the first failed QE
    methods: tuple[str, ...] = METHODS
    reserved_only: bool = True
    seed: int = 0
    critic: str = "measured"
    limit: int | None = None  # at most this many anomalies per category (smoke runs)

    def __post_init__(self) -> None:
        if not self.turns or any(n not in (1, 2, 3) for n in self.turns):
            raise ValueError(f"turns must be a non-empty subset of 1, 2, 3 (IG turns), got {self.turns}")
        if not 0.0 <= self.kr_fraction <= 1.0:
            raise ValueError(f"kr_fraction is a share of trajectories, in [0, 1]; got {self.kr_fraction}")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ValueError(f"methods must be some of {', '.join(METHODS)}; got {self.methods}")


@dataclass
class AnomalyResult:
    """Everything reverse synthesis learned about one real anomaly (images kept in
    memory for the exporter: ``anomaly``, ``mask``, ``normal``)."""

    category: str
    defect: str
    image: str
    mask_path: str
    index: int
    reserved: bool
    method: str = ""
    candidates: list[dict[str, Any]] = field(default_factory=list)  # method, consistency, flagged, measures
    flagged: bool | None = None  # the chosen reconstruction, by the critic
    spec: dict[str, Any] | None = None
    measured: dict[str, Any] | None = None
    fit: dict[str, float] | None = None
    trajectories: list[Built] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # "N=3: no flaw chain", ...
    error: str = ""
    anomaly: np.ndarray | None = None
    mask: np.ndarray | None = None
    normal: np.ndarray | None = None

    @property
    def stem(self) -> str:
        return Path(self.image).stem

    def to_dict(self) -> dict[str, Any]:
        """The JSON report line (no images, no trajectories: those are exported apart)."""
        return {
            "category": self.category, "defect": self.defect, "image": self.image, "mask": self.mask_path,
            "index": self.index, "reserved": self.reserved, "method": self.method, "candidates": self.candidates,
            "flagged": self.flagged, "spec": self.spec, "measured": self.measured, "fit": self.fit,
            "trajectories": [{"n": b.n, "kr": b.kr, "flaws": b.flaws, "chain": b.chain} for b in self.trajectories],
            "missing": self.missing, "error": self.error,
        }


def item_seed(seed: int, category: str, defect: str, stem: str, *extra: int) -> np.random.Generator:
    """A generator that depends only on the run seed and the anomaly's identity, so a
    subset run (``limit``) gives the same bytes for the anomalies it shares."""
    return np.random.default_rng([seed, zlib.crc32(f"{category}/{defect}/{stem}".encode()), *extra])


def index_anomalies(category_dir: Path) -> list[EvalItem]:
    """Every anomaly of a category with its mask, sorted by (defect, file name).

    Unlike ``eval.split.index_test`` (which refuses a category with a mask-less
    anomaly, as an evaluation must), an anomaly without a mask is skipped here with a
    warning naming it: one bad file never stops a reverse-synthesis batch."""
    test_dir = Path(category_dir) / "test"
    if not test_dir.is_dir():
        raise ImageError(f"{test_dir}: missing (expected the MVTec layout <category>/test/<defect>/)")
    return [it for it in index_mvtec(category_dir, missing_mask="skip") if it.is_anomaly]


def select(category_dir: Path, reserved_only: bool) -> list[tuple[EvalItem, int, bool]]:
    """(item, index within its defect type, reserved?) of the anomalies to use; the
    reserved ones are the first ``eval.split.reserved_count`` of each type by name."""
    by_defect: dict[str, list[EvalItem]] = {}
    for it in index_anomalies(category_dir):
        by_defect.setdefault(it.defect, []).append(it)
    out = []
    for defect, group in sorted(by_defect.items()):
        k = reserved_count(len(group))
        for index, it in enumerate(group):
            if index < k or not reserved_only:
                out.append((it, index, index < k))
    return out


def process(item: EvalItem, index: int, reserved: bool, category: str, normals: list[np.ndarray],
            config: ReverseConfig, kb: KnowledgeBase) -> AnomalyResult:
    """Reverse synthesis of one anomaly (see the module docstring)."""
    res = AnomalyResult(category, item.defect, item.image, item.mask, index, reserved)
    anomaly = read_image(item.image)
    mask = read_mask(item.mask, anomaly.shape[:2])
    if not mask.any():
        raise ImageError(f"{item.mask}: empty mask (no pixel above 127)")
    res.anomaly, res.mask = anomaly, mask
    kind = category_kind(category, anomaly, kb)
    if kind == "auto":  # unknown category: the same guess the loop's foreground makes
        kind = "texture" if looks_like_texture(anomaly) else "object"
    cands, region = candidates(anomaly, mask, normals, kind, config.methods)
    if not cands:
        raise ValueError(f"{item.image}: no reconstruction (methods {', '.join(config.methods)}; "
                         f"{len(normals)} normal images for the exemplar)")
    entry = kb.lookup(category, item.defect).entry
    for c in cands:
        flagged, terms = critic_flags(anomaly, c.image, region, kind)
        res.candidates.append({"method": c.method, "consistency": round(c.consistency, 4), "flagged": flagged,
                               "seam": terms.get("seam"), "texture": terms.get("texture"), **c.measures, **c.info})
    task = Task(image_path="", category=category, defect_type=item.defect,
                seed=int(item_seed(config.seed, category, item.defect, res.stem).integers(2**31)), index=index)
    first, chosen = None, None
    for i, c in enumerate(cands):
        ex = extract(anomaly, c.image, mask, entry, category, item.defect, rng=item_seed(config.seed, category, item.defect, res.stem, 1))
        if chosen is None:
            chosen = (i, ex)  # the most consistent one, kept when QE passes under none
        builder = Builder(Source(task, anomaly, mask, c.image, ex.spec, entry), kb, config.critic)
        first = builder.build(1, False, task, item_seed(config.seed, category, item.defect, res.stem, 2, 1))
        if first is not None:
            chosen = (i, ex)
            break
    i, ex = chosen
    res.method, res.flagged, res.normal = cands[i].method, res.candidates[i]["flagged"], cands[i].image
    res.spec, res.measured, res.fit = ex.spec.to_dict(), ex.measured.to_dict(), ex.fit.to_dict() if ex.fit else None
    if first is None:  # QE rejects the real anomaly whatever the normal image
        res.missing = [f"N={n}: QE does not pass the real anomaly" for n in config.turns]
        return res
    for n in config.turns:
        if n == 1:
            res.trajectories.append(first)
            continue
        rng_n = item_seed(config.seed, category, item.defect, res.stem, 2, n)
        kr = bool(rng_n.random() < config.kr_fraction)
        built = builder.build(n, kr, task, rng_n)
        if built is None:
            res.missing.append(f"N={n}: no flaw chain the critic names")
        else:
            res.trajectories.append(built)
    return res


def run_reverse(data: str | Path, config: ReverseConfig, kb: KnowledgeBase | None = None) -> Iterator[AnomalyResult]:
    """Reverse synthesis over every category under ``data`` (one MVTec category folder
    or a root of them); yields one result per anomaly, errors included (``error``)."""
    kb = kb or KnowledgeBase.default()
    for category_dir in find_categories(data):
        category = category_dir.name
        try:
            chosen = select(category_dir, config.reserved_only)
        except ImageError as exc:
            log.warning("%s: skipped: %s", category_dir, exc)
            continue
        if config.limit is not None:
            chosen = chosen[: config.limit]
        normals: list[np.ndarray] = []
        if "exemplar" in config.methods:
            for path in train_images(category_dir):
                try:
                    normals.append(read_image(path))
                except ImageError as exc:
                    log.warning("skipping normal image: %s", exc)
        log.info("%s: %d anomalies (%s), %d normal exemplars", category, len(chosen),
                 "reserved third" if config.reserved_only else "all", len(normals))
        for item, index, reserved in chosen:
            try:
                yield process(item, index, reserved, category, normals, config, kb)
            except (ImageError, ValueError, OSError) as exc:
                log.warning("%s: skipped: %s", item.image, exc)
                yield AnomalyResult(category, item.defect, item.image, item.mask, index, reserved, error=str(exc))
