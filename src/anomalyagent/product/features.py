"""Per-pixel features and a tiny pixel classifier for the product model.

A pixel is described by its colour at three scales (Lab blurred at sigma 1, 4 and 10 px
at 256 px) plus the local contrast: the small scale carries the edge, the large scales
the context, which is what tells a dark hole in a board from the dark case of a part
sitting on it. The classifier is a one-hidden-layer perceptron in plain numpy (fitted
at build time, about a second; applied in about 2 ms to a 256 x 256 image), so the core
needs neither torch nor scikit-learn.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..images import to_rgb

SCALES = (1.0, 4.0, 10.0)  # Gaussian sigmas in px at a 256 px working side
N_FEATURES = 3 * len(SCALES) + 1


def pixel_features(image: np.ndarray) -> np.ndarray:
    """(H, W, N_FEATURES) float32 multi-scale Lab colour plus local L contrast (sigma 3)."""
    lab = cv2.cvtColor(to_rgb(image), cv2.COLOR_RGB2LAB).astype(np.float32) / 255.0
    h, w = lab.shape[:2]
    out = [cv2.GaussianBlur(lab, (0, 0), SCALES[0])]
    # context scales on a 4x smaller copy, upsampled: same picture, a tenth of the time
    small = cv2.resize(lab, (max(2, w // 4), max(2, h // 4)), interpolation=cv2.INTER_AREA)
    for s in SCALES[1:]:
        out.append(cv2.resize(cv2.GaussianBlur(small, (0, 0), s / 4.0), (w, h), interpolation=cv2.INTER_LINEAR))
    light = lab[..., 0]
    mean = cv2.GaussianBlur(light, (0, 0), 3.0)
    var = cv2.GaussianBlur(light * light, (0, 0), 3.0) - mean * mean
    # cv2.merge of the planes: the array np.concatenate(axis=2) gives, in half the time
    return cv2.merge([plane for block in out for plane in cv2.split(block)] + [np.sqrt(np.maximum(var, 0.0))])


ROW_BLOCK = 16  # rows per long row in by_rows: inner loops of 160-256 elements, not 10-16


def by_rows(op, a: np.ndarray, v: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``op(a, v)`` for (N, F) ``a`` and (F,) ``v`` (broadcast over rows), with the same
    element pairs but ``v`` tiled over ROW_BLOCK rows: numpy's broadcast loop over rows of
    10-16 elements costs about twice the arithmetic (same bytes: elementwise IEEE ops)."""
    n, f = a.shape
    if n % ROW_BLOCK or not a.flags.c_contiguous or (out is not None and not out.flags.c_contiguous):
        return op(a, v, out=out)
    wide = np.tile(v, ROW_BLOCK)
    res = op(a.reshape(-1, f * ROW_BLOCK), wide, out=None if out is None else out.reshape(-1, f * ROW_BLOCK))
    return res.reshape(n, f)


def knn_distance(queries: np.ndarray, bank: np.ndarray, k: int = 5, chunk: int = 4096) -> np.ndarray:
    """(N,) mean distance of each row of ``queries`` (N, F) to its ``k`` nearest rows of ``bank`` (M, F)."""
    k = min(k, len(bank))
    bank_sq = (bank * bank).sum(1)
    out = np.empty(len(queries), np.float32)
    for start in range(0, len(queries), chunk):
        q = queries[start:start + chunk]
        d2 = (q * q).sum(1)[:, None] + bank_sq[None] - 2.0 * q @ bank.T
        part = np.partition(np.maximum(d2, 0.0), k - 1, axis=1)[:, :k]
        out[start:start + chunk] = np.sqrt(part).mean(1)
    return out


