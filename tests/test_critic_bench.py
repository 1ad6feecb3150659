"""benchmarks/bench_critic.py on generated categories: one folder, several, empty lists."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from eval_fixtures import make_category

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_critic.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_critic", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _last_json(text: str) -> dict:
    line = [ln for ln in text.splitlines() if ln.startswith("{")][-1]
    return json.loads(line, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c} in the output"))


def _no_nan(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_no_nan(v) for v in value.values())
    if isinstance(value, list):
        return all(_no_nan(v) for v in value)
    return True


def test_single_category_folder_uses_the_default_calibration(bench, tmp_path, capsys):
    root = make_category(tmp_path / "tile", per_defect=4, size=48)
    assert bench.main(["--data", str(root), "--json", "--out", str(tmp_path / "r.json")]) == 0
    out = _last_json(capsys.readouterr().out)
    cat = out["categories"]["tile"]
    assert cat["calibration"]["fitted_on"] == list(bench.DEFAULT.fitted_on) and cat["held_out"] and _no_nan(out)
    assert cat["auroc"]["move"] is None and cat["auroc_reason"]["move"]  # null + a reason, never NaN
    assert json.loads((tmp_path / "r.json").read_text()) == out


def test_a_single_shipped_category_uses_the_fit_without_it(bench, tmp_path, capsys):
    from anomalyagent.critic.calibration import resolve_calibration

    root = make_category(tmp_path / "transistor", per_defect=3, size=48)
    assert bench.main(["--data", str(root), "--json"]) == 0
    cat = _last_json(capsys.readouterr().out)["categories"]["transistor"]
    assert cat["calibration"] == resolve_calibration("without:transistor").to_dict()
    assert "transistor" not in cat["calibration"]["fitted_on"] and cat["held_out"]


def test_two_categories_are_calibrated_on_each_other(bench, tmp_path, capsys):
    make_category(tmp_path / "data" / "a", per_defect=4, size=48, seed=1)
    make_category(tmp_path / "data" / "b", per_defect=4, size=48, seed=2, defects=("hole",))
    assert bench.main(["--data", str(tmp_path / "data"), "--json"]) == 0
    out = _last_json(capsys.readouterr().out)
    assert out["categories"]["a"]["calibration"]["fitted_on"] == ["b"]
    assert out["categories"]["b"]["calibration"]["fitted_on"] == ["a"] and out["categories"]["b"]["held_out"]
    assert _no_nan(out)


def test_summary_of_nothing_is_null_not_nan(bench):
    s = bench.summary([], bench.DEFAULT)
    assert s["real_pass_rate"] is None and all(v is None for v in s["auroc"].values())
    assert bench.auroc([], [1.0]) == (None, "no real defects")


def test_not_a_dataset_is_a_clear_error(bench, tmp_path, capsys):
    assert bench.main(["--data", str(tmp_path), "--json"]) == 2
    assert "error" in capsys.readouterr().err
