"""MVTec-layout indexing in one place: records, missing masks, unreadable folders."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from anomalyagent.data import DataError, MVTecItem, find_categories, index_mvtec, index_normals, open_folder
from anomalyagent.eval.data import synthetic_pairs
from anomalyagent.eval.split import EvalItem, split_category
from eval_fixtures import make_category


def test_index_mvtec_returns_every_image_in_order(tmp_path: Path):
    root = make_category(tmp_path / "tile", n_train=3, n_good=2, per_defect=2)
    items = index_mvtec(root)
    assert [(it.split, it.defect, Path(it.image).name) for it in items] == [
        ("train", "good", "000.png"), ("train", "good", "001.png"), ("train", "good", "002.png"),
        ("test", "good", "000.png"), ("test", "good", "001.png"),
        ("test", "hole", "000.png"), ("test", "hole", "001.png"),
        ("test", "scratch", "000.png"), ("test", "scratch", "001.png")]
    hole = items[5]
    assert hole.mask == str(root / "ground_truth" / "hole" / "000_mask.png") and hole.is_anomaly
    assert not items[0].is_anomaly and items[0].mask == ""
    assert MVTecItem.from_dict(hole.to_dict()) == hole
    assert EvalItem is MVTecItem  # the evaluation split and reverse synthesis share the record


def test_missing_mask_raises_naming_the_file_or_is_skipped(tmp_path: Path, caplog):
    root = make_category(tmp_path / "tile", per_defect=2)
    (root / "ground_truth" / "scratch" / "001_mask.png").unlink()
    with pytest.raises(DataError, match=r"test/scratch/001.png: anomaly without a mask \(expected .*001_mask.png\)"):
        index_mvtec(root)
    items = index_mvtec(root, missing_mask="skip")
    assert [Path(it.image).name for it in items if it.defect == "scratch"] == ["000.png"]
    assert "scratch/001.png: anomaly without a mask" in caplog.text


def test_every_reader_uses_the_same_index(tmp_path: Path):
    """The split, the synthetic-pair loader and the normal finder see the same files."""
    root = make_category(tmp_path / "data" / "tile", per_defect=3)
    items = index_mvtec(root)
    split = split_category(root)
    assert sorted(it.image for it in split.reserved + split.test) == sorted(it.image for it in items if it.split == "test")
    pairs = synthetic_pairs(tmp_path / "data", "tile")
    assert [(str(a), str(b)) for a, b in pairs] == [(it.image, it.mask) for it in items if it.is_anomaly]
    (normals,) = index_normals(tmp_path / "data")
    assert [str(p) for p in normals.paths] == [str(Path(it.image).resolve()) for it in items if it.split == "train"]


def test_symlink_loop_and_unreadable_folders_are_one_clear_error(tmp_path: Path):
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    for fn in (find_categories, index_normals, open_folder):
        with pytest.raises(DataError, match=r"/a: .*symbolic link loop"):
            fn(tmp_path / "a")
    with pytest.raises(DataError, match="does not exist"):
        find_categories(tmp_path / "nowhere")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(DataError, match="is a file"):
        index_normals(tmp_path / "file.png")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_folder_without_permission_is_a_clear_error(tmp_path: Path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        with pytest.raises(DataError, match="cannot list folder"):
            find_categories(locked)
    finally:
        locked.chmod(0o755)


def test_loop_inside_the_tree_is_skipped(tmp_path: Path):
    root = make_category(tmp_path / "data" / "tile")
    os.symlink(tmp_path / "data" / "y", tmp_path / "data" / "x")
    os.symlink(tmp_path / "data" / "x", tmp_path / "data" / "y")
    os.symlink(root / "test" / "loop", root / "test" / "loop")
    assert [p.name for p in find_categories(tmp_path / "data")] == ["tile"]
    assert {it.defect for it in index_mvtec(root)} == {"good", "hole", "scratch"}
