"""Focal loss for the detector (Lin et al. 2017), as DRAEM trains its discriminative net.

Why focal: defect pixels are a few percent of an image; the (1 - p_t) ** gamma factor
down-weights the many easy normal pixels so the net does not settle on "all normal".
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, alpha: float | None = None,
               eps: float = 1e-6) -> torch.Tensor:
    """Mean focal loss over pixels.

    logits: (B, 2, H, W) raw scores (normal, anomaly); target: (B, H, W) in {0, 1}
    (float or bool, 1 = anomaly). ``alpha`` optionally weights the anomaly class by alpha
    and the normal class by 1 - alpha (DRAEM leaves it off). Returns a scalar tensor.
    """
    if logits.ndim != 4 or logits.shape[1] != 2:
        raise ValueError(f"logits must be (B, 2, H, W), got {tuple(logits.shape)}")
    if target.shape != (logits.shape[0],) + tuple(logits.shape[2:]):
        raise ValueError(f"target {tuple(target.shape)} does not match logits {tuple(logits.shape)}")
    target = target.long()
    logp = F.log_softmax(logits, dim=1)
    logp_t = logp.gather(1, target.unsqueeze(1)).squeeze(1)  # (B, H, W)
    p_t = logp_t.exp().clamp(eps, 1.0)
    loss = -((1.0 - p_t) ** gamma) * logp_t
    if alpha is not None:
        weight = torch.where(target == 1, torch.full_like(p_t, alpha), torch.full_like(p_t, 1.0 - alpha))
        loss = loss * weight
    return loss.mean()
