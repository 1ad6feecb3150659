"""One clear error, never a traceback, for bad command lines (issue 13, items 2 and 10)."""
import json

import pytest

from anomalyagent.cli import main
from anomalyagent.writer import MANIFEST


def run_cli(argv, capsys):
    """(exit code, stderr); argparse errors exit through SystemExit(2)."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def synth(data, out, *extra):
    return ["synthesize", "--data", str(data), "--out", str(out), "--no-progress", *extra]


def test_out_is_a_file(object_tree, tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    code, err = run_cli(synth(object_tree, target, "--defects", "crack", "--n", "1"), capsys)
    assert code == 2 and "is a file" in err and target.read_text() == "x"
    code, err = run_cli(synth(object_tree, target / "sub", "--defects", "crack", "--n", "1"), capsys)
    assert code == 2 and "cannot create the folder" in err


@pytest.mark.parametrize("args, needle", [
    (["--retries", "-5"], "--retries: -5 must be at least 0"),
    (["--workers", "0"], "--workers: 0 must be at least 1"),
    (["--n", "0"], "--n: 0 must be at least 1"),
    (["--max-turns", "x"], "is not a whole number"),
])
def test_bad_numbers(object_tree, tmp_path, capsys, args, needle):
    code, err = run_cli(synth(object_tree, tmp_path / "o", "--defects", "crack", *args), capsys)
    assert code == 2 and needle in err


def test_n_smaller_than_the_defects_is_an_error(object_tree, tmp_path, capsys):
    code, err = run_cli(synth(object_tree, tmp_path / "o", "--defects", "crack,hole,cut,print", "--n", "2"), capsys)
    assert code == 2 and "--n 2 is smaller than the 4 defect types" in err
    assert not (tmp_path / "o").exists()


def test_typos_good_and_duplicates(object_tree, tmp_path, capsys):
    code, err = run_cli(synth(object_tree, tmp_path / "o", "--defects", "crak,scrach,hol", "--n", "3"), capsys)
    assert code == 2 and "did you mean: crack" in err and "did you mean: scratch" in err and "hole" in err
    code, err = run_cli(synth(object_tree, tmp_path / "o", "--defects", "good", "--n", "3"), capsys)
    assert code == 2 and "reserved" in err
    code, err = run_cli(synth(object_tree, tmp_path / "o", "--defects", "rainbow", "--n", "1", "--allow-unknown"), capsys)
    assert code == 0 and "rainbow" in err and "falls back to" in err
    code, err = run_cli(synth(object_tree, tmp_path / "d", "--defects", "crack,crack", "--n", "4"), capsys)
    assert code == 0 and "given twice" in err
    assert len((tmp_path / "d" / MANIFEST).read_text().splitlines()) == 4


def test_learned_without_a_bank(object_tree, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ANOMALYAGENT_REALISM_BANK", raising=False)
    code, err = run_cli(synth(object_tree, tmp_path / "o", "--defects", "crack", "--n", "1", "--learned"), capsys)
    assert code == 2 and "--learned" in err and "bank" in err and err.count("error:") == 1


def test_demo_n_zero(tmp_path, capsys):
    code, err = run_cli(["demo", "--out", str(tmp_path / "d"), "--n", "0"], capsys)
    assert code == 2 and "--n: 0 must be at least 1" in err


def test_damaged_manifest_line_is_skipped_with_a_warning(object_tree, tmp_path, capsys, caplog):
    out = tmp_path / "o"
    assert main(synth(object_tree, out, "--defects", "crack", "--n", "3")) == 0
    lines = (out / MANIFEST).read_text().splitlines()
    broken = json.loads(lines[1])
    del broken["image"]  # valid JSON, missing a field
    (out / MANIFEST).write_text("\n".join([lines[0], json.dumps(broken), "[1, 2]", "{not json", lines[2]]) + "\n")
    assert main(["inspect", str(out)]) == 0
    captured = capsys.readouterr()
    assert "2 samples" in captured.out
    code, err = run_cli(synth(object_tree, out, "--defects", "crack", "--n", "3"), capsys)
    assert code == 0 and "damaged manifest line" in caplog.text
    assert len((out / MANIFEST).read_text().splitlines()) == 3


def test_read_only_out_is_a_clear_error(object_tree, tmp_path, capsys, monkeypatch):
    import anomalyagent.outfolder as outfolder

    out = tmp_path / "ro"
    out.mkdir()
    # Tests may run as root, whom permissions do not stop: simulate a read-only folder.
    monkeypatch.setattr(outfolder.os, "access", lambda path, mode: False)
    code, err = run_cli(synth(object_tree, out, "--defects", "crack", "--n", "1"), capsys)
    assert code == 2 and "not writable" in err and not list(out.iterdir())


def test_hostile_knowledge_file_in_synthesize(object_tree, tmp_path, capsys):
    laughs = tmp_path / "laughs.yaml"
    laughs.write_text('a: &a ["x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nentries: [*b]\n')
    code, err = run_cli(synth(object_tree, tmp_path / "o", "--defects", "crack", "--n", "1", "--knowledge", str(laughs)), capsys)
    assert code == 2 and "laughs.yaml" in err and "aliases" in err and not (tmp_path / "o").exists()
