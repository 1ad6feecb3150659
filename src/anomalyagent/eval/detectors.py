"""The detectors a benchmark can train, by registry name (``bench --detector NAME``).

- ``unet``: DRAEM's discriminative U-Net from scratch (``unet.py``), the paper's protocol;
- ``effnet``: a light decoder on the pretrained EfficientNet-Lite0 encoder (``effnet.py``),
  closer to what inspection teams fine-tune.

Both map (B, 3, S, S) images in [0, 1] to (B, 2, S, S) logits and expose
``anomaly_map``; a detector may expose ``optimizer_groups(lr)`` for per-part learning
rates. Factories take keyword arguments (``base_width`` is the U-Net's width and
``input_norm`` its input normalisation, "none" or "image"; ``effnet`` ignores both: it
normalises with ImageNet's statistics inside) and import torch lazily.
"""
from __future__ import annotations

from typing import Any

from ..registry import Registry

DETECTORS: Registry[Any] = Registry("detector")


@DETECTORS.register("unet")
def build_unet(base_width: int = 8, input_norm: str = "none", **_: Any):
    from .unet import DiscriminativeUNet

    return DiscriminativeUNet(base_width=base_width, standardize=input_norm == "image")


@DETECTORS.register("effnet")
def build_effnet(**_: Any):
    from .effnet import EffNetSegmenter

    return EffNetSegmenter()
