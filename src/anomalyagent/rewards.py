"""Rewards of a finished episode: R = a * R_task + b * R_ref + c * R_beh (the paper's three).

Every reward is a pure function of ``Trajectory`` records (no I/O, no hidden state), so
the same numbers train the embedded policy (``anomalyagent.train``) and a multimodal LLM
through TRL's GRPOTrainer (``RewardFunction`` wrappers: ``f(completions, **kwargs) ->
list[float | None]``, trajectories taken from the ``environments`` TRL passes in).

- R_task in [0, 1 + diversity]: the final QE score / 10 (0 when the last edit was never
  judged), plus ``diversity`` x the mean spec distance to the other PASSING rollouts of
  the same prompt, for a passing rollout (a group that collapses on one spec earns
  nothing extra; a failing edit earns no credit for being different).
- R_ref in [0, 1]: sum over judged IG turns of max(0, S_m - S_(m-1)) / 10, clipped
  (reward for improving after a review), and 1 when the FIRST judged edit already
  passed QE. The paper's plain sum gives a first-try pass 0, so a deliberately poor first
  attempt that reaches the same final score would earn more; with a first-try pass
  counted as full marks no failure can beat it (docs/training.md).
- R_beh in [-overrun_penalty, 1]: the mean of (valid tool transitions, KR used after a
  failed or low QE, well-formed calls), minus ``overrun_penalty`` when the turn budget ran out.

Weights live in ``RewardConfig``; docs/training.md says why these defaults.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

from .records import DefectSpec, Step, Trajectory

PASS_SCORE = 5.0  # QE passes above this (0-10); the "low score" that should trigger KR
_MALFORMED = ("Error: unknown tool", "Error: invalid arguments")


@dataclass
class RewardConfig:
    """Weights of R = task * R_task + ref * R_ref + beh * R_beh, and the terms' knobs."""

    task: float = field(default=1.0, metadata={"help": "weight of R_task (final QE score / 10, + diversity)"})
    ref: float = field(default=0.3, metadata={"help": "weight of R_ref (sum of score improvements / 10)"})
    beh: float = field(default=0.3, metadata={"help": "weight of R_beh (valid order, KR when low, format)"})
    diversity: float = field(default=0.1, metadata={"help": "R_task bonus x mean spec distance to other passing rollouts"})
    low_score: float = field(default=PASS_SCORE, metadata={"help": "a QE that fails, or scores at or below this, should be followed by KR"})
    overrun_penalty: float = field(default=0.5, metadata={"help": "subtracted from R_beh when the turn budget ran out"})

    def __post_init__(self) -> None:
        for name in ("task", "ref", "beh", "diversity", "overrun_penalty"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"RewardConfig.{name} must be a finite number >= 0, got {value!r}")
        if self.task + self.ref + self.beh <= 0:
            raise ValueError("RewardConfig: at least one of task, ref, beh must be > 0 (else every reward is 0)")
        if not 0.0 <= self.low_score <= 10.0:
            raise ValueError(f"RewardConfig.low_score is a QE score in [0, 10], got {self.low_score}")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RewardConfig":
        return cls(**data)


# -- reading a trajectory ------------------------------------------------------------------
def _ok_calls(trajectory: Trajectory) -> list[Step]:
    return [s for s in trajectory.steps if s.call is not None and s.observation is not None and not s.observation.error]


def qe_scores(trajectory: Trajectory) -> list[float]:
    """Scores (0-10) of the successful QE calls, in order: S_1, S_2, ..."""
    return [float(s.observation.payload.get("score", 0.0)) for s in _ok_calls(trajectory) if s.call.name == "QE"]


def final_score(trajectory: Trajectory) -> float:
    """The final QE score in [0, 1]: the judgement of the LAST edit (0 if it was never judged)."""
    score = 0.0
    for s in _ok_calls(trajectory):
        if s.call.name == "IG":
            score = 0.0  # a new edit replaces the judged one
        elif s.call.name == "QE":
            score = float(s.observation.payload.get("score", 0.0))
    return min(max(score / 10.0, 0.0), 1.0)


def final_spec(trajectory: Trajectory) -> DefectSpec | None:
    """The spec of the last successful IG call (None when no edit was made)."""
    for s in reversed(_ok_calls(trajectory)):
        if s.call.name == "IG" and "spec" in s.observation.payload:
            return DefectSpec.from_dict(s.observation.payload["spec"])
    return None


