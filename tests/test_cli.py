import json

import pytest

from anomalyagent.cli import main


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for name in ("synthesize", "demo", "inspect", "kb"):
        assert name in text


def test_synthesize_help_explains(capsys):
    with pytest.raises(SystemExit):
        main(["synthesize", "--help"])
    text = capsys.readouterr().out
    assert "--defects" in text and "resumes" in text and "MVTec" in text


def test_synthesize_then_inspect(object_tree, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["synthesize", "--data", str(object_tree), "--defects", "crack,hole", "--n", "4", "--out", str(out), "--no-progress"]) == 0
    assert "wrote 4 samples" in capsys.readouterr().out
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "4 samples" in text and "pass rate" in text and "hazelnut/crack" in text
    assert main(["inspect", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 4


def test_bad_input_is_one_clear_error(tmp_path, capsys):
    assert main(["synthesize", "--data", str(tmp_path / "nope"), "--defects", "crack", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "does not exist" in err and "Traceback" not in err
    assert main(["inspect", str(tmp_path)]) == 2


def test_kb_show_and_list(capsys):
    assert main(["kb", "show", "hazelnut", "crack"]) == 0
    assert "crack" in capsys.readouterr().out.lower()
    assert main(["kb", "show", "spaceship", "glitter"]) == 0
    assert "note:" in capsys.readouterr().out
    assert main(["kb", "list"]) == 0
    assert "hazelnut" in capsys.readouterr().out


def test_demo_runs_offline(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--n", "3", "--no-progress"]) == 0
    assert (out / "samples/report.html").is_file()
    assert len([line for line in (out / "samples/manifest.jsonl").read_text().splitlines() if line]) == 6


def test_knowledge_override_file(object_tree, tmp_path, capsys):
    extra = tmp_path / "kb.yaml"
    extra.write_text("entries:\n  - category: hazelnut\n    defect: hole\n    size: [0.05, 0.06]\n")
    out = tmp_path / "out"
    assert main(["synthesize", "--data", str(object_tree), "--defects", "hole", "--n", "2", "--out", str(out),
                 "--no-progress", "--knowledge", str(extra)]) == 0
    for line in (out / "manifest.jsonl").read_text().splitlines():
        size = json.loads(line)["spec"]["size"]
        assert 0.05 / 1.5 ** 3 <= size <= 0.06 * 1.5 ** 3  # within the override, up to three refinements
    bad = tmp_path / "bad.yaml"
    bad.write_text("entries:\n  - category: hazelnut\n    defect: hole\n    size: nonsense\n")
    capsys.readouterr()
    assert main(["synthesize", "--data", str(object_tree), "--defects", "hole", "--n", "1", "--out", str(tmp_path / "o2"),
                 "--no-progress", "--knowledge", str(bad)]) == 2
    assert "bad.yaml" in capsys.readouterr().err
