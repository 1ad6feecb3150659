"""Rollouts through the real agent loop, and the numbers that compare policies.

A group is ``group_size`` episodes of one prompt with different seeds (the policy's and
the tools' randomness both derive from the task seed). Every policy - rules, the learned
network, anything registered - runs through ``run_episode`` with the same tools, and
every group is scored by the same reward functions (``anomalyagent.rewards``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..agent.loop import run_episode
from ..rewards import PASS_SCORE, RewardBreakdown, RewardConfig, final_score, group_rewards, kr_when_low
from ..records import Trajectory
from ..tools import ToolBox
from .prompts import Prompt


@dataclass
class Rollout:
    """One episode: its trajectory, rewards, and the policy's recorded turns (if any)."""

    trajectory: Trajectory
    reward: RewardBreakdown
    turns: list[Any] = field(default_factory=list)


def rollout_group(prompt: Prompt, make_policy: Callable[[], Any], tools: ToolBox, group_size: int,
                  config: RewardConfig, max_turns: int = 10) -> list[Rollout]:
    """``group_size`` episodes of ``prompt`` (seeds derived from the prompt's), scored together."""
    trajs, turns = [], []
    for g in range(group_size):
        task = dataclasses.replace(prompt.task, seed=int(np.random.default_rng([prompt.task.seed, g]).integers(2**31)))
        policy = make_policy()
        episode = run_episode(task, prompt.image, policy, tools, max_turns=max_turns, product=prompt.product)
        trajs.append(episode.trajectory)
        turns.append(list(getattr(policy, "turns", [])))
    rewards = group_rewards(trajs, config)
    return [Rollout(t, r, u) for t, r, u in zip(trajs, rewards, turns)]


def advantages(group: list[Rollout], eps: float = 1e-4, floor: float = 0.0,
               config: RewardConfig | None = None) -> list[float]:
    """Group-normalised advantages; all 0 when no reward differs within the group.

    Without ``config``: (r - mean) / max(std + eps, floor) of the weighted total.
    With ``config`` (per-term normalisation): each of R_task, R_ref, R_beh is normalised
    within the group on its own, (r_k - mean_k) / max(std_k + eps, floor), and the
    results are summed with the config's weights, divided by the sum of the weights of
    the terms in use. Why: normalising the total lets the term with the largest spread
    (R_task, whose critic noise alone is ~0.05) decide every sign, so a behaviour term
    weighted 0.3 whose steps are 0.1 (one KR after a low score) moves the advantage less
    than the critic's noise does; per term, a group that differs only in behaviour still
    ranks its rollouts by behaviour, and a group that differs in both gets both signals
    at the weights' ratio.

    ``floor`` (reward units): the smallest spread that is scaled up to unit advantages.
    Without it a group whose rollouts differ only by the critic's noise (e.g. eight
    passes scoring 8.1-8.3) gets advantages of +-1 like a group of passes and failures,
    and the update chases that noise; with it such a group's advantages stay small.
    """
    def normalised(values: list[float]) -> np.ndarray:
        r = np.array(values, np.float64)
        std = float(r.std())
        return np.zeros(len(r)) if std < 1e-8 else (r - r.mean()) / max(std + eps, floor)

    if config is None:
        return list(normalised([x.reward.total for x in group]))
    weights = {"task": config.task, "ref": config.ref, "beh": config.beh}
    used = {k: w for k, w in weights.items() if w > 0}
    total = sum(normalised([getattr(x.reward, k) for x in group]) * w for k, w in used.items())
    return list(np.asarray(total, np.float64) / sum(used.values()))


def kr_decision(trajectory: Trajectory, low_score: float = PASS_SCORE) -> int | None:
    """Index of the step that decided whether to look up the knowledge after the first low
    QE (the step right after it; None when no QE was low, KR came before it, or the
    episode ended there). The turn whose choice ``rewards.kr_when_low`` scores."""
    for i, s in enumerate(trajectory.steps):
        if s.call is None or s.observation is None or s.observation.error:
            continue
        if s.call.name == "KR":
            return None
        payload = s.observation.payload
        if s.call.name == "QE" and (not payload.get("passed", False) or float(payload.get("score", 0.0)) <= low_score):
            return i + 1 if i + 1 < len(trajectory.steps) else None
    return None


