"""AgentConfig: YAML and flags, checks with clear messages, no secrets, backends built once."""
import json
from pathlib import Path

import pytest

from anomalyagent.agent import POLICIES, RulePolicy
from anomalyagent.cli import main
from anomalyagent.config import AgentConfig, BackendConfig, build_agent
from anomalyagent.pipeline import synthesize


def test_defaults_run_offline_and_round_trip():
    config = AgentConfig()
    assert config.policy.name == "rule" and config.tools["IG"].name == "procedural" and config.max_turns == 10
    assert AgentConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    agent = build_agent(config)
    assert isinstance(agent.policy, RulePolicy) and list(agent.tools.tools) == ["PG", "IG", "QE", "KR", "MG"]


def test_yaml_with_backends_and_options(tmp_path):
    path = tmp_path / "agent.yaml"
    path.write_text("policy: {name: scripted}\ntools:\n  QE: {name: measured, learned: false}\n  IG: procedural\n"
                    "max_turns: 6\nretries: 0\nconcurrency: 4\n")
    config = AgentConfig.from_yaml(path)
    assert config.policy == BackendConfig("scripted") and config.tools["QE"].options == {"learned": False}
    assert (config.max_turns, config.retries, config.concurrency) == (6, 0, 4)
    assert config.tools["PG"].name == "priors"  # unnamed tools keep their defaults


@pytest.mark.parametrize("text,message", [
    ("polcy: rule\n", "unknown key(s) ['polcy']"),
    ("max_turns: 51\n", "max_turns must be an integer in [0, 50]"),
    ("retries: -5\n", "retries must be an integer in [0, 20]"),
    ("concurrency: 2.5\n", "concurrency must be an integer"),
    ("tools: {XX: a}\n", "unknown tool(s) ['XX']"),
    ("tools: {KR: web}\n", "only knowledge backend is 'kb'"),
    ("tools: {IG: {device: cpu}}\n", "needs 'name'"),
    ("policy: {name: openai, api_key: sk-123}\n", "secrets never go into a config"),
    ("policy: {name: openai, headers: {Authorization: Bearer sk-1}}\n", "secrets never go into a config"),
    ("- a list\n", "expected a mapping"),
    ("policy: [unclosed\n", "not valid YAML"),
])
def test_bad_configs_name_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        AgentConfig.from_yaml(path)
    assert message in str(info.value) and "bad.yaml" in str(info.value)