def spec_distance(a: DefectSpec, b: DefectSpec) -> float:
    """How different two edits are, in [0, 1]: the mean of five parts each in [0, 1]
    (centre distance / sqrt 2, |log size ratio| / log 4, |intensity difference|,
    family differs, blend differs)."""
    dx, dy = a.center[0] - b.center[0], a.center[1] - b.center[1]
    parts = [
        min(math.hypot(dx, dy) / math.sqrt(2.0), 1.0),
        min(abs(math.log(max(a.size, 1e-3) / max(b.size, 1e-3))) / math.log(4.0), 1.0),
        min(abs(a.intensity - b.intensity), 1.0),
        float(a.family != b.family),
        float(a.blend != b.blend),
    ]
    return sum(parts) / len(parts)


def diversity(trajectories: Sequence[Trajectory]) -> list[float]:
    """Per rollout of ONE prompt: mean spec distance to the other passing rollouts, in
    [0, 1]; 0 for a failing rollout or when no other rollout passed."""
    specs = [final_spec(t) if t.passed else None for t in trajectories]
    out = []
    for i, si in enumerate(specs):
        others = [s for j, s in enumerate(specs) if j != i and s is not None]
        out.append(sum(spec_distance(si, s) for s in others) / len(others) if si is not None and others else 0.0)
    return out


# -- the three rewards ---------------------------------------------------------------------
def task_reward(trajectory: Trajectory, diversity_value: float = 0.0, config: RewardConfig | None = None) -> float:
    """R_task: final QE score in [0, 1] + config.diversity * diversity_value (when passed)."""
    config = config or RewardConfig()
    bonus = config.diversity * diversity_value if trajectory.passed else 0.0
    return final_score(trajectory) + bonus


def refinement_reward(trajectory: Trajectory) -> float:
    """R_ref: sum over successive judged edits of max(0, S_m - S_(m-1)) / 10, in [0, 1];
    1 when the first judged edit passed QE (nothing left to refine). A QE can fail an
    edit scoring above 5 (one hard-failing term), so the verdict is read, not the score."""
    first = next((st for st in _ok_calls(trajectory) if st.call.name == "QE"), None)
    if first is not None and first.observation.payload.get("passed", False):
        return 1.0
    s = qe_scores(trajectory)
    gain = sum(max(0.0, b - a) for a, b in zip(s, s[1:]))
    return min(gain / 10.0, 1.0)


def transition_validity(trajectory: Trajectory) -> list[bool]:
    """Per step (tool call or answer): does it follow the expected order?

    PG first and once; IG after PG; QE on a new edit; KR after a failed QE; MG once,
    after a passing QE of the latest edit; the answer after MG. A call that returned an
    error observation is invalid whatever its name.
    """
    planned = edited = judged = passed = masked = False
    out = []
    for i, s in enumerate(trajectory.steps):
        if s.call is None:  # the answer (valid after MG), or a reply the loop could not parse (invalid)
            out.append(masked and s.answer is not None)
            continue
        name, ok = s.call.name, s.observation is not None and not s.observation.error
        if name == "PG":
            valid = not planned and i == 0
            planned = planned or ok
        elif name == "IG":
            valid = planned
            if ok:
                edited, judged, passed = True, False, False
        elif name == "QE":
            valid = edited and not judged
            if ok:
                judged, passed = True, bool(s.observation.payload.get("passed", False))
        elif name == "KR":
            valid = judged and not passed
        elif name == "MG":
            valid = judged and passed and not masked
            masked = masked or ok
        else:
            valid = False
        out.append(bool(valid and ok))
    return out


def kr_when_low(trajectory: Trajectory, low_score: float = PASS_SCORE) -> float | None:
    """1 if KR was called after the first low QE (failed, or scoring <= low_score), 0 if
    not; None when no QE was low (the term does not apply)."""
    low_at = None
    for i, s in enumerate(trajectory.steps):
        if s.call is None or s.observation is None or s.observation.error:
            continue
        payload = s.observation.payload
        low = not payload.get("passed", False) or float(payload.get("score", 0.0)) <= low_score
        if low_at is None and s.call.name == "QE" and low:
            low_at = i
        elif low_at is not None and s.call.name == "KR":
            return 1.0
    return None if low_at is None else 0.0


def well_formed(trajectory: Trajectory) -> float:
    """Share of turns that were well formed: a known tool with valid arguments, or an
    answer. A reply the loop could not parse (a step with neither call nor answer, its
    error in the observation) is malformed; so is a policy error that ended the episode."""
    n = len(trajectory.steps)
    bad = sum(1 for s in trajectory.steps
              if (s.call is None and s.answer is None)  # a reply the loop could not parse (format error)
              or (s.call is not None and s.observation is not None and s.observation.error
                  and s.observation.text.startswith(_MALFORMED)))
    if trajectory.stop_reason.startswith("policy_error"):
        n, bad = n + 1, bad + 1
    return 1.0 - bad / n if n else 0.0