def kr_credit(groups: list[list[Rollout]], low_score: float = PASS_SCORE, floor: float = 0.5) -> dict[tuple[int, int, int], float]:
    """Per-turn credit for "KR after a low QE": {(group, rollout, turn): value} for every
    decision turn (``kr_decision``) of the batch, 1 for a KR call and 0 otherwise,
    normalised over those turns, (c - mean) / max(std, ``floor``); {} when they all chose alike.

    Why per turn: the rollout-level advantage spreads R_beh's KR part (0.3 / 3 = 0.1 of
    reward) over every turn of the rollout, below the critic's noise in R_task, so the
    policy never learns it (docs/benchmarks.md: KR after a low QE does not rise). Given to
    the one turn that made the choice, against the other such turns of the batch, the
    choice is credited directly; the behaviour reward itself is unchanged."""
    where, chose = [], []
    for g, group in enumerate(groups):
        for r, rollout in enumerate(group):
            k = kr_decision(rollout.trajectory, low_score)
            step = rollout.trajectory.steps[k] if k is not None else None
            if k is None or k >= len(rollout.turns):
                continue
            where.append((g, r, k))
            chose.append(float(step.call is not None and step.call.name == "KR"))
    c = np.array(chose, np.float64)
    if len(c) < 2 or c.std() < 1e-8:
        return {}
    values = (c - c.mean()) / max(float(c.std()), floor)
    return dict(zip(where, values.tolist()))


def spread(groups: list[list[Rollout]], floor: float = 0.0) -> dict[str, float]:
    """How much a batch of groups can teach: the share of groups whose weighted totals are
    all equal (zero advantages: no gradient), the share whose totals spread less than
    ``floor`` (advantages shrunk), and the mean within-group std of the total and of each
    term (reward units, unweighted)."""
    if not groups:
        return {}
    std = lambda g, k: float(np.std([getattr(x.reward, k) for x in g]))
    totals = [std(g, "total") for g in groups]
    return {
        "groups_equal": float(np.mean([s < 1e-8 for s in totals])),
        "groups_below_floor": float(np.mean([s < floor for s in totals])) if floor else 0.0,
        **{f"std_{k}": float(np.mean([std(g, k) for g in groups])) for k in ("total", "task", "ref", "beh")},
        **{f"groups_vary_{k}": float(np.mean([std(g, k) > 1e-8 for g in groups])) for k in ("task", "ref", "beh")},
    }


def summarize(groups: list[list[Rollout]]) -> dict[str, float]:
    """Mean reward (and its three terms), final QE score (0-10), pass rate, mean turns,
    share of episodes that called KR, and of those with a low QE that called KR after it
    (``kr_when_low``, over ``episodes_low`` episodes), over every rollout of every group."""
    flat = [x for g in groups for x in g]
    if not flat:
        return {"episodes": 0}
    low = [v for v in (kr_when_low(x.trajectory, PASS_SCORE) for x in flat) if v is not None]
    mean = lambda xs: float(np.mean(xs))
    return {
        "episodes": len(flat),
        "mean_reward": mean([x.reward.total for x in flat]),
        "r_task": mean([x.reward.task for x in flat]),
        "r_ref": mean([x.reward.ref for x in flat]),
        "r_beh": mean([x.reward.beh for x in flat]),
        "final_qe_score": mean([10.0 * final_score(x.trajectory) for x in flat]),
        "pass_rate": mean([float(x.trajectory.passed) for x in flat]),
        "mean_turns": mean([len(x.trajectory.steps) for x in flat]),
        "kr_use": mean([float("KR" in x.trajectory.tool_names) for x in flat]),
        # KR use where the behaviour reward asks for it (after a low QE); kr_use also falls
        # when fewer first edits fail, so it alone cannot say whether a policy learned this
        "kr_when_low": mean(low) if low else 0.0,
        "episodes_low": float(len(low)),
        "overrun": mean([float(x.trajectory.stop_reason == "max_turns") for x in flat]),
    }
