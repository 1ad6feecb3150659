"""The output folder's claim: overlap (through symlinks too), run record differences, lock."""
import os

import pytest

from anomalyagent.outfolder import OutputError, OutputFolder, RunRecord, check_overlap


def test_overlap_is_found_through_symlinks(tmp_path):
    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)
    os.symlink(data, tmp_path / "alias")
    with pytest.raises(OutputError, match="overlaps"):
        check_overlap(data, tmp_path / "alias" / "out")
    with pytest.raises(OutputError, match="overlaps"):
        check_overlap(data / "train", tmp_path)
    check_overlap(data, tmp_path / "elsewhere")


def test_differences_name_each_parameter():
    a = RunRecord("/d", "agent", 1, {"retries": 2, "knowledge": []}, "0.1.0")
    b = RunRecord("/e", "agent", 2, {"retries": 2, "knowledge": ["kb.yaml"]}, "0.2.0")
    diffs = a.differences(b)
    assert "--data: folder has '/d', this run asks '/e'" in diffs
    assert "--seed: folder has 1, this run asks 2" in diffs
    assert "package version: folder has '0.1.0', this run asks '0.2.0'" in diffs
    assert "knowledge: folder has [], this run asks ['kb.yaml']" in diffs
    assert a.differences(RunRecord.from_dict(a.to_dict())) == []


def test_a_setting_the_older_record_lacks_is_named_as_such():
    """A folder made before an option existed: the refusal says the option is new, not
    that the folder had the default."""
    old = RunRecord("/d", "agent", 1, {"retries": 2}, "0.1.0")
    new = RunRecord("/d", "agent", 1, {"retries": 2, "normals": 3, "bank": None}, "0.1.0")
    diffs = old.differences(new)
    assert "normals: folder has no such setting (an older version made the folder), this run asks 3" in diffs
    assert "bank: folder has no such setting (an older version made the folder), this run asks (default)" in diffs


def test_claim_locks_until_released(tmp_path):
    record = RunRecord("/d", "agent", 0)
    first = OutputFolder(tmp_path / "out")
    assert first.claim(record) is False
    with pytest.raises(OutputError, match="another anomalyagent run"):
        OutputFolder(tmp_path / "out").claim(record)
    first.release()
    with OutputFolder(tmp_path / "out") as again:
        assert again.claim(record) is True  # a resume
