"""``anomalyagent reverse``: reserved split by default, --all, bad files skipped, bad options refused."""
from __future__ import annotations

import json
import logging

import numpy as np

from anomalyagent.cli import main
from anomalyagent.synthetic import object_image
from conftest import write_image
from reverse_fixtures import reverse_tree


def _records(out) -> list[dict]:
    return [json.loads(line) for line in (out / "anomalies.jsonl").read_text().splitlines()]


def test_reverse_uses_the_reserved_third_by_default_and_all_on_request(tmp_path, capsys):
    data = reverse_tree(tmp_path / "data")
    args = ["reverse", "--data", str(tmp_path / "data"), "--turns", "1", "--methods", "telea,exemplar"]
    assert main(args + ["--out", str(tmp_path / "reserved")]) == 0
    printed = capsys.readouterr().out
    assert "trajectories" in printed and "flagged by QE" in printed and "spec fit IoU" in printed
    reserved = _records(tmp_path / "reserved")
    assert sorted((r["defect"], r["image"].rsplit("/", 1)[1]) for r in reserved) == [("crack", "000.png"), ("cut", "000.png")]
    summary = json.loads((tmp_path / "reserved" / "summary.json").read_text())
    assert set(summary["by_n"]) <= {"1"} and summary["anomalies"] == 2
    assert main(args + ["--all", "--out", str(tmp_path / "all")]) == 0
    everything = _records(tmp_path / "all")
    assert len(everything) == 6 and sum(r["reserved"] for r in everything) == 2
    assert (data / "test" / "good").is_dir()  # good images are never used as anomalies
    assert all(r["defect"] != "good" for r in everything)


def test_bad_anomalies_are_skipped_with_a_warning_naming_them(tmp_path, caplog):
    data = reverse_tree(tmp_path / "data", per_defect=2, defects=("cut",))
    write_image(data / "test" / "cut" / "002.png", object_image(np.random.default_rng(0), 96))  # no mask
    (data / "test" / "cut" / "003.png").write_bytes(b"not a png")
    (data / "ground_truth" / "cut" / "003_mask.png").write_bytes(b"not a png either")
    with caplog.at_level(logging.WARNING):
        assert main(["reverse", "--data", str(data), "--out", str(tmp_path / "out"), "--all", "--turns", "1",
                     "--methods", "telea"]) == 0
    assert "002.png: anomaly without a mask" in caplog.text
    assert "003.png" in caplog.text
    records = _records(tmp_path / "out")
    assert [r["image"].rsplit("/", 1)[1] for r in records if not r["error"]] == ["000.png", "001.png"]
    assert any(r["error"] and r["image"].endswith("003.png") for r in records)


def test_bad_options_exit_2(tmp_path, capsys):
    data = reverse_tree(tmp_path / "data", per_defect=2, defects=("cut",))
    base = ["reverse", "--data", str(data), "--out", str(tmp_path / "out")]
    assert main(base + ["--turns", "1,4"]) == 2
    assert "turns" in capsys.readouterr().err
    assert main(base + ["--methods", "telea,magic"]) == 2
    assert main(base + ["--kr-fraction", "2"]) == 2
    assert main(["reverse", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o2")]) == 2
