"""Train the detector on normal + anomalous pairs with a fixed budget; predict maps.

Protocol (AnomalyDiffusion, reused by the AnomalyAgent paper): every batch is half normal
training images (all-normal masks) and half anomalous pairs (synthetic ones for a
synthesis method, the reserved real third for the oracle); focal loss; Adam with DRAEM's
step decay (x0.2 at 80% and 90% of the epochs). By default the budget is fixed and the
LAST checkpoint is scored. ``select_on_test`` reproduces the legacy protocol: score the
test set after every epoch and keep the best epoch (by pixel AP); such numbers are
optimistic and the harness marks them as test-selected.

Determinism: the network is initialised under ``torch.manual_seed(seed)`` inside a forked
RNG (the caller's global state is untouched), batches are drawn from a numpy Generator
seeded with ``seed``, and deterministic algorithms are requested: same seed and same
data give the same numbers on the same machine.
"""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from .data import to_tensor_batch
from .detectors import DETECTORS
from .losses import focal_loss

log = logging.getLogger(__name__)


INPUT_NORMS = ("none", "image")


@dataclass
class TrainConfig:
    """Detector budget and size. Defaults are the CPU preset's (see ``bench.PRESETS``)."""

    image_size: int = 128  # side of the square the images are resized to (divisible by 32)
    base_width: int = 8  # U-Net width w (DRAEM: 64)
    epochs: int = 6
    samples_per_epoch: int = 400  # images seen per epoch, half normal and half anomalous
    batch_size: int = 8
    lr: float = 1e-3
    focal_gamma: float = 2.0
    flip: bool = True  # random horizontal/vertical flips of every training image
    select_on_test: bool = False
    # torch intra-op threads; 0 keeps torch's default. 1 on shared CPUs: with other
    # processes busy, 2 threads were 8x SLOWER per step than 1 (measured: 12.6 s vs 1.6 s).
    threads: int = 0
    detector: str = "unet"  # eval.detectors registry name: "unet" (the paper's) or "effnet"
    # Initial "anomaly" probability the head's bias is set to (RetinaNet's prior init for
    # focal loss); 0 keeps PyTorch's default init. Why: with the default init about a
    # quarter of the cpu preset's U-Net seeds train far slower (seeds 2, 7, 8, 13 of 0-13
    # on a toy set: loss 0.06-0.12 after 2 epochs where the others reach 0.02-0.04), and
    # at the bench's budget such a seed never learns (every bench row of seed 2, every
    # method and category: final loss 0.07-0.09 against 0.01-0.05). With 0.01 all of
    # them train (final toy loss <= 0.0002); on real data every seed 2 then trains too
    # (docs/benchmarks.md, "The detector's seed 2 never trains"). Default since stop 18.
    head_prior: float = 0.01
    # U-Net input: "none" (the paper's, [0, 1] as loaded) or "image" (each image standardised
    # to mean 0, std 1; unet.py says why and what it measured; the bench's cpu preset sets
    # it). Not for effnet.
    input_norm: str = "none"

    def __post_init__(self) -> None:
        if self.image_size % 32:
            raise ValueError(f"image_size {self.image_size} must be divisible by 32 (the U-Net pools 5 times)")
        if self.batch_size < 2 or self.batch_size % 2:
            raise ValueError(f"batch_size {self.batch_size} must be even (half normal, half anomalous)")
        if self.epochs < 1 or self.samples_per_epoch < self.batch_size:
            raise ValueError("need epochs >= 1 and samples_per_epoch >= batch_size")
        if self.detector not in DETECTORS:
            raise ValueError(f"detector {self.detector!r} must be one of {', '.join(DETECTORS.names())}")
        if self.input_norm not in INPUT_NORMS:
            raise ValueError(f"input_norm {self.input_norm!r} must be one of {', '.join(INPUT_NORMS)}")
        if self.input_norm != "none" and self.detector != "unet":
            raise ValueError(f"input_norm {self.input_norm!r} is for the unet detector; {self.detector} normalises its own input")
        if not (0.0 <= self.head_prior < 1.0):
            raise ValueError(f"head_prior {self.head_prior} must be in [0, 1)")

    @property
    def steps_per_epoch(self) -> int:
        return self.samples_per_epoch // self.batch_size


def set_head_prior(model: torch.nn.Module, prior: float) -> None:
    """Set the bias of ``model``'s last 2-logit 1x1 convolution (``model.head``, or the last
    module of it) so that softmax gives "anomaly" probability ``prior`` everywhere at the
    start (logits (0, log(prior / (1 - prior))) before the weights' contribution)."""
    head = getattr(model, "head", None)
    if isinstance(head, torch.nn.Sequential):
        head = head[-1]
    if not isinstance(head, torch.nn.Conv2d) or head.out_channels != 2 or head.bias is None:
        raise ValueError(f"{type(model).__name__}: no 2-logit head whose bias a prior can set")
    with torch.no_grad():
        head.bias.copy_(torch.tensor([0.0, float(np.log(prior / (1.0 - prior)))], dtype=head.bias.dtype))


