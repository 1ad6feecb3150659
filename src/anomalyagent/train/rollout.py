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
from ..rewards import RewardBreakdown, RewardConfig, final_score, group_rewards
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
        episode = run_episode(task, prompt.image, policy, tools, max_turns=max_turns)
        trajs.append(episode.trajectory)
        turns.append(list(getattr(policy, "turns", [])))
    rewards = group_rewards(trajs, config)
    return [Rollout(t, r, u) for t, r, u in zip(trajs, rewards, turns)]


def advantages(group: list[Rollout], eps: float = 1e-4, floor: float = 0.0) -> list[float]:
    """Group-normalised advantages (r - mean) / max(std + eps, floor); all 0 when the rewards are equal.

    ``floor`` (reward units): the smallest spread that is scaled up to unit advantages.
    Without it a group whose rollouts differ only by the critic's noise (e.g. eight
    passes scoring 8.1-8.3) gets advantages of +-1 like a group of passes and failures,
    and the update chases that noise; with it such a group's advantages stay small.
    """
    r = np.array([x.reward.total for x in group], np.float64)
    std = float(r.std())
    if std < 1e-8:
        return [0.0] * len(group)
    return list((r - r.mean()) / max(std + eps, floor))


def summarize(groups: list[list[Rollout]]) -> dict[str, float]:
    """Mean reward (and its three terms), final QE score (0-10), pass rate, mean turns,
    share of episodes that called KR, over every rollout of every group."""
    flat = [x for g in groups for x in g]
    if not flat:
        return {"episodes": 0}
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
    }
