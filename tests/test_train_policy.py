"""Our SFT + GRPO for the learned policy, on synthetic scenes (rule-policy episodes as demonstrations)."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite_pytorch")

from anomalyagent.agent import RulePolicy, run_episode  # noqa: E402
from anomalyagent.knowledge import KnowledgeBase  # noqa: E402
from anomalyagent.policy_net import Encoders, LearnedPolicy  # noqa: E402
from anomalyagent.policy_net.features import TextEncoder, request_text, text_key  # noqa: E402
from anomalyagent.records import Task  # noqa: E402
from anomalyagent.rewards import RewardConfig  # noqa: E402
from anomalyagent.synthetic import object_image  # noqa: E402
from anomalyagent.tools import default_toolbox  # noqa: E402
from anomalyagent.train.batch import TurnBatch  # noqa: E402
from anomalyagent.train.grpo import GRPOSettings, grpo_loss, train_grpo  # noqa: E402
from anomalyagent.train.prompts import Prompt, read_prompts  # noqa: E402
from anomalyagent.train.recipe import new_network  # noqa: E402
from anomalyagent.train.rollout import advantages, rollout_group, summarize  # noqa: E402
from anomalyagent.train.sft import Demonstration, demonstration_turns, tool_accuracy, train_sft  # noqa: E402
from reverse_fixtures import reverse_tree  # noqa: E402

KB = KnowledgeBase.default()


class FakeText(TextEncoder):
    """Deterministic 384-d vectors from the text's hash: no MiniLM load in these tests."""

    def encode(self, texts):
        out = []
        for t in texts:
            rng = np.random.default_rng(int(text_key(t), 16) % 2**32)
            v = rng.normal(size=384).astype(np.float32)
            out.append(v / np.linalg.norm(v))
        return np.stack(out)


@pytest.fixture(scope="module")
def encoders():
    return Encoders(text=FakeText())


@pytest.fixture(scope="module")
def demos():
    tools = default_toolbox(kb=KB)
    out = []
    for i in range(6):
        image = object_image(np.random.default_rng(i), 96)
        task = Task(f"img{i}.png", "hazelnut", ("crack", "hole", "cut")[i % 3], seed=i, index=i)
        out.append(Demonstration(run_episode(task, image, RulePolicy(kb=KB), tools).trajectory, image))
    return out


def test_demonstrations_become_labelled_turns(demos, encoders):
    net = new_network(hidden=32)
    data = demonstration_turns(demos, net.space, net.state_dim, encoders, KB)
    n_steps = sum(len(d.trajectory.steps) for d in demos)
    assert len(data) == n_steps
    tools = [net.space.tools[int(i)] for i in data.actions["tool"]]
    want = [s.call.name if s.call else "answer" for d in demos for s in d.trajectory.steps]
    assert tools == want
    assert data.state.shape == (n_steps, net.state_dim) and torch.isfinite(data.state).all()


def test_sft_fits_the_demonstrated_tools(demos, encoders):
    net = new_network(hidden=64, seed=1)
    data = demonstration_turns(demos, net.space, net.state_dim, encoders, KB)
    before = tool_accuracy(net, data)
    history = train_sft(net, data, epochs=40, seed=0, batch_size=8)
    assert history[-1] < history[0]
    assert tool_accuracy(net, data) >= 0.9 > before


