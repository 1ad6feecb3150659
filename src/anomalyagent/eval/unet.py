"""The detector: DRAEM's discriminative sub-network, width configurable.

Why this network: the AnomalyDiffusion protocol (reused by the AnomalyAgent paper) trains
DRAEM's discriminative U-Net on normal + synthetic pairs and scores it on real defects.
Design as in DRAEM (Zavrtanik et al., ICCV 2021): an encoder of six blocks (two 3x3
conv + BatchNorm + ReLU each) with channels [w, 2w, 4w, 8w, 8w, 8w] and 2x max-pooling
between them, a decoder that upsamples (bilinear), convolves and concatenates the skip of
the same scale, and a 1x1 head with two logits (normal, anomaly). DRAEM uses w = 64 and a
6-channel input (image + reconstruction); the protocol feeds the image only, so
``in_channels`` is 3 (grayscale images are replicated to 3 channels by the loader).

Input (B, in_channels, H, W) with H and W divisible by 32; output (B, 2, H, W) logits.
This module holds the network only; training lives in ``train.py``.

``standardize`` (not DRAEM's; off by default here, on in the bench's cpu preset): each
input image is shifted and scaled to mean 0 and standard deviation 1 over its pixels and
channels before the first layer. Why: BatchNorm evens out brightness across a batch, not
across images, and on magnetic_tile (grayscale tiles whose exposure differs per file) the
cpu-preset U-Net's seed 0 did not learn even real defects without it (oracle pixel AP 8.3
at chance 6.5; with it 19.7), though over seeds 0-2 the two are close (14.5 and 15.4).
Whether it is the cpu preset's default was decided on the other four dev categories:
oracle pixel AP over seeds 0-2, without -> with, crackforest 57.3 -> 63.1, hazelnut
86.7 -> 85.5, neu_seg 51.9 -> 56.8, transistor 25.5 -> 24.9 (mean +2.2;
docs/benchmarks.md, "The U-Net reads standardised images").
"""
from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
        nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class DiscriminativeUNet(nn.Module):
    """DRAEM discriminative sub-network; ``base_width`` w sets every layer's width."""

    depth = 6  # encoder blocks; the input side must be divisible by 2 ** (depth - 1)

    def __init__(self, in_channels: int = 3, out_channels: int = 2, base_width: int = 64,
                 standardize: bool = False) -> None:
        super().__init__()
        if base_width < 1:
            raise ValueError(f"base_width must be >= 1, got {base_width}")
        w = base_width
        widths = [w, 2 * w, 4 * w, 8 * w, 8 * w, 8 * w]
        self.base_width = w
        self.standardize = bool(standardize)
        self.encoder = nn.ModuleList()
        cin = in_channels
        for cout in widths:
            self.encoder.append(_block(cin, cout))
            cin = cout
        self.pool = nn.MaxPool2d(2)
        # Decoder level k goes from widths[k+1] up to widths[k], then fuses the skip.
        self.ups = nn.ModuleList()
        self.fuse = nn.ModuleList()
        for k in range(len(widths) - 2, -1, -1):
            self.ups.append(_up(widths[k + 1], widths[k]))
            self.fuse.append(_block(2 * widths[k], widths[k]))
        self.head = nn.Conv2d(w, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float image in [0, 1] -> (B, 2, H, W) logits."""
        side = 2 ** (self.depth - 1)
        if x.shape[-1] % side or x.shape[-2] % side:
            raise ValueError(f"input {tuple(x.shape[-2:])} must be divisible by {side}")
        if self.standardize:  # per image, over pixels and channels; 1e-3: a flat image stays finite
            x = (x - x.mean((1, 2, 3), keepdim=True)) / (x.std((1, 2, 3), keepdim=True) + 1e-3)
        skips = []
        for k, block in enumerate(self.encoder):
            x = block(x if k == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, fuse in zip(self.ups, self.fuse):
            x = fuse(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)

    def anomaly_map(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, H, W) probability of "anomaly" per pixel, in [0, 1]."""
        return torch.softmax(self.forward(x), dim=1)[:, 1]
