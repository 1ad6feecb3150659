"""The benchmark: synthesize with each method, train the same detector, score on real defects.

One row per (category, setting, detector, method, seed): synthesis through
``anomalyagent.pipeline`` (the same writer as ``anomalyagent synthesize``), a detector
(``detectors.py``: the preset's, PRESET_DETECTORS: the EfficientNet-Lite0 segmenter for
the cpu preset, the paper's U-Net for the paper and tiny presets)
trained on 50% normal training images + 50% synthetic pairs with a fixed budget, scored on
the shared test split of ``split.py`` (two thirds of the real anomalies of every type +
all test/good images), overall and per defect type. The oracle row trains the same
detector on the reserved real third instead. ``settings.py`` says what the agent may know
in the zero-shot and few-shot settings.

Optional per row: defect-type classification accuracy (synthetic -> real) and the
offline generation metrics ``is_effnet`` / ``ic_lpips_effnet``.

results.json is rewritten after every row, so an interrupted run resumes; a stored row is
kept only when it was made by the same code and parameters (``results.py``). A row that
fails is recorded with its error and the run goes on; one sample that fails inside a
method is counted in its row (``failed_samples``).
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .data import load_images, load_items, load_pairs, synthetic_pairs
from .extras import synthetic_set_extras
from .fingerprint import code_info
from .metrics import localization_metrics, per_defect_metrics
from .results import ANY_SETTING, ORACLE, RESERVED, load_rows, row_id, stale_reason, write_rows
from . import settings
from .settings import check_setting, critic_calibration, few_shot_bank, knowledge_digest, knowledge_files
from .split import Split, find_categories, split_category, train_images
from .train import TrainConfig, predict_maps, train_detector

log = logging.getLogger(__name__)

DETECTOR_NAMES = ("unet", "effnet")
PRESETS: dict[str, TrainConfig] = {
    # AnomalyDiffusion / DRAEM scale: for a GPU machine.
    "paper": TrainConfig(image_size=256, base_width=64, epochs=200, samples_per_epoch=500, batch_size=8, lr=1e-4, flip=False),
    # 160 steps of a w=8 U-Net at 128 px: 30-120 s of training per row on 2 shared CPU cores
    # (0.18-0.75 s per step depending on what else runs). One torch thread: on the shared
    # machine more threads oversubscribe the cores and crawl.
    # Its U-Net reads each image standardised (input_norm "image", since stop 20): chosen
    # leave-one-category-out on the oracle rows of the four categories other than
    # magnetic_tile, 3 seeds each (docs/benchmarks.md, "The U-Net reads standardised images").
    "cpu": TrainConfig(image_size=128, base_width=8, epochs=4, samples_per_epoch=320, batch_size=8, lr=1e-3, flip=True,
                       threads=1, input_norm="image"),
    # Seconds: for tests and smoke runs only; its numbers mean nothing.
    "tiny": TrainConfig(image_size=32, base_width=2, epochs=1, samples_per_epoch=8, batch_size=4, lr=1e-3, flip=True,
                        threads=1),
}

# The detector a preset trains unless --detector names one. The cpu preset's is the pretrained
# EfficientNet-Lite0 segmenter since stop 21: chosen leave-one-category-out by a rule fixed before
# its rows ran, the oracle's pixel AP over seeds 0-2 averaged over the four categories other than
# magnetic_tile, 68.4 against the U-Net's 57.6 (docs/benchmarks.md, "The cpu preset trains the
# EfficientNet-Lite0 detector"). The paper preset keeps the paper's U-Net; tiny keeps the U-Net
# because it is the smallest thing that runs in tests.
PRESET_DETECTORS: dict[str, str] = {"paper": "unet", "cpu": "effnet", "tiny": "unet"}


@dataclass
class BenchConfig:
    data: str
    out: str
    methods: list[str] = field(default_factory=lambda: ["agent", "perlin", "cutpaste", "nsa"])
    n: int = 200  # synthetic samples per category and seed, spread over the defect types
    preset: str = "cpu"
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    oracle: bool = True
    select_on_test: bool = False
    classify: bool = True
    generation: bool = True
    workers: int = 1
    category: str | None = None
    progress: bool = True
    # TrainConfig fields changed from the preset (budget-sensitivity runs), e.g. {"epochs": 16}.
    overrides: dict[str, Any] = field(default_factory=dict)
    setting: str = "zero-shot"  # settings.SETTINGS: what the agent may know of the category's anomalies
    detector: str | None = None  # detectors.DETECTORS: "unet" (the paper's) or "effnet"; None: the preset's
    base_priors: str = "package"  # settings.BASE_PRIORS: the agent's numbers before few-shot measuring
    prior_strength: float | None = None  # few-shot: masks the knowledge range counts as (None: shrinkage default)
    # few-shot: the share of the agent's tasks pasting a real defect from a bank of the reserved third (0: no bank)
    bank_share: float = settings.FEW_SHOT_BANK_SHARE

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"preset {self.preset!r} must be one of {', '.join(PRESETS)}")
        if self.detector is None:
            self.detector = PRESET_DETECTORS[self.preset]
        if not self.methods and not self.oracle:
            raise ValueError("nothing to run: give --methods or --oracle")
        if self.n < 1:
            raise ValueError(f"n must be at least 1, got {self.n}")
        check_setting(self.setting, self.base_priors)
        if self.prior_strength is not None and not (math.isfinite(self.prior_strength) and self.prior_strength >= 0):
            raise ValueError(f"prior strength must be a finite number >= 0, got {self.prior_strength}")
        if isinstance(self.bank_share, bool) or not (isinstance(self.bank_share, (int, float))
                                                     and 0.0 <= self.bank_share <= 1.0):
            raise ValueError(f"bank share must be a number in [0, 1], got {self.bank_share!r}")
        self.train_config()  # unknown detector or bad overrides: fail before any work

    def train_config(self) -> TrainConfig:
        """The preset with the overrides; a preset's ``input_norm`` is the U-Net's, so another
        detector gets "none" unless an override names one."""
        preset = PRESETS[self.preset]
        if self.detector != "unet" and "input_norm" not in self.overrides:
            preset = dataclasses.replace(preset, input_norm="none")
        return dataclasses.replace(preset, **self.overrides, select_on_test=self.select_on_test, detector=self.detector)

    def _train_params(self) -> dict[str, Any]:
        """The TrainConfig as a dict, ``input_norm`` left out when it is "none", so folders
        and rows written before the option (trained without it) still resume and match."""
        train = dataclasses.asdict(self.train_config())
        if train.get("input_norm") == "none":
            train.pop("input_norm")
        return train

    def key(self) -> dict[str, Any]:
        """The run-wide settings a resumed run must share with the rows already written
        (setting and detector are part of each row's identity instead)."""
        train = self._train_params()
        train.pop("detector")
        return {"n": self.n, "preset": self.preset, "select_on_test": self.select_on_test, "train": train}

    def row_params(self, setting: str, knowledge: str | None, calibration: str | None = None,
                   bank: dict[str, Any] | None = None) -> dict[str, Any]:
        """What a row's number depends on besides the code (``results.stale_reason`` compares it);
        ``calibration``: the agent critic's thresholds (settings.critic_calibration), None for
        methods without a critic (then not a key at all: their stored rows stay valid);
        ``bank``: the few-shot defect bank's digest and share, None for rows without one."""
        extra = {"calibration": calibration} if calibration is not None else {}
        if bank is not None:
            extra["bank"] = bank
        train = self._train_params()
        if not train.get("head_prior"):  # PyTorch's init (--head-prior 0): rows stored before the option match
            train.pop("head_prior", None)
        return {"n": self.n, "preset": self.preset, "select_on_test": self.select_on_test, **extra,
                "train": train, "setting": setting, "knowledge": knowledge,
                "base_priors": self.base_priors if setting not in (ANY_SETTING, RESERVED) else None,
                "classify": self.classify, "generation": self.generation}


@dataclass
class CategoryData:
    """Everything loaded once per category: resized arrays at the preset's size."""

    root: Path
    split: Split
    normals: np.ndarray  # (N, S, S, 3) uint8 train/good
    test_images: np.ndarray  # (T, S, S, 3) uint8
    test_masks: np.ndarray  # (T, S, S) bool
    test_defects: list[str]  # (T,) defect type of each test image ("good" for normals)
    # Caches for the classification / generation extras (filled on first use).
    effnet: Any = None
    real_features: np.ndarray | None = None  # (A, 1280) Lite0 features of the real test anomalies
    anchor_vectors: dict[str, np.ndarray] | None = None  # defect -> LPIPS-like vectors of reserved anomalies


def load_category(root: Path, size: int) -> CategoryData:
    split = split_category(root)
    normals = load_images(train_images(root), size)
    test_images, test_masks = load_items(split.test, size)
    return CategoryData(root, split, normals, test_images, test_masks, [it.defect for it in split.test])


def _score_fn(data: CategoryData):
    """Pixel AP on the TEST set: only for the legacy --select-on-test protocol."""
    from .metrics import average_precision

    def score(model) -> float:
        return average_precision(data.test_masks.ravel(), predict_maps(model, data.test_images).ravel())

    return score


def evaluate(data: CategoryData, anomalies: np.ndarray, masks: np.ndarray, config: TrainConfig, seed: int,
             progress: bool) -> dict[str, Any]:
    """Train on (normals + anomalies) and score on the test split: metrics + training info."""
    result = train_detector(data.normals, anomalies, masks, config, seed=seed,
                            score_fn=_score_fn(data) if config.select_on_test else None, progress=progress)
    maps = predict_maps(result.model, data.test_images)
    metrics = localization_metrics(data.test_masks, maps)
    metrics["per_defect"] = per_defect_metrics(data.test_masks, maps, data.test_defects)
    return {**metrics, "epoch": result.epoch, "train_seconds": round(result.seconds, 2),
            "final_loss": round(result.losses[-1], 5), "test_selected": result.test_selected}


def _takes(method: str, option: str) -> bool:
    """True when the method's factory names ``option``; the agent always counts, even when
    its factory hides its arguments behind ``**kwargs``: a setting must never be silently
    ignored for it."""
    from ..methods import METHODS

    try:
        if option in inspect.signature(METHODS.get(method)).parameters:
            return True
    except (TypeError, ValueError):
        pass
    return method == "agent"


def uses_knowledge(method: str) -> bool:
    """True for methods whose factory takes ``knowledge=`` (the agent): their rows depend on the setting."""
    return _takes(method, "knowledge")


def uses_calibration(method: str) -> bool:
    """True for methods with a calibrated critic (the agent): the bench passes them the
    setting's ``calibration`` (settings.critic_calibration)."""
    return _takes(method, "calibration")


def uses_bank(method: str) -> bool:
    """True for methods that take a defect bank (the agent's ``bank`` option)."""
    return _takes(method, "bank")


def method_module(method: str) -> str:
    """The module a method's code lives in (the root of its code fingerprint)."""
    if method == ORACLE:
        return __name__
    from ..methods import METHODS

    return getattr(METHODS.get(method), "__module__", None) or __name__


@dataclass
class RowPlan:
    """One row to run: its identity, the knowledge files it hands the method, code and params."""

    category: str
    setting: str  # the bench setting, ANY_SETTING or RESERVED (see results.py)
    method: str
    seed: int
    knowledge: list[str]
    code: dict[str, Any]
    params: dict[str, Any]
    calibration: str | None = None  # the critic's thresholds handed to the method (None: none)
    bank: str | None = None  # a defect bank folder handed to the method (few-shot agent rows), or None
    bank_share: float = 0.0

    @property
    def ident(self) -> tuple:
        return (self.category, self.setting, self.params["train"]["detector"], self.method, self.seed)


def synthesize_method(config: BenchConfig, data: CategoryData, plan: RowPlan) -> tuple[Path, float, dict[str, Any]]:
    """Run the pipeline for one row; returns (output folder, seconds, failure info).

    The folder is OUT/synthetic/<category>/<setting>/<method>/seed<k> (shared by both
    detectors); a stamp
    records the code and parameters it was made with, and a folder made by other code or
    parameters is emptied first, so the pipeline never resumes samples of another version.
    """
    from ..pipeline import synthesize

    out = Path(config.out) / "synthetic" / plan.category / plan.setting / plan.method / f"seed{plan.seed}"
    stamp = {"code": plan.code["fingerprint"], "n": config.n, "knowledge": plan.params["knowledge"],
             **({"calibration": plan.calibration} if plan.calibration is not None else {}),
             **({"bank": plan.params["bank"]} if plan.bank is not None else {})}
    # Beside the folder, not in it: synthesize refuses an --out holding files it did not write.
    stamp_file = out.parent / f"{out.name}.bench_stamp.json"
    if out.exists():
        try:
            old = json.loads(stamp_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = None
        if old != stamp:
            log.info("%s: made by other code or parameters; starting it over", out)
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    stamp_file.write_text(json.dumps(stamp), encoding="utf-8")
    kwargs: dict[str, Any] = {"knowledge": tuple(plan.knowledge)} if plan.knowledge else {}
    if plan.calibration is not None:
        kwargs["calibration"] = plan.calibration
    if plan.bank is not None:
        kwargs.update(bank=plan.bank, bank_share=plan.bank_share)
    start = time.perf_counter()
    summary = synthesize(data.root, out, data.split.defects(), config.n, method=plan.method, seed=plan.seed,
                         workers=config.workers, category=data.root.name, progress=config.progress, method_kwargs=kwargs)
    failed = {"failed_samples": len(summary.failed)}
    if summary.failed:
        failed["failed_examples"] = [f["error"] for f in summary.failed[:3]]
        log.warning("%s %s seed %d: %d samples failed, e.g. %s", data.root.name, plan.method, plan.seed,
                    len(summary.failed), failed["failed_examples"][0])
    return out, time.perf_counter() - start, failed


def run_row(config: BenchConfig, data: CategoryData, plan: RowPlan) -> dict[str, Any]:
    """One row; the oracle trains on the reserved real third instead of a synthetic set."""
    tc = config.train_config()
    start = time.perf_counter()
    row: dict[str, Any] = {"category": data.root.name, "setting": plan.setting, "detector": tc.detector,
                           "method": plan.method, "seed": plan.seed}
    if plan.method == ORACLE:
        if not data.split.reserved:
            raise ValueError(f"{data.root}: no reserved anomalies for the oracle (every type has a single image)")
        anomalies, masks = load_items(data.split.reserved, tc.image_size)
        row.update(n_train_anomalies=len(anomalies), synth_seconds=0.0)
        pairs: list[tuple[Path, Path]] = []
    else:
        out, synth_seconds, failed = synthesize_method(config, data, plan)
        row.update(failed)
        pairs = synthetic_pairs(out, data.root.name)
        if not pairs:
            raise ValueError(f"{out}: method {plan.method!r} wrote no samples")
        anomalies, masks = load_pairs(pairs, tc.image_size)
        empty = int((~masks.reshape(len(masks), -1).any(axis=1)).sum())
        row.update(n_train_anomalies=len(anomalies), empty_masks=empty, synth_seconds=round(synth_seconds, 2))
    row.update(evaluate(data, anomalies, masks, tc, plan.seed, config.progress))
    if pairs:
        row.update(synthetic_set_extras(data, pairs, config.classify, config.generation))
    row["seconds"] = round(time.perf_counter() - start, 2)
    row.update(code=plan.code, params=plan.params)
    return row


def plan_rows(config: BenchConfig, data: CategoryData) -> list[RowPlan]:
    """The rows of one category, seeds outer, methods inner, the oracle last."""
    methods = list(config.methods) + ([ORACLE] if config.oracle else [])
    knowledge: list[str] | None = None
    bank: tuple[str, dict[str, Any]] | None = None
    plans = []
    for seed in config.seeds:
        for method in methods:
            if method == ORACLE:
                setting, files = RESERVED, []
            elif uses_knowledge(method):
                if knowledge is None:  # written once per category, only when a method reads it
                    folder = Path(config.out) / "knowledge" / f"{config.setting}-{config.base_priors}"
                    knowledge = knowledge_files(config.setting, data.split, folder, config.base_priors,
                                                config.prior_strength)
                setting, files = config.setting, knowledge
            else:
                setting, files = ANY_SETTING, []
            calibration = (critic_calibration(setting, data.root.name)
                           if setting not in (ANY_SETTING, RESERVED) and uses_calibration(method) else None)
            row_bank = None
            if setting == "few-shot" and config.bank_share > 0 and uses_bank(method):
                if bank is None:  # built once per category, only when a row uses it
                    bank = few_shot_bank(data.root, Path(config.out) / "bank" / data.root.name, config.bank_share)
                row_bank = bank
            params = config.row_params(setting, knowledge_digest(files) if files else None, calibration,
                                       row_bank[1] if row_bank else None)
            plans.append(RowPlan(data.root.name, setting, method, seed, files, code_info(method_module(method)), params,
                                 calibration, row_bank[0] if row_bank else None, config.bank_share if row_bank else 0.0))
    return plans


def _select_roots(config: BenchConfig) -> list[Path]:
    roots = find_categories(config.data)
    if config.category:
        known = ", ".join(r.name for r in roots)
        roots = [r for r in roots if r.name == config.category]
        if not roots:
            raise ValueError(f"{config.data}: no category {config.category!r} (has {known})")
    return roots


def run_bench(config: BenchConfig) -> list[dict[str, Any]]:
    """Run every row not yet in OUT/results.json (or stale there); returns all rows.

    A row that raises is recorded with ``error`` (type and message) and the run goes on;
    a later run with the same --out retries it.
    """
    from ..methods import METHODS

    for m in config.methods:
        METHODS.get(m)  # unknown method: fail before any work
    roots = _select_roots(config)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    threads = config.train_config().threads
    if threads:  # for the whole run: feature extraction and prediction too, not only training
        import torch

        torch.set_num_threads(threads)
    results = out / "results.json"
    key = config.key()
    loaded = load_rows(results, key)
    legacy = [r for r in loaded if not r.get("code")]
    if legacy:  # no fingerprint: which code made them cannot be told, so they are not kept
        log.warning("%s: dropping %d rows made before rows recorded their code; they are redone when planned",
                    results, len(legacy))
    stored = {row_id(r): r for r in loaded if r.get("code")}
    config_dict = dataclasses.asdict(config)
    counts: dict[str, Any] = {}
    for root in roots:
        data = load_category(root, config.train_config().image_size)
        counts[root.name] = {"test": data.split.counts(), "reserved": len(data.split.reserved),
                             "train_good": len(data.normals)}
        log.info("%s: test set %s, %d reserved anomalies", root.name, counts[root.name]["test"], len(data.split.reserved))
        for plan in plan_rows(config, data):
            old = stored.get(plan.ident)
            if old is not None:
                reason = stale_reason(old, plan.code, plan.params)
                if reason is None:
                    continue
                log.info("%s %s %s seed %d: redoing, %s", root.name, plan.setting, plan.method, plan.seed, reason)
            try:
                row = run_row(config, data, plan)
            except Exception as exc:  # one row never stops the table; the error is recorded and retried later
                log.exception("%s %s %s seed %d failed", root.name, plan.setting, plan.method, plan.seed)
                row = {"category": root.name, "setting": plan.setting, "detector": config.detector,
                       "method": plan.method, "seed": plan.seed, "error": f"{type(exc).__name__}: {exc}",
                       "code": plan.code, "params": plan.params}
            else:
                log.info("%s %s %s seed %d: pixel AP %.3f, pixel AUROC %.3f, image AUROC %.3f, %.0f s", root.name,
                         plan.setting, plan.method, plan.seed, row["pixel_ap"], row["pixel_auroc"], row["image_auroc"],
                         row["seconds"])
            stored[plan.ident] = row
            write_rows(results, config_dict, key, list(stored.values()), counts, config.select_on_test)
    write_rows(results, config_dict, key, list(stored.values()), counts, config.select_on_test)
    return sorted(stored.values(), key=row_id)
