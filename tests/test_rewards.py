"""Rewards on hand-built trajectories (no tools run): each term and the TRL wrappers."""
import math

import pytest

from anomalyagent.records import DefectSpec, Observation, Step, Task, ToolCall, Trajectory
from anomalyagent.rewards import (
    RewardConfig, RewardFunction, batch_rewards, behaviour_reward, diversity, final_score, group_rewards,
    kr_when_low, refinement_reward, spec_distance, task_reward, transition_validity, well_formed,
)

SPEC = DefectSpec("crack", "crack", "hazelnut", center=(0.5, 0.5), size=0.2, intensity=0.6)


def step(i, name, payload=None, error=False, text="ok"):
    return Step(i, call=ToolCall(name, {}), observation=Observation(text=text, error=error, payload=payload or {}))


def ig(i, spec=SPEC):
    return step(i, "IG", {"spec": spec.to_dict()})


def qe(i, score, passed=None):
    return step(i, "QE", {"score": score, "passed": score > 5 if passed is None else passed})


def answer(i):
    return Step(i, answer="done")


def traj(steps, stop="finished", index=0, image="a.png"):
    passed = any(s.call is not None and s.call.name == "MG" and not s.observation.error for s in steps)
    t = Trajectory(Task(image, "hazelnut", "crack", index=index), steps, passed=passed, stop_reason=stop)
    t.score = final_score(t) * 10
    return t


def expert(first=7.0):
    """PG -> IG -> QE pass -> MG -> answer."""
    return traj([step(0, "PG"), ig(1), qe(2, first), step(3, "MG"), answer(4)])


def reflected(s1=3.0, s2=7.0, kr=True):
    """PG -> IG -> QE fail -> [KR] -> IG -> QE pass -> MG -> answer."""
    steps = [step(0, "PG"), ig(1), qe(2, s1)]
    if kr:
        steps.append(step(3, "KR"))
    n = len(steps)
    steps += [ig(n), qe(n + 1, s2), step(n + 2, "MG"), answer(n + 3)]
    return traj(steps)


def test_task_reward_is_the_last_judged_score():
    assert final_score(expert(7.0)) == pytest.approx(0.7)
    assert final_score(reflected(3.0, 8.0)) == pytest.approx(0.8)
    # an edit made after the last QE was never judged: 0
    unjudged = traj([step(0, "PG"), ig(1), qe(2, 6.0), ig(3)], stop="max_turns")
    assert final_score(unjudged) == 0.0
    assert final_score(traj([step(0, "PG")])) == 0.0


def test_refinement_rewards_only_improvements():
    assert refinement_reward(expert()) == 1.0  # passed at once: nothing to refine, full marks
    assert refinement_reward(traj([step(0, "PG"), ig(1), qe(2, 4.0)])) == 0.0
    # a hard-failed first edit (score above 5, verdict fail) is not a first-try pass
    hard = traj([step(0, "PG"), ig(1), qe(2, 6.0, passed=False), ig(3), qe(4, 8.0)])
    assert refinement_reward(hard) == pytest.approx(0.2)
    assert refinement_reward(reflected(3.0, 7.0)) == pytest.approx(0.4)
    down_up = traj([step(0, "PG"), ig(1), qe(2, 4.0), ig(3), qe(4, 2.0), ig(5), qe(6, 5.0)])
    assert refinement_reward(down_up) == pytest.approx(0.3)  # only the 2 -> 5 rise counts


def test_transitions_follow_the_expert_order():
    assert transition_validity(reflected()) == [True] * 8
    assert transition_validity(expert()) == [True] * 5
    bad = traj([ig(0), step(1, "PG"), step(2, "QE", error=True), qe(3, 7.0), step(4, "MG"), step(5, "PG", error=True), answer(6)])
    # IG before PG; PG not first; errored QE; QE after IG ok; MG ok; second PG; answer after MG
    assert transition_validity(bad) == [False, False, False, True, True, False, True]
    # MG without a passing QE, KR without a failed QE, answer without a mask
    assert transition_validity(traj([step(0, "PG"), step(1, "KR"), ig(2), qe(3, 4.0), step(4, "MG", error=True), answer(5)])) == \
        [True, False, True, True, False, False]


def test_kr_term_applies_only_after_a_low_score():
    assert kr_when_low(expert()) is None
    assert kr_when_low(reflected(kr=True)) == 1.0
    assert kr_when_low(reflected(kr=False)) == 0.0
    assert kr_when_low(expert(6.0), low_score=5.0) is None
    # a failed verdict counts as low whatever the score
    assert kr_when_low(traj([step(0, "PG"), ig(1), qe(2, 6.0, passed=False), ig(3)])) == 0.0
    assert kr_when_low(expert(7.0), low_score=8.0) == 0.0  # passed, but at or below the bar


