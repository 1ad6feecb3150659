"""Our own GRPO for the learned policy: group-normalised advantages, clipped ratio, KL to SFT.

Per iteration: ``prompts_per_step`` prompts, ``group_size`` rollouts each through
``run_episode`` with the policy sampling its tools and IG parameters (every decision
recorded with its log-probability); rewards from ``anomalyagent.rewards``; each turn of
a rollout gets that rollout's advantage; then ``epochs`` passes of

    loss = -mean_turns min(rho * A, clip(rho, 1 - eps, 1 + eps) * A) + beta * KL(pi || pi_SFT)

with rho = pi(a|s) / pi_old(a|s) and the KL exact over the discrete heads taken on that
turn, over shuffled minibatches of ``minibatch`` turns (PPO's reuse of a batch: the
rollouts cost far more than the updates). The reference is the frozen SFT network.
Advantages are divided by max(std, ``advantage_floor``) (rollout.advantages: a group
whose rewards differ only by the critic's noise must not get unit advantages), of the
weighted total or, with ``normalize="per_term"``, of each reward term on its own.
"""
from __future__ import annotations

import copy
import logging
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..knowledge import KnowledgeBase
from ..policy_net.model import PolicyNet, action_log_prob, kl_to
from ..policy_net.policy import Encoders, LearnedPolicy
from ..rewards import PASS_SCORE, RewardConfig
from ..tools import ToolBox
from .batch import TurnBatch
from .prompts import Prompt
from .rollout import Rollout, advantages, kr_credit, rollout_group, spread, summarize

log = logging.getLogger(__name__)
NORMALIZE = ("total", "per_term")


@dataclass
class GRPOSettings:
    """Knobs of our GRPO (defaults: the ablation's and the shipped weights'; see ``PolicyRecipe``
    and docs/training.md)."""

    iterations: int = field(default=20, metadata={"help": "policy updates (0: SFT only)"})
    prompts_per_step: int = field(default=8, metadata={"help": "prompts per update"})
    group_size: int = field(default=8, metadata={"help": "rollouts per prompt (the paper: 8)"})
    epochs: int = field(default=2, metadata={"help": "passes over each batch of rollouts"})
    lr: float = field(default=3e-4, metadata={"help": "AdamW learning rate"})
    clip: float = field(default=0.2, metadata={"help": "ratio clip epsilon"})
    beta: float = field(default=0.04, metadata={"help": "KL weight to the SFT policy"})
    max_turns: int = field(default=10, metadata={"help": "turn budget of an episode"})
    minibatch: int = field(default=64, metadata={"help": "turns per gradient step (0: the whole batch)"})
    advantage_floor: float = field(default=0.1, metadata={"help": "advantages = (r - mean) / max(std, this)"})
    kr_credit: float = field(default=0.0, metadata={"help": "weight of the per-turn credit for KR after a low QE, added "
                                                    "to that turn's advantage (rollout.kr_credit; 0: off)"})
    normalize: str = field(default="total", metadata={"help": "advantages from the weighted total ('total') or each "
                                                      "reward term normalised on its own ('per_term', rollout.advantages)"})

    def __post_init__(self) -> None:
        if int(self.iterations) < 0:
            raise ValueError(f"GRPOSettings.iterations must be >= 0 (0: SFT only), got {self.iterations}")
        for name in ("prompts_per_step", "group_size", "epochs", "max_turns"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"GRPOSettings.{name} must be >= 1, got {getattr(self, name)}")
        if self.group_size < 2:
            raise ValueError("GRPOSettings.group_size must be >= 2: advantages are relative to the group")
        if not (math.isfinite(self.kr_credit) and self.kr_credit >= 0):
            raise ValueError(f"GRPOSettings.kr_credit must be a finite number >= 0, got {self.kr_credit}")
        if int(self.minibatch) < 0 or not (math.isfinite(self.advantage_floor) and self.advantage_floor >= 0):
            raise ValueError(f"GRPOSettings: minibatch >= 0 and a finite advantage_floor >= 0 are required, got "
                             f"{self.minibatch}, {self.advantage_floor}")
        if self.normalize not in NORMALIZE:
            raise ValueError(f"GRPOSettings.normalize must be one of {', '.join(NORMALIZE)}, got {self.normalize!r}")
        if not (0 < self.clip < 1 and self.lr > 0 and self.beta >= 0 and math.isfinite(self.lr)):
            raise ValueError(f"GRPOSettings: need 0 < clip < 1, lr > 0, beta >= 0; got {self.clip}, {self.lr}, {self.beta}")

    def to_dict(self) -> dict:
        return asdict(self)