def test_grpo_loss_moves_probability_with_the_advantage(demos, encoders):
    net = new_network(hidden=32, seed=2).eval()
    data = demonstration_turns(demos[:1], net.space, net.state_dim, encoders, KB)
    one = data.select(torch.tensor([1]))  # the IG turn after PG
    with torch.no_grad():
        from anomalyagent.policy_net.model import action_log_prob

        old = action_log_prob(net(one.image, one.text, one.state), one.actions)
    for sign in (1.0, -1.0):
        trial = new_network(hidden=32, seed=2).eval()
        batch = TurnBatch(one.image, one.text, one.state, one.actions, torch.tensor([sign]), old.clone())
        opt = torch.optim.SGD(trial.parameters(), lr=0.05)
        loss, info = grpo_loss(trial, new_network(hidden=32, seed=2).eval(), batch, clip=0.2, beta=0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            new = action_log_prob(trial(one.image, one.text, one.state), one.actions)
        assert (new - old).item() * sign > 0
        assert info["kl"] == pytest.approx(0.0, abs=1e-6)  # same weights as the reference before the step


def test_advantages_are_group_normalised(demos):
    from anomalyagent.rewards import RewardBreakdown
    from anomalyagent.train.rollout import Rollout

    group = [Rollout(demos[0].trajectory, RewardBreakdown(0, 0, 0, r)) for r in (1.0, 2.0, 3.0)]
    a = advantages(group)
    assert np.mean(a) == pytest.approx(0.0, abs=1e-9) and a[0] < a[1] < a[2]
    assert advantages(group[:1] * 3) == [0.0, 0.0, 0.0]


def test_grpo_runs_episodes_through_the_loop_and_changes_the_network(demos, encoders):
    net = new_network(hidden=32, seed=3)
    data = demonstration_turns(demos, net.space, net.state_dim, encoders, KB)
    train_sft(net, data, epochs=10, seed=0)
    before = [p.detach().clone() for p in net.parameters()]
    prompts = [Prompt(d.trajectory.task, d.image) for d in demos[:3]]
    settings = GRPOSettings(iterations=2, prompts_per_step=2, group_size=3, epochs=1)
    history = train_grpo(net, prompts, default_toolbox(kb=KB), settings, RewardConfig(), encoders, KB,
                         np.random.default_rng(0))
    assert len(history) == 2 and all(h["episodes"] == 6 for h in history)
    assert all(0.0 <= h["pass_rate"] <= 1.0 and np.isfinite(h["mean_reward"]) for h in history)
    if any("loss" in h for h in history):  # an update happens unless every group tied
        assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    with pytest.raises(ValueError):
        GRPOSettings(group_size=1)


def test_rollout_groups_vary_the_seed_and_summarize(demos, encoders):
    net = new_network(hidden=32, seed=4)
    prompt = Prompt(demos[0].trajectory.task, demos[0].image)
    make = lambda: LearnedPolicy(kb=KB, net=net, encoders=encoders, sample_tools=True, record=True)
    group = rollout_group(prompt, make, default_toolbox(kb=KB), 3, RewardConfig())
    assert len({r.trajectory.task.seed for r in group}) == 3
    assert all(len(r.turns) == len(r.trajectory.steps) for r in group)
    stats = summarize([group])
    assert stats["episodes"] == 3 and set(stats) >= {"mean_reward", "final_qe_score", "pass_rate", "mean_turns", "kr_use"}


def test_prompts_read_only_normal_training_images(tmp_path):
    cat = reverse_tree(tmp_path / "data", per_defect=2)
    prompts = read_prompts(tmp_path / "data", None, 4, np.random.default_rng(0), max_side=64)
    assert len(prompts) == 4
    assert all("/train/good/" in p.task.image_path for p in prompts)
    assert {p.task.defect_type for p in prompts} == {"crack", "cut"}
    assert all(max(p.image.shape[:2]) <= 64 for p in prompts)
    assert read_prompts(cat, ["other"], 4, np.random.default_rng(0)) == []


def test_train_policy_cli_writes_weights_that_act(tmp_path, monkeypatch):
    """``anomalyagent train policy`` end to end on a synthetic tree (tiny budgets)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pytest.importorskip("sentence_transformers")
    from anomalyagent.cli import main
    from anomalyagent.reverse.batch import ReverseConfig, run_reverse
    from anomalyagent.reverse.export import Exporter

    data = reverse_tree(tmp_path / "data", per_defect=3).parent
    exporter = Exporter(tmp_path / "reverse")
    for result in run_reverse(data, ReverseConfig(seed=0, turns=(1, 2))):
        exporter.add(result)
    exporter.close()
    out = tmp_path / "weights"
    code = main(["train", "policy", "--data", str(data), "--reverse", str(tmp_path / "reverse"), "--out", str(out),
                 "--sft-epochs", "3", "--iterations", "1", "--group-size", "2", "--prompts", "2"])
    assert code == 0
    report = json.loads((out / "training.json").read_text())
    assert report["sft"]["turns"] > 0 and len(report["grpo"]) == 1
    policy = LearnedPolicy(weights=out / "policy.safetensors", kb=KB)
    image = object_image(np.random.default_rng(9), 96)
    traj = run_episode(Task("x.png", "hazelnut", "crack", seed=1), image, policy, default_toolbox(kb=KB)).trajectory
    assert traj.steps and policy.encoders.text.cache[text_key(request_text("hazelnut", "crack"))].shape == (384,)


def _failed_first(traj):
    """A copy of ``traj`` whose first QE failed and which then re-edits: PG, IG(flawed), QE fail, IG, QE, ..."""
    import copy

    from anomalyagent.records import Step

    steps = copy.deepcopy(traj.steps)
    qe = next(i for i, s in enumerate(steps) if s.call is not None and s.call.name == "QE")
    failed = copy.deepcopy(steps[qe])
    failed.observation.payload["passed"] = False
    redo = [copy.deepcopy(s) for s in steps[qe - 1:qe + 1]]  # the IG and its passing QE, again
    new = steps[:qe] + [failed] + redo + steps[qe + 1:]
    new = [Step(i, s.thought, s.call, s.observation, s.answer) for i, s in enumerate(new)]
    return type(traj)(traj.task, new, traj.passed, traj.score, traj.stop_reason)


def test_sft_does_not_imitate_deliberately_flawed_edits(demos, encoders):
    from anomalyagent.policy_net.model import action_log_prob
    from anomalyagent.train.sft import imitated_edit

    first_pass = [d for d in demos if d.trajectory.tool_names[:4] == ["PG", "IG", "QE", "MG"]]
    assert first_pass, "the rule policy passed no synthetic scene at its first edit"
    traj = _failed_first(first_pass[0].trajectory)
    names = [s.call.name if s.call else "answer" for s in traj.steps]
    igs = [i for i, n in enumerate(names) if n == "IG"]
    assert names[:5] == ["PG", "IG", "QE", "IG", "QE"] and len(igs) == 2
    assert [imitated_edit(traj, i) for i in igs] == [False, True]  # the edit QE failed; the one it passed
    net = new_network(hidden=32)
    demo = Demonstration(traj, first_pass[0].image)
    kept = demonstration_turns([demo], net.space, net.state_dim, encoders, KB)
    every = demonstration_turns([demo], net.space, net.state_dim, encoders, KB, imitate="all")
    assert kept.ig_mask.tolist() == [0.0 if i == igs[0] else 1.0 for i in range(len(names))]
    assert every.ig_mask.tolist() == [1.0] * len(names)
    with pytest.raises(ValueError):
        demonstration_turns([demo], net.space, net.state_dim, encoders, KB, imitate="some")
    # a masked IG turn contributes its tool only: its IG heads get no gradient from it
    with torch.no_grad():
        logits = net(kept.image, kept.text, kept.state)
    tool_only = torch.log_softmax(logits["tool"], -1).gather(1, kept.actions["tool"][:, None])[:, 0]
    lp = action_log_prob(logits, kept.actions, kept.ig_mask)
    assert lp[igs[0]].item() == pytest.approx(tool_only[igs[0]].item())
    assert lp[igs[1]].item() < tool_only[igs[1]].item()


def test_advantage_floor_keeps_noise_level_differences_small(demos):
    from anomalyagent.rewards import RewardBreakdown
    from anomalyagent.train.rollout import Rollout

    close = [Rollout(demos[0].trajectory, RewardBreakdown(0, 0, 0, r)) for r in (1.30, 1.31, 1.32)]
    far = [Rollout(demos[0].trajectory, RewardBreakdown(0, 0, 0, r)) for r in (0.3, 1.3, 1.3)]
    assert max(abs(a) for a in advantages(close)) > 1.0  # plain normalisation: noise becomes +-1.2
    assert max(abs(a) for a in advantages(close, floor=0.1)) < 0.2
    assert advantages(far, floor=0.1) == pytest.approx(advantages(far))  # a real spread is untouched
    with pytest.raises(ValueError):
        GRPOSettings(advantage_floor=-1.0)


def test_grpo_minibatches_take_several_steps_per_epoch(demos, encoders):
    net = new_network(hidden=32, seed=5)
    prompts = [Prompt(d.trajectory.task, d.image) for d in demos[:2]]
    settings = GRPOSettings(iterations=1, prompts_per_step=2, group_size=3, epochs=2, minibatch=4, advantage_floor=0.05)
    history = train_grpo(net, prompts, default_toolbox(kb=KB), settings, RewardConfig(), encoders, KB,
                         np.random.default_rng(1))
    if "loss" in history[0]:  # an untrained network rarely ties a whole group, but it may
        assert history[0]["steps"] == 2 * -(-history[0]["turns"] // 4)


def test_per_term_advantages_keep_the_behaviour_signal_and_spread_counts_ties(demos):
    from anomalyagent.rewards import RewardBreakdown
    from anomalyagent.train.rollout import Rollout, spread

    config = RewardConfig()  # task 1, ref 0.3, beh 0.3
    rows = [(0.80, 1.0, 1.0), (0.82, 1.0, 2 / 3), (0.78, 1.0, 1.0), (0.81, 1.0, 2 / 3)]  # beh: KR after a low QE or not
    group = [Rollout(demos[0].trajectory, RewardBreakdown(t, r, b, config.task * t + config.ref * r + config.beh * b))
             for t, r, b in rows]
    total = advantages(group, floor=0.1)
    per_term = advantages(group, floor=0.1, config=config)
    # both rank by behaviour here (the task term differs by noise below the floor)
    assert total[0] > total[1] and per_term[0] > per_term[1] and per_term[2] > per_term[3]
    # per term, the behaviour term's part is its weight's share of a unit-normalised difference
    beh = np.array([1.0, -1.0, 1.0, -1.0]) * 0.3 / (1.0 + 0.3 + 0.3)
    task = (np.array([r[0] for r in rows]) - 0.8025) / 0.1 * 1.0 / 1.6
    assert per_term == pytest.approx(list(beh + task), abs=2e-3)
    assert np.mean(per_term) == pytest.approx(0.0, abs=1e-9)
    # a term that never varies adds nothing; a single-term config is the total's normalisation
    only_task = RewardConfig(ref=0.0, beh=0.0)
    assert advantages(group, floor=0.1, config=only_task) == pytest.approx(
        advantages([Rollout(x.trajectory, RewardBreakdown(x.reward.task, 0, 0, x.reward.task)) for x in group], floor=0.1))
    tied = [Rollout(demos[0].trajectory, RewardBreakdown(1, 1, 1, 1.6)) for _ in range(3)]
    assert advantages(tied, config=config) == [0.0, 0.0, 0.0]
    s = spread([group, tied], floor=0.1)
    assert s["groups_equal"] == 0.5 and s["groups_vary_beh"] == 0.5 and s["groups_vary_ref"] == 0.0
    assert s["std_beh"] == pytest.approx(np.std([1, 2 / 3, 1, 2 / 3]) / 2)
    with pytest.raises(ValueError):
        GRPOSettings(normalize="median")


def test_advice_head_labels_edits_that_followed_followable_advice(demos):
    from anomalyagent.records import DefectSpec, Observation, Step, ToolCall, Trajectory
    from anomalyagent.train.sft import advice_label

    spec = DefectSpec("stain", "stain", "hazelnut", aspect=2.0, color="darker")
    qe = lambda advice: Step(2, call=ToolCall("QE", {}), observation=Observation("r", payload={"passed": False, "advice": advice}))
    ig = Step(3, call=ToolCall("IG", {}), observation=Observation("e", payload={"spec": spec.replace(color="lighter").to_dict()}))
    task = demos[0].trajectory.task
    colour = Trajectory(task, [qe([{"parameter": "color", "direction": "lighter"}])])
    size = Trajectory(task, [qe([{"parameter": "size", "direction": "increase"}])])
    assert advice_label(colour, spec, ig) == 1
    assert advice_label(size, spec, ig) == 0  # no advice the head can follow
    same = Step(3, call=ToolCall("IG", {}), observation=Observation("e", payload={"spec": spec.to_dict()}))
    assert advice_label(colour, spec, same) == 0  # followable advice, but the edit did not follow it
    assert advice_label(Trajectory(task, []), spec, ig) == 0


def test_kr_credit_goes_to_the_turn_that_chose_after_a_low_qe(demos):
    """Per-turn credit for "KR after a low QE": only the turn right after the first low QE
    gets it, positive when it called KR, negative when it did not; the other turns keep
    their rollout's advantage; off (weight 0) the batch is what it always was."""
    import copy

    from anomalyagent.records import Observation, Step, ToolCall
    from anomalyagent.rewards import RewardBreakdown
    from anomalyagent.train.grpo import turns_of
    from anomalyagent.train.rollout import Rollout, kr_credit, kr_decision
    from anomalyagent.policy_net.policy import Turn

    first_pass = next(d for d in demos if d.trajectory.tool_names[:4] == ["PG", "IG", "QE", "MG"])
    failed = _failed_first(first_pass.trajectory)  # PG, IG, QE (fail), IG, QE, ...
    with_kr = copy.deepcopy(failed)
    kr = Step(3, call=ToolCall("KR", {}), observation=Observation("entry", payload={}))
    with_kr.steps = [Step(i, s.thought, s.call, s.observation, s.answer)
                     for i, s in enumerate(with_kr.steps[:3] + [kr] + with_kr.steps[3:])]
    assert kr_decision(failed) == 3 and kr_decision(with_kr) == 3
    assert kr_decision(first_pass.trajectory) is None  # no low QE: nothing to decide

    def rollout(traj, total):
        turns = [Turn(np.zeros(1280, np.float32), np.zeros(768, np.float32), np.zeros(4, np.float32),
                      {"tool": 0}, -1.0) for _ in traj.steps]
        return Rollout(traj, RewardBreakdown(0, 0, 0, total), turns)

    group = [rollout(with_kr, 1.0), rollout(failed, 1.0), rollout(first_pass.trajectory, 1.0)]  # equal totals
    credit = kr_credit([group])
    assert set(credit) == {(0, 0, 3), (0, 1, 3)} and credit[(0, 0, 3)] > 0 > credit[(0, 1, 3)]
    assert turns_of([group]) is None  # equal totals: no rollout-level signal at all
    batch = turns_of([group], kr_weight=0.5)
    assert batch is not None and sorted(batch.advantage.tolist()) == pytest.approx([-0.5, 0.5])
    # alike choices teach nothing; the weight is validated
    assert kr_credit([[rollout(failed, 1.0), rollout(failed, 0.5)]]) == {}
    with pytest.raises(ValueError):
        GRPOSettings(kr_credit=-1.0)
