"""The EfficientNet-Lite0 segmenter: shapes, frozen parts, learning rates, a learnable toy task."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from anomalyagent.eval.detectors import DETECTORS
from anomalyagent.eval.effnet import ENCODER_LR_FACTOR, EffNetSegmenter
from anomalyagent.eval.train import TrainConfig, predict_maps, train_detector


@pytest.fixture(scope="module")
def model() -> EffNetSegmenter:
    return DETECTORS.create("effnet")


def test_shapes_frozen_encoder_and_groups(model: EffNetSegmenter):
    x = torch.rand(2, 3, 64, 96)
    assert model(x).shape == (2, 2, 64, 96)
    probs = model.anomaly_map(x)
    assert probs.shape == (2, 64, 96) and float(probs.detach().min()) >= 0 and float(probs.detach().max()) <= 1
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert not any(p.requires_grad for b in model.blocks[:model.frozen_blocks] for p in b.parameters())
    model.train()
    assert not model.blocks.training and not model.stem.training and model.head.training
    enc, dec = model.optimizer_groups(1e-3)
    assert enc["lr"] == pytest.approx(1e-3 * ENCODER_LR_FACTOR) and dec["lr"] == 1e-3
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert {id(p) for p in enc["params"] + dec["params"]} == trainable
    with pytest.raises(ValueError, match="divisible by 32"):
        model(torch.rand(1, 3, 50, 64))


def _toy(seed: int = 0):
    rng = np.random.default_rng(seed)
    normals = rng.integers(90, 160, (8, 64, 64, 3), dtype=np.uint8)
    anomalies = rng.integers(90, 160, (8, 64, 64, 3), dtype=np.uint8)
    masks = np.zeros((8, 64, 64), bool)
    for i in range(8):
        y, x = rng.integers(8, 40, 2)
        masks[i, y:y + 16, x:x + 16] = True
    anomalies[masks] = 10
    return normals, anomalies, masks


def test_effnet_training_is_deterministic():
    normals, anomalies, masks = (a[:, ::2, ::2] for a in _toy())
    tc = TrainConfig(image_size=32, epochs=1, samples_per_epoch=8, batch_size=4, lr=3e-3, threads=1, detector="effnet")
    a = train_detector(normals, anomalies, masks, tc, seed=1, progress=False)
    b = train_detector(normals, anomalies, masks, tc, seed=1, progress=False)
    assert a.losses == b.losses
    assert [p.tolist() for p in a.model.head.parameters()] == [p.tolist() for p in b.model.head.parameters()]


@pytest.mark.slow
def test_effnet_learns_a_toy_defect():
    normals, anomalies, masks = _toy()
    tc = TrainConfig(image_size=64, epochs=2, samples_per_epoch=48, batch_size=8, lr=3e-3, threads=1, detector="effnet")
    result = train_detector(normals, anomalies, masks, tc, seed=1, progress=False)
    assert result.losses[-1] < result.losses[0]
    maps = predict_maps(result.model, anomalies)
    assert maps[masks].mean() > maps[~masks].mean() + 0.1
