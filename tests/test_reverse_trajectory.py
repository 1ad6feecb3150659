"""Reverse synthesis, step 3: trajectories run through the real loop, ending in the real anomaly."""
from __future__ import annotations

import numpy as np
import pytest

from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.records import Task, Trajectory
from anomalyagent.reverse.choose import candidates
from anomalyagent.reverse.extract import extract
from anomalyagent.reverse.flaws import FLAWS
from anomalyagent.reverse.trajectory import Builder, RevealEditor, Source, same_edit
from reverse_fixtures import make_anomaly


@pytest.fixture(scope="module")
def source() -> Source:
    """A hazelnut-like cut whose final judgement passes: the first of a few seeded scenes
    (the critic may reject a synthetic "real" defect, as it rejects some real ones)."""
    kb = KnowledgeBase.default()
    entry = kb.lookup("hazelnut", "cut").entry
    rng = np.random.default_rng(11)
    normals = [make_anomaly(rng, "cut")[0] for _ in range(3)]
    for _ in range(6):
        _, anomaly, mask = make_anomaly(rng, "cut")
        cands, _ = candidates(anomaly, mask, normals, "object")
        normal = cands[0].image
        spec = extract(anomaly, normal, mask, entry, "hazelnut", "cut", rng=np.random.default_rng(0)).spec
        src = Source(Task("", "hazelnut", "cut", seed=3, index=0), anomaly, mask, normal, spec, entry)
        if Builder(src, kb).build(1, False, src.task, np.random.default_rng(0)) is not None:
            return src
    pytest.fail("QE passed none of 6 seeded synthetic cuts against their reconstructions")


def _calls(traj: Trajectory) -> list[str]:
    return [s.call.name for s in traj.steps if s.call is not None]


def test_one_turn_trajectory_reveals_the_real_anomaly_and_its_mask(source):
    built = Builder(source).build(1, False, source.task, np.random.default_rng(0))
    assert built is not None, "QE should pass this anomaly against its reconstruction"
    traj = built.trajectory
    assert _calls(traj) == ["PG", "IG", "QE", "MG"] and traj.passed and traj.stop_reason == "finished"
    ig = traj.steps[built.revealed_step]
    assert ig.call.name == "IG" and np.array_equal(ig.observation.image, source.anomaly)
    assert ig.observation.text.startswith("Edited image, attempt 1")  # the IG tool's own text
    qe = traj.steps[built.revealed_step + 1].observation
    assert qe.payload["passed"] and qe.text.startswith("PASS")
    mg = traj.steps[-2].observation
    assert np.array_equal(mg.image > 0, source.mask) and 0.0 <= mg.hidden["detected_iou"] <= 1.0
    assert traj.steps[-1].answer.startswith("done")


@pytest.mark.parametrize("n,kr", [(2, True), (3, False)])
def test_earlier_attempts_fail_and_the_next_turn_fixes_what_the_review_named(source, n, kr):
    built = Builder(source).build(n, kr, source.task, np.random.default_rng(n))
    if built is None:
        pytest.skip(f"the critic named no flaw chain for N={n} on this seeded scene")
    traj = built.trajectory
    calls = _calls(traj)
    assert calls.count("IG") == n and calls[0] == "PG" and calls[-1] == "MG"
    assert ("KR" in calls) == kr and (not kr or calls[calls.index("QE") + 1] == "KR")
    qes = [s for s in traj.steps if s.call is not None and s.call.name == "QE"]
    assert [q.observation.payload["passed"] for q in qes] == [False] * (n - 1) + [True]
    igs = [s for s in traj.steps if s.call is not None and s.call.name == "IG"]
    assert not any(np.array_equal(s.observation.image, source.anomaly) for s in igs[:-1])  # real renders
    assert np.array_equal(igs[-1].observation.image, source.anomaly)
    for attempt, (qe, nxt) in enumerate(zip(qes[:-1], igs[1:])):
        said = {a["parameter"] for a in qe.observation.payload["advice"]}
        fixed = built.flaws[attempt] if built.chain != "nested" or attempt else \
            [f for f in built.flaws[0] if f not in built.flaws[1]]
        assert all(said & {p for p, _ in FLAWS[f].addressed_by} for f in fixed)
        assert nxt.thought.startswith("Refine following the review")


def test_trajectories_are_reproducible(source):
    a = Builder(source).build(2, True, source.task, np.random.default_rng(5))
    b = Builder(source).build(2, True, source.task, np.random.default_rng(5))
    assert (a is None) == (b is None)
    if a is not None:
        assert a.trajectory.to_dict() == b.trajectory.to_dict()


def test_reveal_editor_renders_other_specs(source):
    editor = RevealEditor(source.target, source.anomaly, source.mask)
    other = source.target.replace(size=round(source.target.size * 0.5, 4))
    assert not same_edit(other, source.target)
    edited, alpha = editor.edit(source.normal, other, np.random.default_rng(0))
    assert editor.revealed is None and not np.array_equal(edited, source.anomaly) and alpha is not None
    edited, alpha = editor.edit(source.normal, source.target, np.random.default_rng(0))
    assert editor.revealed is edited and np.array_equal(edited, source.anomaly)
    with pytest.raises(ValueError, match="1, 2 or 3"):
        Builder(source).build(4, False, source.task, np.random.default_rng(0))
