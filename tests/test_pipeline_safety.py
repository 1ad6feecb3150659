"""The output folder never harms the user's data and never mixes runs (issue 13, items 1, 2, 7, 8)."""
import fcntl
import json
import os
import shutil

import pytest

from anomalyagent.data import index_normals
from anomalyagent.outfolder import LOCK, RUN_RECORD, OutputError
from anomalyagent.pipeline import synthesize
from anomalyagent.writer import MANIFEST

from conftest import object_image, write_image


def lines(root):
    return [json.loads(x) for x in (root / MANIFEST).read_text().splitlines() if x]


def test_out_overlapping_data_is_refused_and_nothing_is_touched(object_tree, tmp_path):
    # The case: --out is the MVTec root that holds --data.
    real = object_tree / "test/crack/000.png"
    write_image(real, object_image(__import__("numpy").random.default_rng(9)))
    before = real.read_bytes()
    for out in (object_tree.parent, object_tree, object_tree / "sub"):
        with pytest.raises(OutputError, match="overlaps --data"):
            synthesize(object_tree, out, ["crack"], 3, progress=False)
    assert real.read_bytes() == before
    assert not (object_tree / "sub").exists() and not (object_tree.parent / MANIFEST).exists()


def test_foreign_folder_is_refused(object_tree, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my thesis")
    with pytest.raises(OutputError, match="not written by anomalyagent"):
        synthesize(object_tree, out, ["crack"], 2, progress=False)
    assert (out / "notes.txt").read_text() == "my thesis" and not (out / MANIFEST).exists()


def test_run_record_refuses_a_different_resume_naming_the_difference(object_tree, tmp_path):
    out = tmp_path / "out"
    synthesize(object_tree, out, ["crack"], 2, seed=1, progress=False)
    record = json.loads((out / RUN_RECORD).read_text())
    assert record["seed"] == 1 and record["method"] == "agent" and record["version"]
    assert record["data"] == str(object_tree.resolve())
    assert record["config"]["retries"] == 2 and record["config"]["policy"]["name"] == "rule" and not record["config"]["with_normals"]
    with pytest.raises(OutputError, match=r"--seed: folder has 1, this run asks 2"):
        synthesize(object_tree, out, ["crack"], 2, seed=2, progress=False)
    with pytest.raises(OutputError, match=r"--method: folder has 'agent', this run asks 'perlin'"):
        synthesize(object_tree, out, ["crack"], 2, seed=1, method="perlin", progress=False)
    other = tmp_path / "other" / "hazelnut"
    shutil.copytree(object_tree, other)
    with pytest.raises(OutputError, match=r"--data: folder has"):
        synthesize(other, out, ["crack"], 2, seed=1, progress=False)
    with pytest.raises(OutputError, match=r"retries: folder has 2, this run asks 0"):
        synthesize(object_tree, out, ["crack"], 2, seed=1, progress=False, method_kwargs={"retries": 0})
    # Same parameters (more samples): a resume that redoes nothing.
    again = synthesize(object_tree, out, ["crack"], 3, seed=1, progress=False)
    assert again.skipped_done == 2 and again.written == 1


def test_second_process_on_the_same_out_is_refused(object_tree, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another run holds the folder
    os.write(fd, b"4242")
    try:
        with pytest.raises(OutputError, match="another anomalyagent run .pid 4242. is writing"):
            synthesize(object_tree, out, ["crack"], 2, progress=False)
    finally:
        os.close(fd)
    assert synthesize(object_tree, out, ["crack"], 2, progress=False).written == 2


def test_unknown_defects_good_and_duplicates(object_tree, tmp_path, caplog):
    with pytest.raises(ValueError, match=r"'crak' \(did you mean: crack"):
        synthesize(object_tree, tmp_path / "a", ["crak", "hole"], 2, progress=False)
    with pytest.raises(ValueError, match="'rainbow'.*--allow-unknown"):
        synthesize(object_tree, tmp_path / "a", ["rainbow"], 2, progress=False)
    assert not (tmp_path / "a").exists()
    summary = synthesize(object_tree, tmp_path / "b", ["rainbow"], 1, progress=False, allow_unknown=True)
    assert any("rainbow" in n and "falls back to" in n for n in summary.notes)
    with pytest.raises(ValueError, match="reserved"):
        synthesize(object_tree, tmp_path / "c", ["good"], 2, progress=False)
    with pytest.raises(ValueError, match="reserved"):
        synthesize(object_tree, tmp_path / "c", ["Good"], 2, progress=False)
    summary = synthesize(object_tree, tmp_path / "d", ["crack", "crack"], 4, progress=False)
    assert summary.written == 4 and any("given twice" in n for n in summary.notes)
    assert len(list((tmp_path / "d/hazelnut/test/crack").iterdir())) + summary.not_passed == 4


def test_failed_samples_never_land_in_test(object_tree, tmp_path):
    out = tmp_path / "out"
    summary = synthesize(object_tree, out, ["crack"], 3, progress=False, method_kwargs={"max_turns": 0, "retries": 0})
    assert summary.written == 3 and summary.not_passed == 3
    assert not (out / "hazelnut/test/crack").exists() or not list((out / "hazelnut/test/crack").iterdir())
    records = lines(out)
    assert all(r["kept"] == "dropped" and not r["passed"] and r["image"] == "" for r in records)
    again = synthesize(object_tree, out, ["crack"], 3, progress=False, method_kwargs={"max_turns": 0, "retries": 0})
    assert again.skipped_done == 3 and again.written == 0
    kept = tmp_path / "kept"
    synthesize(object_tree, kept, ["crack"], 3, progress=False, keep_failed=True, method_kwargs={"max_turns": 0, "retries": 0})
    assert sorted(p.name for p in (kept / "failed/hazelnut/crack").iterdir()) == [
        "000.png", "000_mask.png", "001.png", "001_mask.png", "002.png", "002_mask.png"]
    assert all(r["kept"] == "failed" and r["image"].startswith("failed/") for r in lines(kept))
    assert not (kept / "hazelnut/test").exists()


def test_with_normals_makes_a_complete_category(object_tree, tmp_path):
    out = tmp_path / "out"
    synthesize(object_tree, out, ["crack"], 4, progress=False, with_normals=True)
    train = sorted(p.name for p in (out / "hazelnut/train/good").iterdir())
    test = sorted(p.name for p in (out / "hazelnut/test/good").iterdir())
    assert len(train) == 3 and len(test) == 1 and not set(train) & set(test)
    assert all(os.path.basename(r["source"]) in train for r in lines(out))  # held-out normals never used
    (sets,) = index_normals(out / "hazelnut")  # readable as an MVTec category
    assert len(sets.paths) == 3
    assert synthesize(object_tree, out, ["crack"], 4, progress=False, with_normals=True).skipped_done == 4