@dataclass
class PixelClassifier:
    """p(object | pixel features): standardise, one ReLU hidden layer, sigmoid out.

    Arrays: ``mean``/``scale`` (F,), ``w1`` (F, H), ``b1`` (H,), ``w2`` (H,), ``b2`` ().
    """

    mean: np.ndarray
    scale: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(H, W) float32 probability for (H, W, F) features."""
        h, w, f = features.shape
        # In place where the expression allowed it: the same float32 operations in the same
        # order as (x - mean) / scale, max(x @ w1 + b1, 0), 1 / (1 + exp(-clip(...))): same bytes.
        # The per-feature steps run over blocks of rows (by_rows): same element pairs.
        x = by_rows(np.subtract, np.ascontiguousarray(features.reshape(-1, f)), self.mean)
        by_rows(np.true_divide, x, self.scale, out=x)
        hidden = x @ self.w1
        by_rows(np.add, hidden, self.b1, out=hidden)
        np.maximum(hidden, 0.0, out=hidden)
        logit = hidden @ self.w2
        logit += self.b2
        np.clip(logit, -30, 30, out=logit)
        np.negative(logit, out=logit)
        np.exp(logit, out=logit)
        logit += 1.0
        np.divide(1.0, logit, out=logit)
        return logit.reshape(h, w).astype(np.float32, copy=False)

    def arrays(self, prefix: str = "clf_") -> dict[str, np.ndarray]:
        return {prefix + k: np.asarray(getattr(self, k), np.float32) for k in ("mean", "scale", "w1", "b1", "w2", "b2")}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "clf_") -> "PixelClassifier":
        return cls(**{k: np.asarray(arrays[prefix + k], np.float32) for k in ("mean", "scale", "w1", "b1", "w2", "b2")})


def fit_classifier(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, hidden: int = 16,
                   steps: int = 600, batch: int = 4096, lr: float = 0.01) -> PixelClassifier:
    """Fit a PixelClassifier on (N, F) features and (N,) bool labels with Adam and
    class-balanced logistic loss (background pixels far outnumber thin parts)."""
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.float32)
    mean, scale = x.mean(0), x.std(0) + 1e-3
    xs = (x - mean) / scale
    f = xs.shape[1]
    params = {
        "w1": rng.normal(0, np.sqrt(2.0 / f), (f, hidden)).astype(np.float32),
        "b1": np.zeros(hidden, np.float32),
        "w2": rng.normal(0, np.sqrt(1.0 / hidden), hidden).astype(np.float32),
        "b2": np.zeros((), np.float32),
    }
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    pos = max(float(y.mean()), 1e-3)
    weight_pos, weight_neg = 0.5 / pos, 0.5 / max(1.0 - pos, 1e-3)
    for step in range(1, steps + 1):
        idx = rng.integers(0, len(xs), min(batch, len(xs)))
        xb, yb = xs[idx], y[idx]
        pre = xb @ params["w1"] + params["b1"]
        hid = np.maximum(pre, 0.0)
        logit = hid @ params["w2"] + params["b2"]
        p = 1.0 / (1.0 + np.exp(-np.clip(logit, -30, 30)))
        wts = np.where(yb > 0.5, weight_pos, weight_neg)
        g_logit = wts * (p - yb) / len(xb)
        grads = {"w2": hid.T @ g_logit, "b2": np.asarray(g_logit.sum(), np.float32)}
        g_hid = np.outer(g_logit, params["w2"]) * (pre > 0)
        grads["w1"] = xb.T @ g_hid
        grads["b1"] = g_hid.sum(0)
        for k in params:  # Adam
            m[k] = 0.9 * m[k] + 0.1 * grads[k]
            v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
            mh, vh = m[k] / (1 - 0.9 ** step), v[k] / (1 - 0.999 ** step)
            params[k] = (params[k] - lr * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)
    return PixelClassifier(mean.astype(np.float32), scale.astype(np.float32), **params)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int = 4, eps: float = 1e-3) -> np.ndarray:
    """Edge-preserving smoothing of ``src`` (H, W) float32 steered by ``guide`` (H, W) float32 in [0, 1].

    He et al.'s guided filter with a grayscale guide: inside a (2r+1)^2 window the output is
    an affine function of the guide, so a soft probability snaps to the guide's edges
    (a case corner the context features blurred away comes back). About 1 ms at 256 px.
    """
    k = (2 * radius + 1, 2 * radius + 1)
    mean_i = cv2.blur(guide, k)
    mean_p = cv2.blur(src, k)
    cov_ip = cv2.blur(guide * src, k) - mean_i * mean_p
    var_i = cv2.blur(guide * guide, k) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return cv2.blur(a, k) * guide + cv2.blur(b, k)
