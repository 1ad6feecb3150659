"""Supervised fine-tuning of the learned policy on reverse-synthesis trajectories.

Each turn of a demonstrated trajectory is one example: the inputs the policy would have
seen before that turn (features.py, read through ``LearnedPolicy.inputs`` so training
and acting read the same features) and the classes of what the expert did (the tool;
for IG the edit relative to the current spec, ``ActionSpace.encode_edit``). Loss: cross
entropy of the tool, plus the IG heads' cross entropy on the IG turns worth imitating.

Which edits are imitated: a reverse trajectory's earlier attempts are flawed ON PURPOSE
(reverse/flaws.py: a twentieth of the intensity, three times the size, moved off the
part, ...) so that the review has something to name. Their tool is right (an edit is
due) but their edit is not one to copy: imitated, they teach the policy to make exactly
those flaws (measured: the SFT policy chose "intensity -0.3" on 41 of 52 held-out edits
and "size x2" on half). So the IG heads learn only from edits the following QE passed
(``imitated_edit``); the tool head learns from every turn.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from ..images import ImageError, read_image
from ..knowledge import KnowledgeBase
from ..policy_net.features import current_spec
from ..policy_net.model import PolicyNet, action_log_prob
from ..policy_net.policy import Encoders, LearnedPolicy
from ..policy_net.regions import FOLLOWED, followed_advice
from ..policy_net.space import HEADS, IG_HEADS, ActionSpace
from ..records import DefectSpec, Trajectory
from .batch import TurnBatch

log = logging.getLogger(__name__)


@dataclass
class Demonstration:
    """A demonstrated trajectory and the normal image it starts from ((H, W[, 3]) uint8)."""

    trajectory: Trajectory
    image: np.ndarray


def read_demonstrations(reverse_dir: str | Path, categories: Iterable[str] | None = None,
                        max_side: int | None = None) -> list[Demonstration]:
    """Trajectories of ``anomalyagent reverse`` output (``trajectories.jsonl``), with their
    normal images, optionally only some categories; a line whose image cannot be read is
    skipped with a warning naming it."""
    from .prompts import shrink

    root = Path(reverse_dir)
    path = root / "trajectories.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (run `anomalyagent reverse --data DATA --out {root}` first)")
    wanted = set(categories) if categories is not None else None
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            traj = Trajectory.from_dict(json.loads(line)["trajectory"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s:%d: not a trajectory record: %s", path, n, exc)
            continue
        if wanted is not None and traj.task.category not in wanted:
            continue
        try:
            image = read_image(str(root / traj.task.image_path))
        except (ImageError, OSError) as exc:
            log.warning("%s:%d: skipped: %s", path, n, exc)
            continue
        out.append(Demonstration(traj, shrink(image, max_side)))
    return out


def imitated_edit(trajectory: Trajectory, k: int) -> bool:
    """True when step ``k`` (an IG call) made an edit the next QE of the trajectory passed."""
    for step in trajectory.steps[k + 1:]:
        if step.call is None or step.observation is None or step.observation.error:
            continue
        if step.call.name == "IG":
            return False  # replaced before it was judged
        if step.call.name == "QE":
            return bool(step.observation.payload.get("passed", False))
    return False


IMITATE = ("passed", "all")


def uses_product(index: int, share: float) -> bool:
    """Whether item ``index`` of a list gets the product model when a ``share`` (0-1) of the
    items should: a fixed interleaving (share 0.5: every other item), no randomness."""
    return share >= 1.0 or (share > 0.0 and (index * share) % 1.0 < share)


def advice_label(prefix: Trajectory, before: DefectSpec, step) -> int:
    """The ``advice`` head's label of a demonstrated IG call: 1 when the last review had
    advice the head can follow (aspect, colour, texture) and the edit changed one of those
    fields (read from the spec the IG tool accepted), else 0."""
    qe = next((s for s in reversed(prefix.steps) if s.call is not None and s.call.name == "QE"
               and s.observation is not None and not s.observation.error), None)
    if qe is None or not followed_advice(qe.observation.payload.get("advice", [])):
        return 0
    payload = step.observation.payload if step.observation is not None and not step.observation.error else {}
    after = payload.get("spec", step.call.arguments)
    return int(any(after.get(k, getattr(before, k)) != getattr(before, k) for k in FOLLOWED))


def demonstration_turns(demos: list[Demonstration], space: ActionSpace, state_dim: int, encoders: Encoders,
                        kb: KnowledgeBase, max_turns: int = 10, imitate: str = "passed",
                        products: dict | None = None, product_share: float = 1.0) -> TurnBatch:
    """Every turn of every demonstration as (inputs, labels); ``ig_mask`` marks the
    IG turns whose edit is imitated: ``imitate`` "passed" (``imitated_edit``) or "all"
    (every demonstrated edit, flawed ones included: the ablation's old behaviour).
    ``products``: {category: ProductModel}; the policy then reads the product model's
    regions of each demonstration's image, as it does in episodes run with one, for the
    share ``product_share`` of the demonstrations (``uses_product``; the rest read none)."""
    if imitate not in IMITATE:
        raise ValueError(f"imitate must be one of {', '.join(IMITATE)}, got {imitate!r}")
    reader = LearnedPolicy(max_turns=max_turns, kb=kb, net=PolicyNet(space, state_dim), encoders=encoders)
    images, texts, states, labels, mask = [], [], [], [], []
    for i, demo in enumerate(demos):
        traj = demo.trajectory
        product = (products or {}).get(traj.task.category) if uses_product(i, product_share) else None
        view = reader.start(traj.task, demo.image, product.locate(demo.image)[1] if product is not None else None)
        for k, step in enumerate(traj.steps):
            prefix = Trajectory(traj.task, traj.steps[:k])
            image, text, state = reader.inputs(view, prefix)
            tool = step.call.name if step.call is not None else "answer"
            if tool not in space.tools:
                continue
            label = {"tool": space.tools.index(tool), **{h: 0 for h in IG_HEADS}}
            if tool == "IG":
                before = current_spec(prefix) or DefectSpec(view.entry.family, traj.task.defect_type, traj.task.category)
                label.update(space.encode_edit(before, step.call.arguments))
                label["advice"] = advice_label(prefix, before, step)
            images.append(image)
            texts.append(text)
            states.append(state)
            labels.append(label)
            mask.append(float(tool != "IG" or imitate == "all" or imitated_edit(traj, k)))
    return TurnBatch.build(images, texts, states, labels, ig_mask=mask)


def sft_loss(net: PolicyNet, batch: TurnBatch) -> torch.Tensor:
    """Mean cross entropy of the demonstrated tool and, on imitated IG turns, of the IG heads."""
    logits = net(batch.image, batch.text, batch.state)
    return -action_log_prob(logits, batch.actions, batch.ig_mask).mean()


def train_sft(net: PolicyNet, data: TurnBatch, epochs: int = 60, lr: float = 2e-3, batch_size: int = 64,
              seed: int = 0, weight_decay: float = 1e-4) -> list[float]:
    """Fit ``net`` to the demonstrations; returns the mean loss per epoch."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    history = []
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=gen)
        total = 0.0
        for i in range(0, len(data), batch_size):
            batch = data.select(order[i:i + batch_size])
            loss = sft_loss(net, batch)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            total += float(loss.detach()) * len(batch)
        sched.step()
        history.append(total / max(len(data), 1))
    net.eval()
    return history


@torch.no_grad()
def tool_accuracy(net: PolicyNet, data: TurnBatch) -> float:
    """Share of turns whose most likely tool is the demonstrated one."""
    net.eval()
    logits = net(data.image, data.text, data.state)
    return float((logits["tool"].argmax(-1) == data.actions["tool"]).float().mean())


__all__ = ["Demonstration", "HEADS", "demonstration_turns", "imitated_edit", "read_demonstrations", "sft_loss", "tool_accuracy", "train_sft"]
