"""Extras of one synthetic set: defect-type classification (synthetic -> real) and the
offline generation metrics ``is_effnet`` / ``ic_lpips_effnet``; see ``classify.py`` and
``generation.py`` for what they measure."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..images import read_image


def synthetic_set_extras(data: Any, pairs: list[tuple[Path, Path]], with_classification: bool,
                         with_generation: bool) -> dict[str, Any]:
    """Classification accuracy and offline generation metrics of one synthetic set.

    One EfficientNet-Lite0 pass over the synthetic images serves both (pooled features for
    the classifier, logits for is_effnet); the real images' features are computed once
    per category and cached on ``data`` (a ``bench.CategoryData``: its ``effnet``,
    ``real_features`` and ``anchor_vectors`` fields).
    """
    out: dict[str, Any] = {}
    if not (with_classification or with_generation):
        return out
    from .backbone import effnet_outputs, load_effnet_lite0
    from .classify import classify, fit_and_score, pick_backbone
    from .generation import ic_lpips_effnet_per_type, inception_score_from_probs, lpips_effnet_vectors

    if data.effnet is None:
        data.effnet = load_effnet_lite0()
    synth = [read_image(p) for p, _ in pairs]
    labels = [p.parent.name for p, _ in pairs]
    pooled, logits, _ = effnet_outputs(data.effnet, synth)
    real = [it for it in data.split.test if it.is_anomaly]
    real_labels = [it.defect for it in real]
    if with_classification:
        if pick_backbone("auto") == "effnet_lite0":
            if data.real_features is None:
                data.real_features = effnet_outputs(data.effnet, [read_image(it.image) for it in real])[0]
            acc, _ = fit_and_score(pooled, labels, data.real_features, real_labels)
            out.update(classification_accuracy=acc, classifier="effnet_lite0_linear", classification_n_test=len(real))
        else:
            res = classify(synth, labels, [read_image(it.image) for it in real], real_labels, backbone="resnet34")
            out.update(classification_accuracy=res.accuracy, classifier=res.classifier, classification_n_test=res.n_test)
    if with_generation:
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
        clusters = ic_lpips_effnet_per_type(
            {d: lpips_effnet_vectors(ims, data.effnet) for d, ims in by_defect.items()}, data.anchor_vectors)
        values = [v for vs in clusters.values() for v in vs]
        out["ic_lpips_effnet"] = float(np.mean(values)) if values else float("nan")
        # per type: the mean over that type's clusters (diversity within each defect type)
        out["ic_lpips_effnet_per_defect"] = {d: float(np.mean(vs)) for d, vs in clusters.items()}
    return out