@dataclass
class TrainResult:
    model: torch.nn.Module
    epoch: int  # 1-based epoch whose weights were kept
    losses: list[float] = field(default_factory=list)  # mean loss per epoch
    seconds: float = 0.0
    test_selected: bool = False


def _augment(images: np.ndarray, masks: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random flips of a batch: (B, S, S, 3) uint8 and (B, S, S) bool."""
    images, masks = images.copy(), masks.copy()
    for i in range(len(images)):
        if rng.random() < 0.5:
            images[i], masks[i] = images[i, :, ::-1], masks[i, :, ::-1]
        if rng.random() < 0.5:
            images[i], masks[i] = images[i, ::-1], masks[i, ::-1]
    return images, masks


def train_detector(
    normals: np.ndarray,
    anomalies: np.ndarray,
    anomaly_masks: np.ndarray,
    config: TrainConfig,
    seed: int = 0,
    score_fn: Callable[[torch.nn.Module], float] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train a fresh detector (``config.detector``: the U-Net by default).

    normals: (N, S, S, 3) uint8 normal training images; anomalies: (M, S, S, 3) uint8;
    anomaly_masks: (M, S, S) bool. ``score_fn`` (higher is better) is required when
    ``config.select_on_test`` is set and is called after every epoch.
    """
    if len(normals) == 0 or len(anomalies) == 0:
        raise ValueError(f"training needs normal and anomalous images; got {len(normals)} and {len(anomalies)}")
    if anomalies.shape[:3] != anomaly_masks.shape:
        raise ValueError(f"anomalies {anomalies.shape} and masks {anomaly_masks.shape} do not match")
    if config.select_on_test and score_fn is None:
        raise ValueError("select_on_test needs a score_fn")
    if config.threads:
        torch.set_num_threads(config.threads)
    rng = np.random.default_rng(seed)
    half = config.batch_size // 2
    normal_masks = np.zeros((half,) + normals.shape[1:3], bool)
    start = time.perf_counter()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = DETECTORS.create(config.detector, base_width=config.base_width, input_norm=config.input_norm)
            if config.head_prior > 0:
                set_head_prior(model, config.head_prior)
        groups = model.optimizer_groups(config.lr) if hasattr(model, "optimizer_groups") else model.parameters()
        optimizer = torch.optim.Adam(groups, lr=config.lr)
        milestones = [int(config.epochs * 0.8), int(config.epochs * 0.9)]
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.2)
        best_score, best_state, best_epoch = -np.inf, None, config.epochs
        losses: list[float] = []
        total = config.epochs * config.steps_per_epoch
        bar = tqdm(total=total, desc=f"train {config.detector} {config.image_size}px", disable=not progress, leave=False)
        for epoch in range(1, config.epochs + 1):
            model.train()
            running = 0.0
            for _ in range(config.steps_per_epoch):
                ni = rng.integers(0, len(normals), half)
                ai = rng.integers(0, len(anomalies), half)
                images = np.concatenate([normals[ni], anomalies[ai]])
                masks = np.concatenate([normal_masks, anomaly_masks[ai]])
                if config.flip:
                    images, masks = _augment(images, masks, rng)
                x = to_tensor_batch(images)
                y = torch.from_numpy(np.ascontiguousarray(masks))
                loss = focal_loss(model(x), y, gamma=config.focal_gamma)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                running += float(loss.detach())
                bar.update(1)
            scheduler.step()
            losses.append(running / config.steps_per_epoch)
            if config.select_on_test:
                score = float(score_fn(model))
                log.info("epoch %d: loss %.4f, test-selected score %.4f", epoch, losses[-1], score)
                if score > best_score:
                    best_score, best_epoch = score, epoch
                    best_state = copy.deepcopy(model.state_dict())
        bar.close()
        if best_state is not None:
            model.load_state_dict(best_state)
    finally:
        torch.use_deterministic_algorithms(deterministic)
    model.eval()
    return TrainResult(model, best_epoch if config.select_on_test else config.epochs, losses,
                       time.perf_counter() - start, config.select_on_test)


@torch.no_grad()
def predict_maps(model: torch.nn.Module, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """(N, S, S, 3) uint8 -> (N, S, S) float32 anomaly probabilities, model in eval mode."""
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(images), batch_size):
        out.append(model.anomaly_map(to_tensor_batch(images[i:i + batch_size])).numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros(images.shape[:3], np.float32)
