"""The benchmark: synthesize with each method, train the same detector, score on real defects.

One row per (category, method, seed): synthesis through ``anomalyagent.pipeline`` (the
same writer as ``anomalyagent synthesize``), the U-Net of ``unet.py`` trained on 50% normal
training images + 50% synthetic pairs with a fixed budget, scored on the shared test split
of ``split.py`` (two thirds of the real anomalies of every type + all test/good images).
The oracle row trains the same U-Net on the reserved real third instead.

Optional per row: defect-type classification accuracy (synthetic -> real) and the
offline generation metrics ``is_effnet`` / ``ic_lpips_effnet``.

results.json is rewritten after every row, so an interrupted run resumes: rows already
there (same category, method, seed) are kept when the configuration is the same.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..images import atomic_write_bytes, read_image
from .data import load_images, load_items, load_pairs, synthetic_pairs
from .metrics import localization_metrics
from .split import Split, find_categories, split_category, train_images
from .train import TrainConfig, predict_maps, train_detector

log = logging.getLogger(__name__)

ORACLE = "oracle"
PRESETS: dict[str, TrainConfig] = {
    # AnomalyDiffusion / DRAEM scale: for a GPU machine.
    "paper": TrainConfig(image_size=256, base_width=64, epochs=200, samples_per_epoch=500, batch_size=8, lr=1e-4, flip=False),
    # 160 steps of a w=8 U-Net at 128 px: 30-120 s of training per row on 2 shared CPU cores
    # (0.18-0.75 s per step depending on what else runs). One torch thread: on the shared
    # machine more threads oversubscribe the cores and crawl.
    "cpu": TrainConfig(image_size=128, base_width=8, epochs=4, samples_per_epoch=320, batch_size=8, lr=1e-3, flip=True,
                       threads=1),
    # Seconds: for tests and smoke runs only; its numbers mean nothing.
    "tiny": TrainConfig(image_size=32, base_width=2, epochs=1, samples_per_epoch=8, batch_size=4, lr=1e-3, flip=True,
                        threads=1),
}


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

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"preset {self.preset!r} must be one of {', '.join(PRESETS)}")
        if not self.methods and not self.oracle:
            raise ValueError("nothing to run: give --methods or --oracle")

    def train_config(self) -> TrainConfig:
        return dataclasses.replace(PRESETS[self.preset], **self.overrides, select_on_test=self.select_on_test)

    def key(self) -> dict[str, Any]:
        """The settings a resumed run must share with the rows already written."""
        return {"n": self.n, "preset": self.preset, "select_on_test": self.select_on_test,
                "train": dataclasses.asdict(self.train_config())}


@dataclass
class CategoryData:
    """Everything loaded once per category: resized arrays at the preset's size."""

    root: Path
    split: Split
    normals: np.ndarray  # (N, S, S, 3) uint8 train/good
    test_images: np.ndarray  # (T, S, S, 3) uint8
    test_masks: np.ndarray  # (T, S, S) bool
    # Caches for the classification / generation extras (filled on first use).
    effnet: Any = None
    real_features: np.ndarray | None = None  # (A, 1280) Lite0 features of the real test anomalies
    anchor_vectors: dict[str, np.ndarray] | None = None  # defect -> LPIPS-like vectors of reserved anomalies


def load_category(root: Path, size: int) -> CategoryData:
    split = split_category(root)
    normals = load_images(train_images(root), size)
    test_images, test_masks = load_items(split.test, size)
    return CategoryData(root, split, normals, test_images, test_masks)


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
    return {**metrics, "epoch": result.epoch, "train_seconds": round(result.seconds, 2),
            "final_loss": round(result.losses[-1], 5), "test_selected": result.test_selected}


def synthesize_method(config: BenchConfig, data: CategoryData, method: str, seed: int) -> tuple[Path, float]:
    """Run the pipeline for one method and seed; returns (output folder, seconds)."""
    from ..pipeline import synthesize

    out = Path(config.out) / "synthetic" / method / f"seed{seed}"
    start = time.perf_counter()
    synthesize(data.root, out, data.split.defects(), config.n, method=method, seed=seed, workers=config.workers,
               category=data.root.name, progress=config.progress)
    return out, time.perf_counter() - start


