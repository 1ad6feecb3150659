"""End to end on a tiny generated category: bench rows, determinism, table, chart, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from anomalyagent.cli import main
from anomalyagent.eval.bench import BenchConfig, run_bench
from anomalyagent.eval.report import bar_chart, markdown_table
from eval_fixtures import make_category

REQUIRED = {"method", "seed", "pixel_auroc", "pixel_ap", "pixel_f1", "image_auroc", "image_ap", "image_f1", "aupro", "seconds"}


@pytest.fixture
def category(tmp_path: Path) -> Path:
    return make_category(tmp_path / "data" / "tile")


def _config(data: Path, out: Path, **kw) -> BenchConfig:
    base = dict(data=str(data), out=str(out), methods=["perlin"], n=4, preset="tiny", seeds=[0],
                classify=False, generation=False, progress=False)
    base.update(kw)
    return BenchConfig(**base)


def test_rows_are_deterministic_and_complete(category: Path, tmp_path: Path):
    a = run_bench(_config(category, tmp_path / "a"))
    b = run_bench(_config(category, tmp_path / "b"))
    assert [r["method"] for r in a] == ["perlin", "oracle"]
    for ra, rb in zip(a, b):
        assert REQUIRED <= set(ra)
        assert {k: v for k, v in ra.items() if "seconds" not in k} == {k: v for k, v in rb.items() if "seconds" not in k}
    assert a[0]["n_train_anomalies"] == 4 and a[1]["n_train_anomalies"] == 2  # 1 of 3 reserved per type
    stored = json.loads((tmp_path / "a" / "results.json").read_text())
    assert stored["test_counts"]["tile"]["test"] == {"good": 2, "hole": 2, "scratch": 2}


def test_resume_skips_done_rows_and_refuses_other_settings(category: Path, tmp_path: Path):
    rows = run_bench(_config(category, tmp_path / "r", oracle=False))
    again = run_bench(_config(category, tmp_path / "r", oracle=False))
    assert again == rows
    with pytest.raises(ValueError, match="other settings"):
        run_bench(_config(category, tmp_path / "r", oracle=False, n=5))
    with pytest.raises(ValueError, match="other settings"):
        run_bench(_config(category, tmp_path / "r", oracle=False, overrides={"epochs": 2}))


def test_select_on_test_is_marked(category: Path, tmp_path: Path):
    rows = run_bench(_config(category, tmp_path / "s", select_on_test=True, oracle=False))
    assert rows[0]["test_selected"] is True
    table = markdown_table(rows, test_selected=True)
    assert "TEST-SELECTED" in table and "| perlin* |" in table


def test_extras_classification_and_generation(category: Path, tmp_path: Path):
    rows = run_bench(_config(category, tmp_path / "x", oracle=False, classify=True, generation=True, n=6))
    row = rows[0]
    assert 0.0 <= row["classification_accuracy"] <= 1.0 and row["classifier"].endswith("_linear")
    assert row["is_effnet"] >= 1.0 and row["ic_lpips_effnet"] >= 0.0
    per_type = row["ic_lpips_effnet_per_defect"]
    assert set(per_type) <= {"hole", "scratch"} and per_type and all(v >= 0.0 for v in per_type.values())
    assert min(per_type.values()) <= row["ic_lpips_effnet"] <= max(per_type.values())
    table = markdown_table(rows)
    assert "IC-LPIPS_effnet per defect type" in table and f"{next(iter(per_type.values())):.3f}" in table


def test_table_and_chart(tmp_path: Path):
    rows = [{"category": "tile", "method": m, "seed": s, "pixel_ap": 0.1 * s + 0.2, "pixel_auroc": 0.9, "seconds": 3.0}
            for m in ("perlin", "oracle") for s in (0, 1)]
    table = markdown_table(rows)
    assert "| perlin | 2 |" in table and "25.0 ± 5.0" in table
    assert table.index("| perlin") < table.index("| oracle")
    bar_chart(rows, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 0


def test_cli(category: Path, tmp_path: Path, capsys):
    code = main(["bench", "--data", str(category.parent), "--out", str(tmp_path / "cli"), "--methods", "cutpaste",
                 "--n", "4", "--preset", "tiny", "--seeds", "0", "--no-oracle", "--no-classify", "--no-generation",
                 "--no-progress"])
    assert code == 0
    assert (tmp_path / "cli" / "results.md").is_file() and (tmp_path / "cli" / "pixel_ap.png").is_file()
    assert "| cutpaste | 1 |" in capsys.readouterr().out
    assert main(["bench", "--data", str(category), "--out", str(tmp_path / "bad"), "--methods", "nope",
                 "--preset", "tiny"]) == 2
    assert "unknown synthesis method 'nope'" in capsys.readouterr().err


def test_cli_unreadable_data_is_one_clear_error(tmp_path: Path, capsys):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert main(["bench", "--data", str(tmp_path / "a"), "--out", str(tmp_path / "o"), "--preset", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "symbolic link loop" in err and "Traceback" not in err


def test_rows_record_setting_detector_code_and_per_defect_metrics(category: Path, tmp_path: Path):
    rows = run_bench(_config(category, tmp_path / "p"))
    perlin, oracle = rows
    assert (perlin["setting"], oracle["setting"], perlin["detector"]) == ("any", "reserved", "unet")
    assert set(perlin["code"]) == {"version", "fingerprint", "git"} and perlin["params"]["n"] == 4
    assert set(perlin["per_defect"]) == {"hole", "scratch"}
    for stats in perlin["per_defect"].values():
        assert 0 <= stats["pixel_ap"] <= 1 and 0 <= stats["pixel_auroc"] <= 1 and stats["n_images"] == 2
    table = markdown_table(rows)
    assert "#### any setting, unet detector" in table
    assert "| method | hole | scratch |" in table and "| perlin | " in table


def test_resume_redoes_rows_of_other_code_saying_why(category: Path, tmp_path: Path, monkeypatch, caplog):
    import logging

    import anomalyagent.eval.bench as bench

    first = run_bench(_config(category, tmp_path / "f", oracle=False))
    real = bench.code_info
    monkeypatch.setattr(bench, "code_info", lambda module: {**real(module), "fingerprint": "0123456789abcdef"})
    with caplog.at_level(logging.INFO):
        again = run_bench(_config(category, tmp_path / "f", oracle=False))
    assert "redoing, its code changed (fingerprint " + first[0]["code"]["fingerprint"] + " -> 0123456789abcdef" in caplog.text
    assert again[0]["code"]["fingerprint"] == "0123456789abcdef"
    assert {k: v for k, v in again[0].items() if "seconds" not in k and k != "code"} == \
        {k: v for k, v in first[0].items() if "seconds" not in k and k != "code"}
    stored = json.loads((tmp_path / "f" / "results.json").read_text())
    assert len(stored["rows"]) == 1  # replaced, not appended
    stamp = json.loads((tmp_path / "f" / "synthetic" / "tile" / "any" / "perlin" / "seed0.bench_stamp.json").read_text())
    assert stamp["code"] == "0123456789abcdef"  # the synthetic set was made again, not resumed from old code
    assert "made by other code or parameters; starting it over" in caplog.text


def test_rows_without_code_info_are_dropped(category: Path, tmp_path: Path, caplog):
    config = _config(category, tmp_path / "l", oracle=False)
    run_bench(config)
    path = tmp_path / "l" / "results.json"
    stored = json.loads(path.read_text())
    legacy = {k: v for k, v in stored["rows"][0].items() if k not in ("code", "params", "setting", "detector")}
    stored["rows"] = [legacy]  # a row of the format before settings and fingerprints
    path.write_text(json.dumps(stored))
    rows = run_bench(config)
    assert [(r["setting"], r["method"]) for r in rows] == [("any", "perlin")] and rows[0]["code"]
    assert "dropping 1 rows made before rows recorded their code" in caplog.text


def test_a_failing_sample_and_a_failing_row_do_not_stop_the_run(category: Path, tmp_path: Path, monkeypatch):
    from anomalyagent.methods import METHODS
    from anomalyagent.methods.perlin import PerlinMethod

    class Flaky(PerlinMethod):
        name = "flaky"

        def synthesize(self, image, task, rng, pool):
            if task.index == 0:
                raise RuntimeError("boom on purpose")
            return super().synthesize(image, task, rng, pool)

    class Broken(PerlinMethod):
        name = "broken"

        def synthesize(self, image, task, rng, pool):
            raise RuntimeError("always broken")

    monkeypatch.setitem(METHODS._items, "flaky", Flaky)
    monkeypatch.setitem(METHODS._items, "broken", Broken)
    rows = run_bench(_config(category, tmp_path / "e", methods=["broken", "flaky"], oracle=False))
    by = {r["method"]: r for r in rows}
    assert by["flaky"]["failed_samples"] == 2 and "boom on purpose" in by["flaky"]["failed_examples"][0]
    assert by["flaky"]["n_train_anomalies"] == 2 and "pixel_ap" in by["flaky"]
    assert "no sample could be made" in by["broken"]["error"]
    assert "- broken seed 0: DataError" in markdown_table(rows)


def test_unknown_category_is_a_clear_error(category: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="no category 'nut' \\(has tile\\)"):
        run_bench(_config(category.parent, tmp_path / "c", category="nut"))


def test_head_prior_is_part_of_a_rows_identity(category: Path, tmp_path: Path):
    """The default trains with the head prior and says so in each row's params; PyTorch's
    init (--head-prior 0) leaves it out, so rows stored before the option still match."""
    default = _config(category, tmp_path / "a").row_params("zero-shot", None)
    old = _config(category, tmp_path / "b", overrides={"head_prior": 0.0}).row_params("zero-shot", None)
    assert default["train"]["head_prior"] == pytest.approx(0.01)
    assert "head_prior" not in old["train"]
    assert {k: v for k, v in default["train"].items() if k != "head_prior"} == old["train"]


def test_input_norm_is_part_of_a_rows_identity_only_when_set(category: Path, tmp_path: Path):
    """--input-norm image makes new rows; the default leaves the key out, so stored rows match."""
    default = _config(category, tmp_path / "a").row_params("zero-shot", None)
    norm = _config(category, tmp_path / "b", overrides={"input_norm": "image"}).row_params("zero-shot", None)
    assert "input_norm" not in default["train"] and norm["train"]["input_norm"] == "image"
    assert {k: v for k, v in norm["train"].items() if k != "input_norm"} == default["train"]
    # the run-wide key too: an --out written before the option resumes; one with the option does not mix
    default_key = _config(category, tmp_path / "a").key()
    norm_key = _config(category, tmp_path / "b", overrides={"input_norm": "image"}).key()
    assert "input_norm" not in default_key["train"] and norm_key["train"]["input_norm"] == "image"


def test_results_whose_key_spells_the_default_input_norm_resume(category: Path, tmp_path: Path):
    """Results written while the run-wide key still held input_norm "none" (stop 19) resume
    without redoing a row; a key that says "image" is still refused."""
    rows = run_bench(_config(category, tmp_path / "r", oracle=False))
    path = tmp_path / "r" / "results.json"
    stored = json.loads(path.read_text())
    stored["config_key"]["train"]["input_norm"] = "none"
    path.write_text(json.dumps(stored))
    assert run_bench(_config(category, tmp_path / "r", oracle=False)) == rows
    stored["config_key"]["train"]["input_norm"] = "image"
    path.write_text(json.dumps(stored))
    with pytest.raises(ValueError, match="other settings"):
        run_bench(_config(category, tmp_path / "r", oracle=False))


def test_the_cpu_presets_unet_reads_standardised_images(category: Path, tmp_path: Path):
    """The cpu preset's U-Net standardises each image (its default since stop 20) and says so
    in the key and the row params; another detector gets "none" unless asked; effnet
    refuses "image"; the paper preset keeps the paper's input."""
    unet = _config(category, tmp_path / "a", preset="cpu", detector="unet")
    assert unet.train_config().input_norm == "image"
    assert unet.key()["train"]["input_norm"] == "image"
    assert unet.row_params("zero-shot", None)["train"]["input_norm"] == "image"
    effnet = _config(category, tmp_path / "b", preset="cpu", detector="effnet")
    assert effnet.train_config().input_norm == "none" and "input_norm" not in effnet.key()["train"]
    with pytest.raises(ValueError, match="input_norm"):
        _config(category, tmp_path / "c", preset="cpu", detector="effnet", overrides={"input_norm": "image"})
    assert _config(category, tmp_path / "d", preset="paper").train_config().input_norm == "none"
    assert _config(category, tmp_path / "e", preset="cpu", detector="unet",
                   overrides={"input_norm": "none"}).train_config().input_norm == "none"


def test_each_preset_has_its_own_default_detector(category: Path, tmp_path: Path):
    """Without a detector the cpu preset trains effnet (since stop 21), the paper and tiny
    presets the U-Net; a named detector wins; the key and the row params say which, so
    folders of the two never mix; the CLI leaves the choice to the preset."""
    from anomalyagent.cli import build_parser

    cpu = _config(category, tmp_path / "a", preset="cpu")
    assert cpu.detector == "effnet" and cpu.train_config().detector == "effnet"
    assert cpu.train_config().input_norm == "none"  # the U-Net's standardised input is not effnet's
    assert cpu.row_params("zero-shot", None)["train"]["detector"] == "effnet"
    assert _config(category, tmp_path / "b", preset="paper").train_config().detector == "unet"
    assert _config(category, tmp_path / "c").train_config().detector == "unet"  # tiny
    named = _config(category, tmp_path / "d", preset="cpu", detector="unet")
    assert named.train_config().detector == "unet" and named.key() != cpu.key()
    assert build_parser().parse_args(["bench", "--data", "d", "--out", "o"]).detector is None