def test_well_formed_counts_bad_calls_and_policy_errors():
    assert well_formed(expert()) == 1.0
    t = traj([step(0, "PG"), step(1, "XX", error=True, text="Error: unknown tool 'XX'. Available ..."), ig(2)])
    assert well_formed(t) == pytest.approx(2 / 3)
    t = traj([step(0, "PG")], stop="policy_error: bad json")
    assert well_formed(t) == pytest.approx(0.5)
    # a reply the loop could not parse: a step with neither call nor answer, its error observed
    garbled = Step(1, observation=Observation(text="Error: no <tool_call>", error=True))
    t = traj([step(0, "PG"), garbled, ig(2)])
    assert well_formed(t) == pytest.approx(2 / 3)
    assert transition_validity(t) == [True, False, True]
    # an ordering error is not a format error (it costs in the transitions term)
    t = traj([step(0, "PG"), step(1, "MG", error=True, text="Error: MG needs an edit that passed QE")])
    assert well_formed(t) == 1.0


def test_behaviour_reward_ranks_expert_over_sloppy_and_penalises_the_budget():
    cfg = RewardConfig()
    assert behaviour_reward(reflected(kr=True), cfg) == pytest.approx(1.0)
    assert behaviour_reward(reflected(kr=True), cfg) > behaviour_reward(reflected(kr=False), cfg)
    looping = traj([step(0, "PG")] + [s for k in range(3) for s in (ig(1 + 3 * k), qe(2 + 3 * k, 2.0), step(3 + 3 * k, "KR"))],
                   stop="max_turns")
    assert behaviour_reward(looping, cfg) == pytest.approx(1.0 - cfg.overrun_penalty)


def test_spec_distance_and_diversity():
    assert spec_distance(SPEC, SPEC) == 0.0
    far = SPEC.replace(center=(0.0, 0.0), size=0.8, intensity=0.0, family="stain", blend="hard")
    assert spec_distance(SPEC, far) == pytest.approx((0.5 + 1.0 + 0.6 + 1.0 + 1.0) / 5)
    assert spec_distance(SPEC, far) == spec_distance(far, SPEC)
    a, b = expert(), traj([step(0, "PG"), ig(1, far), qe(2, 7.0), step(3, "MG"), answer(4)])
    failing = traj([step(0, "PG"), ig(1, far), qe(2, 2.0)], stop="max_turns")
    d = diversity([a, b, failing])
    assert d[0] == d[1] == pytest.approx(spec_distance(SPEC, far))
    assert d[2] == 0.0  # failing rollouts earn no diversity
    assert diversity([a]) == [0.0]


def test_weights_combine_and_config_is_validated():
    cfg = RewardConfig(task=1.0, ref=0.5, beh=0.25, diversity=0.0)
    r = group_rewards([reflected(3.0, 7.0)], cfg)[0]
    assert r.total == pytest.approx(1.0 * 0.7 + 0.5 * 0.4 + 0.25 * 1.0)
    assert task_reward(expert(8.0), 0.5, RewardConfig(diversity=0.2)) == pytest.approx(0.9)
    for bad in ({"task": -1.0}, {"ref": math.nan}, {"task": 0, "ref": 0, "beh": 0}, {"low_score": 11}):
        with pytest.raises(ValueError):
            RewardConfig(**bad)
    assert RewardConfig.from_dict(cfg.to_dict()) == cfg


def test_default_weights_never_prefer_a_deliberate_failure():
    """A first-try pass at score S beats fail-then-pass at the same final S (R_ref is bounded by
    the weights; the reason is in docs/training.md)."""
    cfg = RewardConfig()
    first = group_rewards([expert(7.0)], cfg)[0].total
    gamed = group_rewards([reflected(0.0, 7.0, kr=True)], cfg)[0].total
    assert first >= gamed - 1e-9


def test_batch_groups_by_prompt_and_trl_wrapper():
    a1, a2 = expert(7.0), traj([step(0, "PG"), ig(1, SPEC.replace(center=(0.1, 0.1))), qe(2, 6.0), step(3, "MG"), answer(4)])
    b1 = traj([step(0, "PG"), ig(1, SPEC.replace(family="stain")), qe(2, 9.0), step(3, "MG"), answer(4)], image="b.png")
    batch = batch_rewards([a1, b1, a2])
    assert batch[1].task == pytest.approx(0.9)  # alone in its group: no diversity
    assert batch[0].task > 0.7 and batch[2].task > 0.6

    class Env:
        def __init__(self, t):
            self.trajectory = t

    fn = RewardFunction("total")
    out = fn(["c1", "c2", "c3", "c4"], environments=[Env(a1), Env(b1), Env(a2), Env(None)])
    assert out[:3] == pytest.approx([r.total for r in batch]) and out[3] is None
    assert fn.__name__ == "reward_total"
    out = RewardFunction("ref")(["c"], trajectories=[reflected(3.0, 7.0).to_dict()])
    assert out == [pytest.approx(0.4)]
    with pytest.raises(ValueError):
        RewardFunction("nope")
    with pytest.raises(ValueError):
        fn(["c"])
