"""The TRL path: our tools as an environment, and a tiny Qwen3-VL through SFT and GRPO (offline, CPU)."""
from __future__ import annotations

import numpy as np
import pytest

from anomalyagent.reverse.batch import ReverseConfig, run_reverse
from anomalyagent.reverse.export import Exporter
from anomalyagent.synthetic import object_image
from anomalyagent.train.environment import RewardedSynthesisEnvironment, SynthesisEnvironment
from reverse_fixtures import reverse_tree


def test_environment_runs_the_tools_in_order_and_records_the_trajectory():
    env = RewardedSynthesisEnvironment(max_side=96)
    image = object_image(np.random.default_rng(0), 96)
    assert env.reset(prompt=[], image=image, category="hazelnut", defect_type="crack", seed=3) is None
    assert env.MG().startswith("Error")  # out of order: an error observation, not an exception
    plan = env.PG()
    assert "Instruction:" in plan
    spec = env.trajectory.steps[-1].observation.payload["spec"]
    edited = env.IG(instruction=spec["instruction"], size=spec["size"])
    assert isinstance(edited, list) and edited[0]["type"] == "image" and edited[0]["image"].size == (96, 96)
    assert edited[1]["text"].startswith("Edited image")
    review = env.QE()
    assert "score" in review
    assert env.IG(instruction="x", size=5.0).startswith("Error: invalid arguments")  # bounds are checked
    names = [s.call.name for s in env.trajectory.steps]
    assert names == ["MG", "PG", "IG", "QE", "IG"]
    reward = env.get_reward()
    assert np.isfinite(reward) and reward > 0
    env.reset(image=image, category="hazelnut", defect_type="crack")
    assert env.trajectory.steps == []
    with pytest.raises(ValueError, match="category"):
        env.reset(image=image, defect_type="crack")


def test_environment_stops_at_the_turn_budget():
    env = SynthesisEnvironment(max_turns=2, max_side=64)
    env.reset(image=object_image(np.random.default_rng(1), 64), category="hazelnut", defect_type="hole")
    env.PG()
    env.KR()
    assert "turn budget" in env.QE()
    assert len(env.trajectory.steps) == 2 and env.trajectory.stop_reason == "max_turns"


@pytest.fixture(scope="module")
def reverse_export(tmp_path_factory):
    root = tmp_path_factory.mktemp("trl_reverse")
    data = reverse_tree(root / "data", per_defect=3)
    out = root / "reverse"
    exporter = Exporter(out)
    for result in run_reverse(data, ReverseConfig(seed=1, turns=(1, 2))):
        exporter.add(result)
    exporter.close()
    return data.parent, out


def test_tiny_qwen3_vl_sft_then_grpo_with_our_tools_and_rewards(tiny_vlm, reverse_export, tmp_path, monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from anomalyagent.models.tiny_vlm import load_vlm_processor
    from anomalyagent.train import trl_run

    data, reverse = reverse_export
    sft = trl_run.run_sft(tiny_vlm, reverse, tmp_path / "sft", max_steps=2, save=False)
    losses = [h["loss"] for h in sft["history"] if "loss" in h]
    assert sft["steps"] == 2 and len(losses) == 2 and all(np.isfinite(losses))

    # A random model never writes a tool call; bias its sampling towards one PG call (a
    # scripted model, as the loop tests use) so the rollout goes through the environment.
    tok = load_vlm_processor(tiny_vlm).tokenizer
    ids = tok('<tool_call>\n{"name": "PG", "arguments": {}}\n</tool_call><|im_end|>', add_special_tokens=False)["input_ids"]
    bias = [[ids[:k + 1], 50.0 + 10.0 * k] for k in range(len(ids))]  # the longest matching prefix wins
    grpo = trl_run.run_grpo(tiny_vlm, data, tmp_path / "grpo", prompts_per_category=2, num_generations=2,
                            max_completion_length=64, max_steps=2, max_side=64, max_turns=3, save=False,
                            extra={"generation_kwargs": {"sequence_bias": bias}})
    steps = [h for h in grpo["history"] if "tools/call_frequency" in h]
    assert grpo["steps"] == 2 and len(steps) == 2
    assert all(h["tools/call_frequency"] > 0 for h in steps)
    for term in ("task", "ref", "beh"):
        assert all(f"rewards/reward_{term}/mean" in h for h in steps)
    # PG called first and well formed: R_beh is positive, so the rewards came from real trajectories
    assert all(h["rewards/reward_beh/mean"] > 0 for h in steps)


def test_train_cli_reports_missing_inputs_clearly(tmp_path, capsys):
    from anomalyagent.cli import main

    code = main(["train", "sft", "--model", str(tmp_path / "model"), "--reverse", str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "not a local model folder" in capsys.readouterr().err
    code = main(["train", "policy", "--data", str(tmp_path), "--reverse", str(tmp_path), "--out", str(tmp_path / "w")])
    assert code == 2 and "trajectories.jsonl" in capsys.readouterr().err
