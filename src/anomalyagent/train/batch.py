"""A batch of policy turns as tensors: inputs (image, text, state) and chosen classes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..policy_net.space import HEADS


@dataclass
class TurnBatch:
    """N turns. image (N, 1280), text (N, 768), state (N, S) float32; actions {head: (N,) long};
    ``advantage`` and ``old_log_prob`` (N,) float32 for GRPO (zeros for SFT); ``ig_mask`` (N,)
    float32: 1 where an IG turn's edit heads are trained on (SFT leaves out edits that
    were flawed on purpose; GRPO: all 1)."""

    image: torch.Tensor
    text: torch.Tensor
    state: torch.Tensor
    actions: dict[str, torch.Tensor]
    advantage: torch.Tensor
    old_log_prob: torch.Tensor
    ig_mask: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.ig_mask is None:
            self.ig_mask = torch.ones(len(self), dtype=torch.float32)

    def __len__(self) -> int:
        return int(self.image.shape[0])

    @classmethod
    def build(cls, images, texts, states, actions: list[dict[str, int]], advantages=None, old_log_probs=None,
              ig_mask=None) -> "TurnBatch":
        if not actions:
            raise ValueError("no turns to train on (no demonstrations or rollouts were read)")
        n = len(actions)
        as_tensor = lambda rows: torch.from_numpy(np.stack(rows).astype(np.float32))
        zeros = np.zeros(n, np.float32)
        return cls(
            as_tensor(images), as_tensor(texts), as_tensor(states),
            {h: torch.tensor([a.get(h, 0) for a in actions], dtype=torch.long) for h in HEADS},
            torch.from_numpy(np.asarray(advantages if advantages is not None else zeros, np.float32)),
            torch.from_numpy(np.asarray(old_log_probs if old_log_probs is not None else zeros, np.float32)),
            torch.from_numpy(np.asarray(ig_mask if ig_mask is not None else np.ones(n), np.float32)),
        )

    def select(self, index: torch.Tensor) -> "TurnBatch":
        return TurnBatch(self.image[index], self.text[index], self.state[index],
                         {k: v[index] for k, v in self.actions.items()}, self.advantage[index], self.old_log_prob[index],
                         self.ig_mask[index])