def behaviour_reward(trajectory: Trajectory, config: RewardConfig | None = None) -> float:
    """R_beh: mean of (valid transitions share, KR when low, well-formed share) minus
    config.overrun_penalty when the episode hit the turn budget without an answer."""
    config = config or RewardConfig()
    validity = transition_validity(trajectory)
    parts = [sum(validity) / len(validity) if validity else 0.0, well_formed(trajectory)]
    kr = kr_when_low(trajectory, config.low_score)
    if kr is not None:
        parts.append(kr)
    penalty = config.overrun_penalty if trajectory.stop_reason == "max_turns" else 0.0
    return sum(parts) / len(parts) - penalty


@dataclass
class RewardBreakdown:
    """The three rewards of one rollout and their weighted total."""

    task: float
    ref: float
    beh: float
    total: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def group_rewards(trajectories: Sequence[Trajectory], config: RewardConfig | None = None) -> list[RewardBreakdown]:
    """Rewards of the rollouts of ONE prompt (diversity is measured inside the group)."""
    config = config or RewardConfig()
    div = diversity(trajectories)
    out = []
    for t, d in zip(trajectories, div):
        rt, rr, rb = task_reward(t, d, config), refinement_reward(t), behaviour_reward(t, config)
        out.append(RewardBreakdown(rt, rr, rb, config.task * rt + config.ref * rr + config.beh * rb))
    return out


def _groups(trajectories: Sequence[Trajectory]) -> list[list[int]]:
    """Indices of rollouts grouped by prompt (same task and image), in first-seen order."""
    keys: dict[tuple, list[int]] = {}
    for i, t in enumerate(trajectories):
        keys.setdefault((t.task.image_path, t.task.category, t.task.defect_type, t.task.index), []).append(i)
    return list(keys.values())


def batch_rewards(trajectories: Sequence[Trajectory], config: RewardConfig | None = None) -> list[RewardBreakdown]:
    """Rewards of a batch holding several prompts' rollouts (grouped by task), in input order."""
    out: list[RewardBreakdown | None] = [None] * len(trajectories)
    for idx in _groups(trajectories):
        for i, r in zip(idx, group_rewards([trajectories[i] for i in idx], config)):
            out[i] = r
    return out  # type: ignore[return-value]


# -- TRL-style reward functions ------------------------------------------------------------
def _trajectories(kwargs: dict[str, Any], n: int) -> list[Trajectory | None]:
    """Trajectories of a TRL batch: from ``environments`` (objects with ``.trajectory``)
    or a ``trajectories`` column (records or dicts); None where there is none."""
    if kwargs.get("environments") is not None:
        found = [getattr(e, "trajectory", None) for e in kwargs["environments"]]
    elif kwargs.get("trajectories") is not None:
        found = [t if isinstance(t, Trajectory) or t is None else Trajectory.from_dict(t) for t in kwargs["trajectories"]]
    else:
        raise ValueError("reward function needs `environments` (TRL environment_factory) or a `trajectories` column")
    if len(found) != n:
        raise ValueError(f"got {len(found)} trajectories for {n} completions")
    return found


class RewardFunction:
    """A TRL reward: ``f(completions, **kwargs) -> list[float | None]`` for one term.

    ``term`` is "task", "ref", "beh" or "total" (the weighted sum). Picklable (a class,
    not a closure), so it survives being sent to worker processes; ``__name__`` is
    what TRL logs the column under.
    """

    TERMS = ("task", "ref", "beh", "total")

    def __init__(self, term: str = "total", config: RewardConfig | None = None) -> None:
        if term not in self.TERMS:
            raise ValueError(f"term must be one of {', '.join(self.TERMS)}, got {term!r}")
        self.term, self.config = term, config or RewardConfig()
        self.__name__ = f"reward_{term}"

    def __call__(self, completions: list[Any], **kwargs: Any) -> list[float | None]:
        found = _trajectories(kwargs, len(completions))
        present = [i for i, t in enumerate(found) if t is not None]
        scores = batch_rewards([found[i] for i in present], self.config)
        out: list[float | None] = [None] * len(completions)
        for i, r in zip(present, scores):
            out[i] = float(getattr(r, self.term))
        return out


def reward_functions(config: RewardConfig | None = None, terms: Iterable[str] = ("task", "ref", "beh")) -> list[RewardFunction]:
    """One TRL reward function per term; pass ``reward_weights`` = the config's weights."""
    return [RewardFunction(t, config) for t in terms]
