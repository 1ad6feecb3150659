"""Generation and classification metrics: formulas, offline variants, clear errors."""
from __future__ import annotations

import numpy as np
import pytest

from anomalyagent.eval.backbone import BackboneUnavailable
from anomalyagent.eval.classify import fit_and_score
from anomalyagent.eval.generation import (cluster_distances, ic_lpips_effnet, inception_score, inception_score_from_probs,
                                          is_effnet)


def test_inception_score_formula():
    assert inception_score_from_probs(np.full((10, 4), 0.25)) == pytest.approx(1.0)
    assert inception_score_from_probs(np.eye(4)) == pytest.approx(4.0)


def test_cluster_distances():
    gen = np.array([[0.0], [1.0], [10.0], [12.0], [50.0]])
    anchors = np.array([[0.0], [11.0]])
    # cluster 0: {0, 1} -> 1; cluster 1: {10, 12} -> 4 ({50} joins cluster 1 too: (4 + 1444 + 1600) / 3)
    assert cluster_distances(gen, anchors) == pytest.approx([1.0, (4 + 38 ** 2 + 40 ** 2) / 3])


def test_offline_variants_run_on_lite0():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (48, 48), dtype=np.uint8) for _ in range(4)]
    assert is_effnet(images) >= 1.0
    same = ic_lpips_effnet({"hole": [images[0], images[0]]}, {"hole": [images[1]]})
    diff = ic_lpips_effnet({"hole": images[:3]}, {})
    assert same == pytest.approx(0.0, abs=1e-4) and diff > 0.01


def test_standard_inception_score_needs_local_weights():
    try:
        import torchvision  # noqa: F401
    except Exception:
        with pytest.raises(BackboneUnavailable, match="is_effnet"):
            inception_score([np.zeros((32, 32), np.uint8)])
    else:
        pytest.skip("torchvision is installed; the error path is not reachable")


def test_linear_probe_accuracy():
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 1, (20, 5)), rng.normal(4, 1, (20, 5))]
    y = ["a"] * 20 + ["b"] * 20
    acc, per_class = fit_and_score(x, y, x, y)
    assert acc == 1.0 and per_class == {"a": 1.0, "b": 1.0}
    acc, _ = fit_and_score(x[:20], y[:20], x, y)  # one class in train
    assert acc == 0.5


def test_ic_lpips_per_type_and_overall():
    from anomalyagent.eval.generation import ic_lpips_effnet_per_type, ic_lpips_effnet_vectors

    gen = {"hole": np.array([[0.0], [1.0], [10.0], [12.0]]), "crack": np.array([[0.0], [3.0]]), "one": np.array([[5.0]])}
    anchors = {"hole": np.array([[0.0], [11.0]])}
    per = ic_lpips_effnet_per_type(gen, anchors)
    assert per == {"crack": [9.0], "hole": [1.0, 4.0]}  # a type with one image has no cluster
    assert ic_lpips_effnet_vectors(gen, anchors) == pytest.approx((1.0 + 4.0 + 9.0) / 3)  # mean over all clusters
    assert np.isnan(ic_lpips_effnet_vectors({"one": gen["one"]}, {}))
