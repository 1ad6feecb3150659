import json
from pathlib import Path

import numpy as np
import pytest

from anomalyagent.data import DataError, index_normals
from anomalyagent.images import read_image, read_mask
from anomalyagent.pipeline import plan_tasks, synthesize
from anomalyagent.writer import MANIFEST, OutputWriter, safe_name

from conftest import object_image, write_image


def files(root: Path) -> dict[str, bytes]:
    """Image and mask bytes of an output folder, by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def manifest(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / MANIFEST).read_text().splitlines()]


def test_layout_counts_and_masks(object_tree, tmp_path):
    out = tmp_path / "out"
    summary = synthesize(object_tree, out, ["crack", "hole"], 5, seed=0, progress=False)
    assert summary.written == 5 and not summary.failed
    assert sorted(p.name for p in (out / "hazelnut/test/crack").iterdir()) == ["000.png", "001.png", "002.png"]
    assert sorted(p.name for p in (out / "hazelnut/ground_truth/hole").iterdir()) == ["000_mask.png", "001_mask.png"]
    records = manifest(out)
    assert [r["task_id"] for r in records] == sorted(r["task_id"] for r in records)
    for r in records:
        image = read_image(out / r["image"])
        assert image.shape == (96, 96, 3)
        mask = read_mask(out / r["mask"], image.shape[:2])
        assert mask.any() == (r["mask_fraction"] > 0)
        assert (out / r["trajectory"]).is_file()
    assert (out / "report.html").read_text().count("class=card") == 5


def test_grayscale_plain_folder_stays_gray_and_keeps_size(texture_folder, tmp_path):
    out = tmp_path / "out"
    synthesize(texture_folder, out, ["crack"], 3, progress=False)
    for r in manifest(out):
        image = read_image(out / r["image"])
        assert image.ndim == 2
        assert image.shape == read_image(r["source"]).shape


def test_same_seed_identical_bytes_whatever_the_workers(object_tree, tmp_path):
    synthesize(object_tree, tmp_path / "a", ["crack", "hole"], 4, seed=3, workers=1, progress=False)
    synthesize(object_tree, tmp_path / "b", ["crack", "hole"], 4, seed=3, workers=2, progress=False)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    synthesize(object_tree, tmp_path / "c", ["crack", "hole"], 4, seed=4, workers=1, progress=False)
    assert files(tmp_path / "a") != files(tmp_path / "c")


def test_resume_after_kill_loses_and_duplicates_nothing(object_tree, tmp_path):
    full, out = tmp_path / "full", tmp_path / "out"
    synthesize(object_tree, full, ["crack"], 4, seed=1, progress=False)
    synthesize(object_tree, out, ["crack"], 4, seed=1, progress=False)
    # Simulate a kill: the last sample's manifest line is torn, another's image is missing
    # (killed between the files and the line), and a stray temp file is left behind.
    lines = (out / MANIFEST).read_text().splitlines()
    (out / MANIFEST).write_text("\n".join(lines[:2]) + "\n" + lines[3][: len(lines[3]) // 2])
    (out / "hazelnut/test/crack/.000.png.tmp").write_bytes(b"partial")
    summary = synthesize(object_tree, out, ["crack"], 4, seed=1, progress=False)
    assert summary.skipped_done == 2 and summary.written == 2
    ids = [r["task_id"] for r in manifest(out)]
    assert ids == sorted(set(ids)) and len(ids) == 4
    assert {k: v for k, v in files(out).items()} == files(full)
    again = synthesize(object_tree, out, ["crack"], 4, seed=1, progress=False)
    assert again.written == 0 and again.skipped_done == 4


def test_unreadable_image_is_reported_and_skipped(object_tree, tmp_path):
    (object_tree / "train/good/001.png").write_bytes(b"garbage")
    summary = synthesize(object_tree, tmp_path / "out", ["hole"], 4, progress=False)
    assert summary.written == 4
    assert any("001.png" in m and "not a readable image" in m for m in summary.bad_images)
    assert all("001.png" not in r["source"] for r in manifest(tmp_path / "out"))


def test_empty_or_wrong_folder_gives_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no normal images found"):
        index_normals(tmp_path / "empty")
    with pytest.raises(DataError, match="does not exist"):
        index_normals(tmp_path / "missing")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(DataError, match="is a file"):
        index_normals(tmp_path / "file.png")
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "a.png").write_bytes(b"junk")
    with pytest.raises(DataError, match="no sample could be made"):
        synthesize(only_bad, tmp_path / "o", ["hole"], 1, progress=False)


def test_names_cannot_escape_the_output_folder(object_tree, tmp_path):
    for bad in ("../evil", "a/b", ".hidden", "", "x" * 80):
        with pytest.raises(ValueError, match="invalid"):
            safe_name(bad)
    with pytest.raises(ValueError, match="invalid defect type"):
        synthesize(object_tree, tmp_path / "o", ["../../etc"], 1, progress=False)


def test_mvtec_root_with_categories_and_task_plan(tmp_path):
    rng = np.random.default_rng(0)
    for cat in ("a", "b"):
        for i in range(3):
            write_image(tmp_path / "root" / cat / "train/good" / f"{i}.png", object_image(rng, 32))
    sets = index_normals(tmp_path / "root")
    assert [s.category for s in sets] == ["a", "b"]
    tasks = plan_tasks(sets, ["x", "y"], 5, seed=0)
    assert len(tasks) == 10
    assert [t.index for t in tasks if t.category == "a" and t.defect_type == "x"] == [0, 1, 2]
    assert len({t.seed for t in tasks}) == 10
    assert [s.category for s in index_normals(tmp_path / "root", "b")] == ["b"]


def test_real_kill_then_resume(object_tree, tmp_path):
    """SIGKILL a running `synthesize` mid-run; the re-run completes the same set of bytes."""
    import signal
    import subprocess
    import sys
    import time

    args = ["synthesize", "--data", str(object_tree), "--defects", "crack,hole", "--n", "24", "--no-progress"]
    full, out = tmp_path / "full", tmp_path / "out"
    cmd = [sys.executable, "-m", "anomalyagent.cli"]
    subprocess.run(cmd + args + ["--out", str(full)], check=True, capture_output=True)
    proc = subprocess.Popen(cmd + args + ["--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        if (out / MANIFEST).exists() and len((out / MANIFEST).read_text().splitlines()) >= 4:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(OutputWriter(out).read_manifest())
    assert 0 < done_before < 24, "the kill should land mid-run"
    subprocess.run(cmd + args + ["--out", str(out)], check=True, capture_output=True)
    ids = [r["task_id"] for r in manifest(out)]
    assert len(ids) == len(set(ids)) == 24
    produced = {k: v for k, v in files(out).items() if not k.startswith(".")}
    assert produced == files(full)
    assert not [p for p in out.rglob("*.tmp")]
