"""Metrics against scikit-learn on random data, AU-PRO against a brute-force threshold loop."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from anomalyagent.eval.metrics import (aupro, auroc, average_precision, f1_max, image_scores, localization_metrics,
                                       per_defect_metrics)


def _sklearn_f1_max(labels, scores) -> float:
    p, r, _ = precision_recall_curve(labels, scores)
    return float(np.max(np.divide(2 * p * r, p + r, out=np.zeros_like(p), where=(p + r) > 0)))


@pytest.mark.parametrize("seed", range(6))
def test_auroc_ap_f1_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 2000))
    labels = rng.random(n) < rng.uniform(0.05, 0.6)
    scores = rng.random(n) + labels * rng.uniform(0, 1)
    if seed % 2:  # many ties
        scores = np.round(scores, 1)
    assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    assert f1_max(labels, scores) == pytest.approx(_sklearn_f1_max(labels, scores), abs=1e-12)


def test_one_class_is_a_clear_error():
    with pytest.raises(ValueError, match="both classes"):
        auroc(np.zeros(5, bool), np.arange(5.0))


def _brute_aupro(masks, maps, limit=0.3):
    regions = []
    for i, m in enumerate(masks):
        n, lab = cv2.connectedComponents(m.astype(np.uint8), connectivity=8)
        regions += [(i, lab == k) for k in range(1, n)]
    normal = ~masks
    fpr, pro = [0.0], [0.0]
    for t in np.unique(maps)[::-1]:
        above = maps >= t
        fpr.append((above & normal).sum() / normal.sum())
        pro.append(np.mean([(above[i] & r).sum() / r.sum() for i, r in regions]))
    fpr, pro = np.array(fpr), np.array(pro)
    j = int(np.searchsorted(fpr, limit, side="right"))
    if j < len(fpr):
        y = np.interp(limit, fpr[j - 1:j + 1], pro[j - 1:j + 1])
        fpr, pro = np.r_[fpr[:j], limit], np.r_[pro[:j], y]
    return float(np.sum(np.diff(fpr) * (pro[1:] + pro[:-1]) / 2) / limit)


@pytest.mark.parametrize("seed", range(3))
def test_aupro_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    masks = np.zeros((3, 24, 24), bool)
    masks[0, 2:6, 3:9] = True
    masks[0, 14:16, 12:20] = True  # two regions of very different size in one image
    masks[1, 5:18, 5:7] = True  # image 2 is normal
    maps = np.round(rng.random(masks.shape) + masks * rng.uniform(0, 0.8), 2)
    assert aupro(masks, maps) == pytest.approx(_brute_aupro(masks, maps), abs=1e-9)


def test_aupro_perfect_and_image_score_pooling():
    masks = np.zeros((2, 32, 32), bool)
    masks[0, 10:20, 10:20] = True
    assert aupro(masks, masks.astype(float)) == pytest.approx(1.0)
    maps = np.zeros((1, 32, 32), np.float32)
    maps[0, 0, 0] = 1.0  # a single hot pixel is diluted by the 21x21 mean (zero padding)
    assert image_scores(maps, 21)[0] == pytest.approx(1.0 / 441, rel=1e-5)


def test_localization_metrics_keys_and_ranges():
    rng = np.random.default_rng(0)
    masks = np.zeros((4, 32, 32), bool)
    masks[:2, 8:16, 8:16] = True
    maps = rng.random(masks.shape).astype(np.float32) + masks
    out = localization_metrics(masks, maps)
    assert set(out) == {"pixel_auroc", "pixel_ap", "pixel_f1", "image_auroc", "image_ap", "image_f1", "aupro"}
    assert all(0.0 <= v <= 1.0 for v in out.values())
    assert out["pixel_auroc"] > 0.9


def test_per_defect_metrics_pool_each_type_with_the_good_images():
    rng = np.random.default_rng(3)
    masks = np.zeros((5, 8, 8), bool)
    masks[1, 2:4, 2:4] = masks[2, 5:7, 1:3] = masks[3, 0:2, 0:8] = masks[4, 6:8, 6:8] = True
    maps = rng.random((5, 8, 8)).astype(np.float32)
    maps[1][masks[1]] += 1.0  # "hole" image 1 is found perfectly, the rest is noise
    defects = ["good", "hole", "scratch", "scratch", "hole"]
    out = per_defect_metrics(masks, maps, defects)
    assert set(out) == {"hole", "scratch"}
    for defect, rows in (("hole", [0, 1, 4]), ("scratch", [0, 2, 3])):
        labels, scores = masks[rows].ravel(), maps[rows].ravel()
        assert out[defect]["pixel_ap"] == pytest.approx(average_precision_score(labels, scores))
        assert out[defect]["pixel_auroc"] == pytest.approx(roc_auc_score(labels, scores))
        assert out[defect]["positive_fraction"] == pytest.approx(labels.mean())
        assert out[defect]["n_images"] == 2
    assert out["hole"]["pixel_ap"] > out["scratch"]["pixel_ap"]
    with pytest.raises(ValueError, match="do not match"):
        per_defect_metrics(masks, maps, defects[:4])
