"""Detection and segmentation metrics: pure functions over numpy arrays, no I/O.

Why our own code: the harness must not depend on anomalib (CUDA torch + torchvision) and
every number must be reproducible from arrays. ``tests/test_eval_metrics.py`` checks
AUROC / AP / F1-max against scikit-learn on random data and AU-PRO against a brute-force
threshold loop.

Conventions (the AnomalyDiffusion / DRAEM protocol):
- anomaly maps are (N, H, W) float, higher = more anomalous;
- masks are (N, H, W) bool, True on the defect; normal images have all-False masks;
- image score = max of the ``pool``x``pool`` average-pooled map (21 in DRAEM);
- AU-PRO integrates the per-region-overlap curve up to FPR 0.3 and divides by 0.3.
"""
from __future__ import annotations

import cv2
import numpy as np

# numpy >= 2 renamed trapz to trapezoid; the project supports numpy >= 1.24.
_trapezoid = getattr(np, "trapezoid", None) or np.trapz


def _sorted_counts(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative true and false positives at each distinct threshold, highest first.

    Returns (tps, fps, thresholds) with one entry per distinct score (ties merged), as
    scikit-learn's ``_binary_clf_curve`` does.
    """
    labels = np.asarray(labels).ravel().astype(bool)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"labels and scores differ in size: {labels.shape} vs {scores.shape}")
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    last_of_tie = np.r_[np.nonzero(np.diff(scores))[0], scores.size - 1]
    tps = np.cumsum(labels, dtype=np.int64)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    return tps, fps, scores[last_of_tie]


def _check_both_classes(labels: np.ndarray, what: str) -> tuple[int, int]:
    pos = int(np.count_nonzero(labels))
    neg = int(np.asarray(labels).size - pos)
    if pos == 0 or neg == 0:
        raise ValueError(f"{what} needs both classes; got {pos} positives and {neg} negatives")
    return pos, neg


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (trapezoidal over distinct thresholds); labels bool."""
    pos, neg = _check_both_classes(labels, "AUROC")
    tps, fps, _ = _sorted_counts(labels, scores)
    tpr = np.r_[0.0, tps / pos]
    fpr = np.r_[0.0, fps / neg]
    return float(_trapezoid(tpr, fpr))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision = sum_k (R_k - R_{k-1}) P_k (scikit-learn's definition, no interpolation)."""
    pos, _ = _check_both_classes(labels, "AP")
    tps, fps, _ = _sorted_counts(labels, scores)
    precision = tps / (tps + fps)
    recall = tps / pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def f1_max(labels: np.ndarray, scores: np.ndarray) -> float:
    """Best F1 over all thresholds (max of 2PR / (P + R) along the precision-recall curve)."""
    pos, _ = _check_both_classes(labels, "F1-max")
    tps, fps, _ = _sorted_counts(labels, scores)
    precision = tps / (tps + fps)
    recall = tps / pos
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    return float(f1.max())


def image_scores(maps: np.ndarray, pool: int = 21) -> np.ndarray:
    """(N,) image scores: max of each (H, W) map after ``pool``x``pool`` mean filtering.

    Zero padding at the border, as DRAEM's ``avg_pool2d(padding=pool // 2)`` with
    ``count_include_pad=True``; the pool is clipped to the map size for tiny maps.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"maps must be (N, H, W), got {maps.shape}")
    k = min(pool, maps.shape[1], maps.shape[2])
    k = k if k % 2 == 1 else k - 1
    out = np.empty(len(maps), np.float64)
    for i, m in enumerate(maps):
        pooled = cv2.boxFilter(m, -1, (k, k), normalize=True, borderType=cv2.BORDER_CONSTANT)
        out[i] = float(pooled.max())
    return out


def aupro(masks: np.ndarray, maps: np.ndarray, fpr_limit: float = 0.3) -> float:
    """Normalised area under the per-region-overlap curve for FPR in [0, ``fpr_limit``].

    Each connected defect region (8-connectivity) counts equally, whatever its size: at a
    threshold, PRO = mean over regions of (region pixels above threshold / region size);
    FPR = normal pixels above threshold / all normal pixels. Computed exactly with one
    sort, like the MVTec AD evaluation code: each region pixel carries weight
    1 / (area * n_regions) towards PRO, each normal pixel 1 / n_normal towards FPR.
    """
    masks = np.asarray(masks).astype(bool)
    maps = np.asarray(maps, dtype=np.float64)
    if masks.shape != maps.shape or masks.ndim != 3:
        raise ValueError(f"masks and maps must both be (N, H, W); got {masks.shape} and {maps.shape}")
    weights = np.zeros(masks.shape, np.float64)
    n_regions = 0
    region_weights = []
    for i in range(len(masks)):
        count, labels = cv2.connectedComponents(masks[i].astype(np.uint8), connectivity=8)
        count -= 1  # label 0 is the background
        if count:
            areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
            region_weights.append((i, labels, areas))
            n_regions += count
    if n_regions == 0:
        raise ValueError("AU-PRO needs at least one defect region")
    normal = ~masks
    n_normal = int(normal.sum())
    if n_normal == 0:
        raise ValueError("AU-PRO needs normal pixels")
    for i, labels, areas in region_weights:
        w = np.r_[0.0, 1.0 / (areas * n_regions)]
        weights[i] = w[labels]
    fpr_w = normal.astype(np.float64) / n_normal
    order = np.argsort(-maps.ravel(), kind="mergesort")
    scores = maps.ravel()[order]
    pro = np.cumsum(weights.ravel()[order])
    fpr = np.cumsum(fpr_w.ravel()[order])
    last_of_tie = np.r_[np.nonzero(np.diff(scores))[0], scores.size - 1]
    pro, fpr = np.r_[0.0, pro[last_of_tie]], np.r_[0.0, fpr[last_of_tie]]
    fpr = np.minimum(fpr, 1.0)
    # Cut the curve at fpr_limit, interpolating the point on the limit.
    j = int(np.searchsorted(fpr, fpr_limit, side="right"))
    if j < len(fpr):
        x0, x1, y0, y1 = fpr[j - 1], fpr[j], pro[j - 1], pro[j]
        y = y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0) if x1 > x0 else y1
        fpr = np.r_[fpr[:j], fpr_limit]
        pro = np.r_[pro[:j], y]
    return float(_trapezoid(pro, fpr) / fpr_limit)


def localization_metrics(masks: np.ndarray, maps: np.ndarray, pool: int = 21) -> dict[str, float]:
    """All detector metrics of one run, values in [0, 1].

    masks: (N, H, W) bool ground truth (normal images all False); maps: (N, H, W) float
    anomaly maps at the same size. Image label = mask has any defect pixel.
    """
    masks = np.asarray(masks).astype(bool)
    maps = np.asarray(maps, dtype=np.float32)
    if masks.shape != maps.shape:
        raise ValueError(f"masks {masks.shape} and maps {maps.shape} differ in shape")
    labels = masks.reshape(len(masks), -1).any(axis=1)
    scores = image_scores(maps, pool)
    pix_labels, pix_scores = masks.ravel(), maps.ravel()
    return {
        "pixel_auroc": auroc(pix_labels, pix_scores),
        "pixel_ap": average_precision(pix_labels, pix_scores),
        "pixel_f1": f1_max(pix_labels, pix_scores),
        "image_auroc": auroc(labels, scores),
        "image_ap": average_precision(labels, scores),
        "image_f1": f1_max(labels, scores),
        "aupro": aupro(masks, maps),
    }


def per_defect_metrics(masks: np.ndarray, maps: np.ndarray, defects: list[str], good: str = "good") -> dict[str, dict[str, float]]:
    """Pixel AP and pixel AUROC per defect type: defect -> {pixel_ap, pixel_auroc, n_images, positive_fraction}.

    The pixels of one type are those of its test images PLUS every good test image. Why
    the good images: the overall metric pools every test pixel, and a detector that fires
    on normal images must lose per type as it loses overall; scoring a type on its own
    images only would let false positives on good images go unseen and make the per-type
    numbers incomparable with the overall row. ``positive_fraction`` (defect pixels / all
    pixels of that pool) is the AP of a random detector, the chance level to read AP against.

    masks: (N, H, W) bool; maps: (N, H, W) float; defects: N type names ("good" for normals).
    A type without defect pixels after resizing is left out (AP undefined).
    """
    masks = np.asarray(masks).astype(bool)
    maps = np.asarray(maps, dtype=np.float32)
    if masks.shape != maps.shape or len(defects) != len(masks):
        raise ValueError(f"masks {masks.shape}, maps {maps.shape} and {len(defects)} defect names do not match")
    names = np.asarray(defects)
    is_good = names == good
    out: dict[str, dict[str, float]] = {}
    for defect in sorted(set(defects) - {good}):
        pick = (names == defect) | is_good
        labels, scores = masks[pick].ravel(), maps[pick].ravel()
        if not labels.any() or labels.all():
            continue
        out[defect] = {"pixel_ap": average_precision(labels, scores), "pixel_auroc": auroc(labels, scores),
                       "n_images": int((names == defect).sum()), "positive_fraction": float(labels.mean())}
    return out