def turns_of(groups: list[list[Rollout]], floor: float = 0.0, config: RewardConfig | None = None,
             kr_weight: float = 0.0, low_score: float = PASS_SCORE) -> TurnBatch | None:
    """Every recorded turn with its rollout's group-normalised advantage (None if all are 0);
    ``config``: normalise each reward term on its own (rollout.advantages); ``kr_weight``:
    add that times the per-turn KR credit (rollout.kr_credit) to the turns that chose
    whether to look up the knowledge after a low QE."""
    images, texts, states, actions, adv, old = [], [], [], [], [], []
    credit = kr_credit(groups, low_score) if kr_weight > 0 else {}
    for g, group in enumerate(groups):
        for r, (rollout, a) in enumerate(zip(group, advantages(group, floor=floor, config=config))):
            for k, t in enumerate(rollout.turns):
                value = a + kr_weight * credit.get((g, r, k), 0.0)
                if value == 0.0:
                    continue
                images.append(t.image)
                texts.append(t.text)
                states.append(t.state)
                actions.append(t.actions)
                adv.append(value)
                old.append(t.log_prob)
    return TurnBatch.build(images, texts, states, actions, adv, old) if actions else None


def grpo_loss(net: PolicyNet, ref: PolicyNet, batch: TurnBatch, clip: float, beta: float) -> tuple[torch.Tensor, dict]:
    logits = net(batch.image, batch.text, batch.state)
    logp = action_log_prob(logits, batch.actions)
    ratio = torch.exp(logp - batch.old_log_prob)
    surrogate = torch.minimum(ratio * batch.advantage, torch.clamp(ratio, 1 - clip, 1 + clip) * batch.advantage)
    with torch.no_grad():
        ref_logits = ref(batch.image, batch.text, batch.state)
    kl = kl_to(logits, ref_logits, batch.actions)
    loss = -surrogate.mean() + beta * kl.mean()
    return loss, {"kl": float(kl.mean().detach()), "clipped": float(((ratio - 1).abs() > clip).float().mean())}


def train_grpo(net: PolicyNet, prompts: list[Prompt], tools: ToolBox, settings: GRPOSettings, reward: RewardConfig,
               encoders: Encoders, kb: KnowledgeBase, rng: np.random.Generator) -> list[dict]:
    """Improve ``net`` in place; returns one log line per iteration (rollout numbers before the update)."""
    if not prompts and settings.iterations:
        raise ValueError("GRPO needs at least one prompt")
    ref = copy.deepcopy(net).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=0.0)
    history = []
    for it in range(settings.iterations):
        net.eval()  # no dropout: the recorded log-probs must be the ones the loss recomputes
        chosen = rng.choice(len(prompts), size=min(settings.prompts_per_step, len(prompts)), replace=False)
        make = lambda: LearnedPolicy(settings.max_turns, kb, net=net, encoders=encoders, sample_tools=True, record=True)
        groups = [rollout_group(prompts[int(i)], make, tools, settings.group_size, reward, settings.max_turns) for i in chosen]
        line = {"iteration": it, **summarize(groups), **spread(groups, settings.advantage_floor)}
        batch = turns_of(groups, settings.advantage_floor, reward if settings.normalize == "per_term" else None,
                         settings.kr_credit, reward.low_score)
        if batch is not None:
            gen = torch.Generator().manual_seed(int(rng.integers(2**31))) if settings.minibatch else None
            size = settings.minibatch or len(batch)
            steps = 0
            for _ in range(settings.epochs):
                order = torch.randperm(len(batch), generator=gen) if settings.minibatch else torch.arange(len(batch))
                for i in range(0, len(batch), size):
                    loss, info = grpo_loss(net, ref, batch.select(order[i:i + size]), settings.clip, settings.beta)
                    opt.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                    opt.step()
                    steps += 1
            line.update(loss=float(loss.detach()), turns=len(batch), steps=steps, **info)
        log.info("GRPO %d: reward %.3f, pass %.2f, score %.2f, turns %.1f", it, line.get("mean_reward", 0.0),
                 line.get("pass_rate", 0.0), line.get("final_qe_score", 0.0), line.get("mean_turns", 0.0))
        history.append(line)
    net.eval()
    return history
