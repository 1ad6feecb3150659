"""U-Net shapes, focal loss, and a deterministic tiny training run."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from anomalyagent.eval.losses import focal_loss
from anomalyagent.eval.train import TrainConfig, predict_maps, train_detector
from anomalyagent.eval.unet import DiscriminativeUNet


def test_unet_shapes_and_widths():
    net = DiscriminativeUNet(base_width=2)
    out = net(torch.rand(2, 3, 32, 64))
    assert out.shape == (2, 2, 32, 64)
    assert net.encoder[-1][0].out_channels == 16  # 8w at the bottom, as DRAEM
    with pytest.raises(ValueError, match="divisible by 32"):
        net(torch.rand(1, 3, 40, 40))


def test_focal_loss_reduces_to_cross_entropy_at_gamma_zero():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 2, 8, 8, generator=g)
    target = torch.rand(2, 8, 8, generator=g) > 0.7
    assert focal_loss(logits, target, gamma=0.0).item() == pytest.approx(F.cross_entropy(logits, target.long()).item(), rel=1e-5)
    assert focal_loss(logits, target, gamma=2.0) < focal_loss(logits, target, gamma=0.0)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    normals = rng.integers(100, 140, (4, 32, 32, 3), dtype=np.uint8)
    anomalies = normals.copy()
    masks = np.zeros((4, 32, 32), bool)
    masks[:, 10:18, 12:20] = True
    anomalies[masks] = 20
    return normals, anomalies, masks


def test_same_seed_same_numbers():
    cfg = TrainConfig(image_size=32, base_width=2, epochs=2, samples_per_epoch=8, batch_size=4, threads=1)
    normals, anomalies, masks = _data()
    maps = []
    for _ in range(2):
        res = train_detector(normals, anomalies, masks, cfg, seed=3, progress=False)
        maps.append(predict_maps(res.model, anomalies))
        assert res.epoch == 2 and not res.test_selected and len(res.losses) == 2
    assert np.array_equal(maps[0], maps[1])
    other = predict_maps(train_detector(normals, anomalies, masks, cfg, seed=4, progress=False).model, anomalies)
    assert not np.array_equal(maps[0], other)


def test_select_on_test_keeps_best_epoch_and_needs_a_score():
    normals, anomalies, masks = _data()
    cfg = TrainConfig(image_size=32, base_width=2, epochs=3, samples_per_epoch=4, batch_size=4, select_on_test=True,
                      threads=1)
    with pytest.raises(ValueError, match="score_fn"):
        train_detector(normals, anomalies, masks, cfg, progress=False)
    scores = iter([0.1, 0.9, 0.2])
    res = train_detector(normals, anomalies, masks, cfg, score_fn=lambda m: next(scores), progress=False)
    assert res.epoch == 2 and res.test_selected


def test_config_checks():
    with pytest.raises(ValueError, match="divisible by 32"):
        TrainConfig(image_size=100)
    with pytest.raises(ValueError, match="even"):
        TrainConfig(batch_size=3)