def test_yaml_alias_bomb_is_refused(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("policy:\n  name: rule\n  junk:\n" + "\n".join("    " + line for line in lines) + "\n")
    with pytest.raises(ValueError, match="nested YAML aliases"):
        AgentConfig.from_yaml(path)


def test_an_environment_variable_name_is_fine_and_is_all_that_is_kept():
    config = AgentConfig(policy={"name": "openai", "api_key_env": "MY_KEY", "base_url": "http://127.0.0.1:1/v1"})
    assert config.to_dict()["policy"] == {"name": "openai", "api_key_env": "MY_KEY", "base_url": "http://127.0.0.1:1/v1"}


def test_unknown_backends_and_bad_options_fail_before_any_episode():
    with pytest.raises(KeyError, match="unknown policy 'nope'"):
        build_agent(AgentConfig(policy="nope"))
    with pytest.raises(TypeError, match="image editor 'procedural'"):
        build_agent(AgentConfig(tools={"IG": {"name": "procedural", "device": "cuda"}}))
    with pytest.raises(ValueError, match="environment variable NOT_SET_ANYWHERE_123 is not set"):
        build_agent(AgentConfig(policy={"name": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m",
                                        "api_key_env": "NOT_SET_ANYWHERE_123"}))


def test_backends_are_built_once_per_worker_not_per_retry_or_task(object_tree, tmp_path, monkeypatch):
    built = []

    def counting(**options):
        built.append(options)
        return RulePolicy()

    monkeypatch.setitem(POLICIES._items, "counting", counting)
    config = AgentConfig(policy="counting", retries=2)
    summary = synthesize(object_tree, tmp_path / "out", ["crack", "hole"], 4, method_kwargs={"config": config.to_dict()},
                         progress=False)
    assert summary.written == 4 and len(built) == 1
    built.clear()
    synthesize(object_tree, tmp_path / "out3", ["crack"], 6, method_kwargs={"config": config.to_dict()}, progress=False,
               concurrency=3)
    assert len(built) == 1


def test_cli_config_file_and_flags(object_tree, tmp_path, capsys):
    path = tmp_path / "agent.yaml"
    path.write_text("policy: rule\nmax_turns: 8\nretries: 0\n")
    out = tmp_path / "out"
    assert main(["synthesize", "--data", str(object_tree), "--defects", "crack", "--n", "2", "--out", str(out),
                 "--config", str(path), "--policy", "scripted", "--max-turns", "3", "--no-progress"]) == 0
    record = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert record["turns"] == 1 and record["passed"] is False and record["usage"]["policy"]["calls"] == 1
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    assert "usage          per sample: 1.0 calls" in capsys.readouterr().out
    assert main(["synthesize", "--data", str(object_tree), "--defects", "crack", "--n", "1", "--out", str(tmp_path / "o2"),
                 "--config", str(tmp_path / "missing.yaml"), "--no-progress"]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    assert main(["synthesize", "--data", str(object_tree), "--defects", "crack", "--n", "1", "--out", str(tmp_path / "o3"),
                 "--concurrency", "2", "--workers", "2", "--no-progress"]) == 2


@pytest.mark.parametrize("path", sorted((Path(__file__).parent.parent / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_example_configs_load(path):
    config = AgentConfig.from_yaml(path)
    assert config.to_dict() == AgentConfig.from_dict(config.to_dict()).to_dict()


def test_scripted_policy_replays_replies_from_a_config(object_tree, tmp_path):
    config = AgentConfig.from_dict({"policy": {"name": "scripted", "replies": ["hello", "<answer>no</answer>"]},
                                    "retries": 0})
    agent = build_agent(config)
    import numpy as np
    from anomalyagent.records import Task

    ep = agent.run(Task("x.png", "hazelnut", "crack"), np.zeros((32, 32, 3), np.uint8))
    assert ep.trajectory.steps[0].observation.error and ep.trajectory.steps[1].answer == "no"


def test_a_stateful_policy_refuses_concurrent_episodes(monkeypatch):
    class Stateful:
        def reset(self, task, image, tools):
            self.task = task

        def act(self, conversation):
            return "<answer>x</answer>"

    monkeypatch.setitem(POLICIES._items, "stateful", Stateful)
    assert build_agent(AgentConfig(policy="stateful")).policy is not None
    with pytest.raises(ValueError, match="cannot serve several episodes at once"):
        build_agent(AgentConfig(policy="stateful", concurrency=4))


def _calibration_file(tmp_path, **fields):
    """The record's own defaults (not the shipped fit, which a refit changes) plus ``fields``."""
    from anomalyagent.critic.calibration import Calibration

    path = tmp_path / "cal.json"
    path.write_text(json.dumps({**Calibration().to_dict(), **fields}))
    return path


def test_calibration_names_and_files_resolve_and_are_recorded(tmp_path):
    from anomalyagent.critic.calibration import DEFAULT, resolve_calibration, shipped

    assert AgentConfig().calibration == "default" and AgentConfig().to_dict()["calibration"] == "default"
    for category, fit in shipped()["without"].items():
        config = AgentConfig(calibration=f"without:{category}")
        assert config.to_dict()["calibration"] == f"without:{category}"
        assert category not in fit.fitted_on and resolve_calibration(config.calibration) == fit
    assert set(shipped()["without"]) == set(DEFAULT.fitted_on)  # one fit without each category DEFAULT saw
    assert resolve_calibration("without:my_own_product") == DEFAULT  # DEFAULT never saw it
    path = _calibration_file(tmp_path, quality_floor=4.5)
    assert resolve_calibration(AgentConfig(calibration=str(path)).calibration).quality_floor == 4.5
    assert AgentConfig.from_dict(AgentConfig(calibration=str(path)).to_dict()).calibration == str(path)


@pytest.mark.parametrize("value,message", [
    ("nope", "must be one of default, without:"),
    ("without:", "needs a category folder name"),
    ("without:../x", "needs a category folder name"),
    ("missing.json", "cannot read the calibration"),
    (3, "must be default, without:<category> or a .json file"),
])
def test_bad_calibration_choices_fail_with_a_clear_message(value, message):
    with pytest.raises(ValueError, match="calibration") as info:
        AgentConfig(calibration=value)
    assert message in str(info.value)


@pytest.mark.parametrize("text,message", [
    ("[1, 2]", "expected a JSON object"),
    ('{"visibility_good": NaN}', "not a JSON calibration"),
    ('{"quality_floor": 7}', "floors must lie in [0, 5]"),
    ('{"visibility_good": "high"}', "visibility_good must be a finite number"),
    ('{"colour": 1}', "unknown fields"),
    ("{oops", "not a JSON calibration"),
])
def test_bad_calibration_files_name_the_file(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        AgentConfig(calibration=str(path))
    assert message in str(info.value) and "bad.json" in str(info.value)


def test_calibration_lives_in_one_place():
    with pytest.raises(ValueError, match="set the top-level `calibration`"):
        AgentConfig(tools={"QE": {"name": "measured", "calibration": "without:hazelnut"}})


def _judged_edit(agent):
    """PG, IG and QE of ``agent``'s tools on a seeded synthetic object: the QE observation."""
    import numpy as np

    from anomalyagent.agent.loop import new_state
    from anomalyagent.records import Task, ToolCall
    from anomalyagent.synthetic import object_image

    image = object_image(np.random.default_rng(0), 128)
    state = new_state(Task("x.png", "hazelnut", "color", seed=0), image)
    for name in ("PG", "IG"):
        assert not agent.tools.execute(ToolCall(name, {"instruction": "a stain"} if name == "IG" else {}), state).error
    return agent.tools.execute(ToolCall("QE", {}), state)


def test_the_configured_calibration_reaches_the_critic(tmp_path, monkeypatch):
    from anomalyagent.critic import CRITICS
    from anomalyagent.critic.calibration import resolve_calibration

    seen = []
    original = CRITICS.get("measured")

    def spy(*args, **kwargs):
        seen.append(kwargs["calibration"])
        return original(*args, **kwargs)

    monkeypatch.setitem(CRITICS._items, "measured", spy)
    agent = build_agent(AgentConfig(calibration="without:transistor"))
    _judged_edit(agent)
    assert seen == [resolve_calibration("without:transistor")] and "transistor" not in seen[0].fitted_on
    # and the thresholds decide the verdict: floors at 5/5 fail the same edit that floors at 0 pass
    ramp = {"visibility_good": 1000.0, "strength_power": 1.0}  # quality well under 5 for any edit
    lenient = _judged_edit(build_agent(AgentConfig(calibration=str(_calibration_file(
        tmp_path, location_floor=0.0, quality_floor=0.0, **ramp)))))
    (tmp_path / "strict").mkdir()
    strict = _judged_edit(build_agent(AgentConfig(calibration=str(_calibration_file(
        tmp_path / "strict", location_floor=5.0, quality_floor=5.0, **ramp)))))
    assert strict.payload["score"] == lenient.payload["score"]  # same measurements...
    assert not strict.payload["passed"] and "needs its floor" in strict.text  # ...another verdict
    assert lenient.payload["passed"]
