"""product/features.py: the fast paths give the bytes of their plain numpy versions."""
from __future__ import annotations

import cv2
import numpy as np

from anomalyagent.images import to_rgb
from anomalyagent.product.features import SCALES, PixelClassifier, by_rows, fit_classifier, pixel_features
from anomalyagent.synthetic import component_scene, object_rgb, texture_gray


def plain_pixel_features(image: np.ndarray) -> np.ndarray:
    """The reference: the same planes joined by np.concatenate."""
    lab = cv2.cvtColor(to_rgb(image), cv2.COLOR_RGB2LAB).astype(np.float32) / 255.0
    h, w = lab.shape[:2]
    out = [cv2.GaussianBlur(lab, (0, 0), SCALES[0])]
    small = cv2.resize(lab, (max(2, w // 4), max(2, h // 4)), interpolation=cv2.INTER_AREA)
    for s in SCALES[1:]:
        out.append(cv2.resize(cv2.GaussianBlur(small, (0, 0), s / 4.0), (w, h), interpolation=cv2.INTER_LINEAR))
    light = lab[..., 0]
    mean = cv2.GaussianBlur(light, (0, 0), 3.0)
    var = cv2.GaussianBlur(light * light, (0, 0), 3.0) - mean * mean
    out.append(np.sqrt(np.maximum(var, 0.0))[..., None])
    return np.concatenate(out, axis=2)


def plain_predict(clf: PixelClassifier, features: np.ndarray) -> np.ndarray:
    h, w, f = features.shape
    x = (features.reshape(-1, f) - clf.mean) / clf.scale
    hidden = np.maximum(x @ clf.w1 + clf.b1, 0.0)
    return (1.0 / (1.0 + np.exp(-np.clip(hidden @ clf.w2 + clf.b2, -30, 30)))).reshape(h, w).astype(np.float32)


def images():
    return [component_scene(256, 0)[0], object_rgb(203, 1), texture_gray(157, 2), component_scene(101, 3)[0],
            object_rgb(64, 4)[:50, :61]]


def test_pixel_features_equal_the_concatenated_planes():
    for image in images():
        got, want = pixel_features(image), plain_pixel_features(image)
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)


def test_by_rows_equals_broadcasting():
    rng = np.random.default_rng(0)
    for n in (1, 15, 16, 17, 160, 4099):
        for f in (1, 10, 16):
            a = rng.normal(size=(n, f)).astype(np.float32)
            v = rng.normal(size=f).astype(np.float32)
            for op in (np.subtract, np.true_divide, np.add):
                assert np.array_equal(by_rows(op, a, v), op(a, v))
                into = a.copy()
                by_rows(op, into, v, out=into)
                assert np.array_equal(into, op(a, v))


def test_predict_equals_the_plain_expression():
    rng = np.random.default_rng(1)
    feats = [pixel_features(im) for im in images()]
    x = np.concatenate([f.reshape(-1, f.shape[2]) for f in feats])
    clf = fit_classifier(x, x[:, 0] > np.median(x[:, 0]), rng, steps=50)
    for f in feats:
        got, want = clf.predict(f), plain_predict(clf, f)
        assert got.dtype == want.dtype and np.array_equal(got, want)
