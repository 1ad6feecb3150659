"""The AnomalyDiffusion split and the MVTec indexing of the real test set."""
from __future__ import annotations

from pathlib import Path

import pytest

from anomalyagent.eval.split import find_categories, index_test, reserved_count, split_category
from anomalyagent.images import ImageError
from eval_fixtures import make_category


def test_reserved_count():
    assert [reserved_count(n) for n in (0, 1, 2, 3, 32, 40)] == [0, 0, 1, 1, 10, 13]


def test_split_reserves_first_third_by_name(tmp_path: Path):
    root = make_category(tmp_path / "tile", per_defect=6)
    split = split_category(root)
    reserved = {(it.defect, Path(it.image).name) for it in split.reserved}
    assert reserved == {("hole", "000.png"), ("hole", "001.png"), ("scratch", "000.png"), ("scratch", "001.png")}
    assert split.counts() == {"good": 2, "hole": 4, "scratch": 4}
    assert not {it.image for it in split.reserved} & {it.image for it in split.test}
    assert all(it.mask.endswith("_mask.png") for it in split.test if it.is_anomaly)
    assert split.defects() == ["hole", "scratch"]


def test_anomaly_without_mask_names_the_file(tmp_path: Path):
    root = make_category(tmp_path / "tile")
    (root / "ground_truth" / "hole" / "001_mask.png").unlink()
    with pytest.raises(ImageError, match=r"test/hole/001.png: anomaly without a mask"):
        index_test(root)


def test_find_categories(tmp_path: Path):
    make_category(tmp_path / "a")
    make_category(tmp_path / "b")
    assert [p.name for p in find_categories(tmp_path)] == ["a", "b"]
    assert find_categories(tmp_path / "a") == [tmp_path / "a"]
    with pytest.raises(ImageError, match="not an MVTec-layout folder"):
        find_categories(tmp_path / "a" / "test")
