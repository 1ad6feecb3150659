"""The learned policy network: image + text + state -> logits of the six heads.

Small on purpose (about 0.5 M parameters, 2 MB as float32): the heavy encoders
(EfficientNet-Lite0, MiniLM) are frozen and come from their packages; only this head
is trained and shipped. Shapes: image (B, 1280), text (B, 768), state (B, S) ->
{head: (B, n_head)}; the advice head is fixed to "keep" where the state holds no advice it can follow.
"""
from __future__ import annotations

import torch
from torch import nn

from .features import IMAGE_DIM, STATE_DIM, TEXT_DIM
from .regions import ADVICE_DIM, FOLLOW_AT
from .space import HEADS, IG_HEADS, ActionSpace


class PolicyNet(nn.Module):
    def __init__(self, space: ActionSpace, state_dim: int, hidden: int = 256, proj: int = 128, dropout: float = 0.1) -> None:
        super().__init__()
        self.space, self.state_dim = space, state_dim
        self.image = nn.Sequential(nn.LayerNorm(IMAGE_DIM), nn.Linear(IMAGE_DIM, proj), nn.GELU())
        self.text = nn.Sequential(nn.Linear(2 * TEXT_DIM, proj), nn.GELU())
        self.state = nn.Sequential(nn.Linear(state_dim, proj), nn.GELU())
        self.trunk = nn.Sequential(
            nn.Linear(3 * proj, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.GELU(),
        )
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, n) for name, n in space.sizes().items()})
        # The advice head decides only where there is advice it can follow (the state's
        # flag, regions.FOLLOW_AT); elsewhere "keep" is certain, so that choice adds
        # nothing to a turn's log-probability or KL (no gradient on a choice without effect).
        self.mask_advice = state_dim >= STATE_DIM

    def forward(self, image: torch.Tensor, text: torch.Tensor, state: torch.Tensor) -> dict[str, torch.Tensor]:
        h = torch.cat([self.image(image), self.text(text), self.state(state)], dim=-1)
        h = self.trunk(h)
        out = {name: head(h) for name, head in self.heads.items()}
        if self.mask_advice and "advice" in out:
            follow = state[:, -ADVICE_DIM + FOLLOW_AT] > 0.5  # (B,)
            fixed = torch.tensor([0.0, -30.0], dtype=out["advice"].dtype)  # "keep" with p ~ 1 - 1e-13
            out["advice"] = torch.where(follow[:, None], out["advice"], fixed)
        return out


def action_log_prob(logits: dict[str, torch.Tensor], actions: dict[str, torch.Tensor],
                    ig_mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) log-probability of the taken actions: the tool's, plus the IG heads' when the
    tool is IG. ``actions``: {head: (B,) long}; IG heads are ignored for other tools, and
    for turns where ``ig_mask`` (B,) is 0 (SFT: an edit not to imitate)."""
    logp = {k: torch.log_softmax(v, dim=-1) for k, v in logits.items()}
    out = logp["tool"].gather(1, actions["tool"][:, None])[:, 0]
    is_ig = (actions["tool"] == 1).float()  # TOOLS[1] == "IG"
    if ig_mask is not None:
        is_ig = is_ig * ig_mask
    for head in IG_HEADS:
        if head in logp:  # a checkpoint made before the advice head has none
            out = out + is_ig * logp[head].gather(1, actions[head][:, None])[:, 0]
    return out


def kl_to(logits: dict[str, torch.Tensor], ref_logits: dict[str, torch.Tensor], actions: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B,) exact KL(policy || reference) of the tool head, plus the IG heads on IG turns."""
    def kl(head: str) -> torch.Tensor:
        p = torch.log_softmax(logits[head], dim=-1)
        q = torch.log_softmax(ref_logits[head], dim=-1)
        return (p.exp() * (p - q)).sum(-1)

    is_ig = (actions["tool"] == 1).float()
    return kl("tool") + sum(is_ig * kl(h) for h in IG_HEADS if h in logits)


__all__ = ["HEADS", "PolicyNet", "action_log_prob", "kl_to"]