def _extras(config: BenchConfig, data: CategoryData, pairs: list[tuple[Path, Path]]) -> dict[str, Any]:
    """Classification accuracy and offline generation metrics of one synthetic set.

    One EfficientNet-Lite0 pass over the synthetic images serves both (pooled features for
    the classifier, logits for is_effnet); the real images' features are computed once
    per category and cached on ``data``.
    """
    out: dict[str, Any] = {}
    if not (config.classify or config.generation):
        return out
    from .backbone import effnet_outputs, load_effnet_lite0
    from .classify import classify, fit_and_score, pick_backbone
    from .generation import ic_lpips_effnet_vectors, inception_score_from_probs, lpips_effnet_vectors

    if data.effnet is None:
        data.effnet = load_effnet_lite0()
    synth = [read_image(p) for p, _ in pairs]
    labels = [p.parent.name for p, _ in pairs]
    pooled, logits, _ = effnet_outputs(data.effnet, synth)
    real = [it for it in data.split.test if it.is_anomaly]
    real_labels = [it.defect for it in real]
    if config.classify:
        if pick_backbone("auto") == "effnet_lite0":
            if data.real_features is None:
                data.real_features = effnet_outputs(data.effnet, [read_image(it.image) for it in real])[0]
            acc, _ = fit_and_score(pooled, labels, data.real_features, real_labels)
            out.update(classification_accuracy=acc, classifier="effnet_lite0_linear", classification_n_test=len(real))
        else:
            res = classify(synth, labels, [read_image(it.image) for it in real], real_labels, backbone="resnet34")
            out.update(classification_accuracy=res.accuracy, classifier=res.classifier, classification_n_test=res.n_test)
    if config.generation:
        import torch

        out["is_effnet"] = inception_score_from_probs(torch.softmax(torch.from_numpy(logits), 1).numpy())
        if data.anchor_vectors is None:
            anchors: dict[str, list[np.ndarray]] = {}
            for it in data.split.reserved:
                anchors.setdefault(it.defect, []).append(read_image(it.image))
            data.anchor_vectors = {d: lpips_effnet_vectors(ims, data.effnet) for d, ims in anchors.items()}
        by_defect: dict[str, list[np.ndarray]] = {}
        for image, label in zip(synth, labels):
            by_defect.setdefault(label, []).append(image)
        out["ic_lpips_effnet"] = ic_lpips_effnet_vectors(
            {d: lpips_effnet_vectors(ims, data.effnet) for d, ims in by_defect.items()}, data.anchor_vectors)
    return out


def run_row(config: BenchConfig, data: CategoryData, method: str, seed: int) -> dict[str, Any]:
    """One (category, method, seed) row; ``method`` "oracle" trains on the reserved real third."""
    tc = config.train_config()
    start = time.perf_counter()
    row: dict[str, Any] = {"category": data.root.name, "method": method, "seed": seed}
    if method == ORACLE:
        if not data.split.reserved:
            raise ValueError(f"{data.root}: no reserved anomalies for the oracle (every type has a single image)")
        anomalies, masks = load_items(data.split.reserved, tc.image_size)
        row.update(n_train_anomalies=len(anomalies), synth_seconds=0.0)
        pairs: list[tuple[Path, Path]] = []
    else:
        out, synth_seconds = synthesize_method(config, data, method, seed)
        pairs = synthetic_pairs(out, data.root.name)
        if not pairs:
            raise ValueError(f"{out}: method {method!r} wrote no samples")
        anomalies, masks = load_pairs(pairs, tc.image_size)
        empty = int((~masks.reshape(len(masks), -1).any(axis=1)).sum())
        row.update(n_train_anomalies=len(anomalies), empty_masks=empty, synth_seconds=round(synth_seconds, 2))
    row.update(evaluate(data, anomalies, masks, tc, seed, config.progress))
    if pairs:
        row.update(_extras(config, data, pairs))
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def _load_results(path: Path, key: dict[str, Any]) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    stored = json.loads(path.read_text())
    if stored.get("config_key") != key:
        raise ValueError(f"{path}: written with other settings ({stored.get('config_key')}); use another --out "
                         "or delete it to start over")
    return list(stored.get("rows", []))


def write_results(path: Path, config: BenchConfig, rows: list[dict[str, Any]], counts: dict[str, Any]) -> None:
    payload = {"config": dataclasses.asdict(config), "config_key": config.key(), "test_counts": counts,
               "test_selected": config.select_on_test, "rows": rows}
    atomic_write_bytes(path, (json.dumps(payload, indent=1, sort_keys=False) + "\n").encode())


def run_bench(config: BenchConfig) -> list[dict[str, Any]]:
    """Run every (category, seed, method) row not yet in OUT/results.json; returns all rows."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    threads = config.train_config().threads
    if threads:  # for the whole run: feature extraction and prediction too, not only training
        import torch

        torch.set_num_threads(threads)
    results = out / "results.json"
    rows = _load_results(results, config.key())
    done = {(r["category"], r["method"], r["seed"]) for r in rows}
    roots = find_categories(config.data)
    if config.category:
        known = ", ".join(r.name for r in roots)
        roots = [r for r in roots if r.name == config.category]
        if not roots:
            raise ValueError(f"{config.data}: no category {config.category!r} (has {known})")
    methods = list(config.methods) + ([ORACLE] if config.oracle else [])
    counts: dict[str, Any] = {}
    for root in roots:
        data = load_category(root, config.train_config().image_size)
        counts[root.name] = {"test": data.split.counts(), "reserved": len(data.split.reserved),
                             "train_good": len(data.normals)}
        log.info("%s: test set %s, %d reserved anomalies", root.name, counts[root.name]["test"], len(data.split.reserved))
        for seed in config.seeds:
            for method in methods:
                if (root.name, method, seed) in done:
                    continue
                row = run_row(config, data, method, seed)
                log.info("%s %s seed %d: pixel AP %.3f, pixel AUROC %.3f, image AUROC %.3f, %.0f s", root.name, method,
                         seed, row["pixel_ap"], row["pixel_auroc"], row["image_auroc"], row["seconds"])
                rows.append(row)
                write_results(results, config, rows, counts)
    write_results(results, config, rows, counts)
    return rows
