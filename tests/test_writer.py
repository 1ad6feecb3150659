"""The writer: nothing non-finite in JSON, failed samples out of test/, normals never overwritten."""
import json

import numpy as np
import pytest

from anomalyagent.methods.base import MethodResult
from anomalyagent.records import Observation, Step, Task, ToolCall, Trajectory
from anomalyagent.writer import MANIFEST, OutputWriter


def result(passed=True, score=7.0, **info):
    image = np.full((16, 16, 3), 100, np.uint8)
    mask = np.zeros((16, 16), bool)
    mask[4:8, 4:8] = True
    task = Task("/x.png", "hazelnut", "crack", 1, 0)
    traj = Trajectory(task, [Step(0, "t", ToolCall("IG", {"angle": float("nan")}),
                                  Observation("ok", payload={"score": float("inf")}))])
    return task, image, MethodResult(image, mask, passed, score, traj, None, {"IG": float("nan")}, info)


def test_non_finite_numbers_become_null_never_nan(tmp_path):
    writer = OutputWriter(tmp_path)
    task, image, res = result(score=float("nan"), mg_iou=float("nan"), on_object=float("inf"))
    sample = writer.write(task, image, res, float("nan"), "agent")
    writer.append_manifest(sample.to_dict())
    line = (tmp_path / MANIFEST).read_text()
    assert "NaN" not in line and "Infinity" not in line
    record = json.loads(line)
    assert record["score"] == 0.0 and record["mg_iou"] is None and record["on_object"] is None
    assert record["timings"]["IG"] is None and record["seconds"] == 0.0
    traj = (tmp_path / sample.trajectory).read_text()
    assert "NaN" not in traj and "Infinity" not in traj


def test_not_passed_goes_to_failed_or_is_dropped(tmp_path):
    writer = OutputWriter(tmp_path)
    task, image, res = result(passed=False)
    dropped = writer.write(task, image, res, 0.1, "agent")
    assert dropped.kept == "dropped" and dropped.image == "" and not (tmp_path / "hazelnut").exists()
    kept = writer.write(task, image, res, 0.1, "agent", keep_failed=True)
    assert kept.kept == "failed" and (tmp_path / kept.image).is_file() and kept.image.startswith("failed/hazelnut/crack/")


def test_mask_shape_is_checked(tmp_path):
    task, image, res = result()
    res.mask = np.zeros((8, 8), bool)
    with pytest.raises(RuntimeError, match="mask"):
        OutputWriter(tmp_path).write(task, image, res, 0.1, "agent")


def test_write_normals_copies_and_never_overwrites(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.png", "b.png"):
        (src / name).write_bytes(b"png " + name.encode())
    out = tmp_path / "out"
    (out / "cat/test/good").mkdir(parents=True)
    (out / "cat/test/good/b.png").write_bytes(b"already here")
    added = OutputWriter(out).write_normals("cat", [src / "a.png"], [src / "b.png"])
    assert added == 1 and (out / "cat/train/good/a.png").read_bytes() == b"png a.png"
    assert (out / "cat/test/good/b.png").read_bytes() == b"already here"
    (out / "cat/train/good/a.png").write_bytes(b"edited in the output")  # must not reach the data
    assert (src / "a.png").read_bytes() == b"png a.png"


def test_finalize_sorts_dedups_and_streams(tmp_path):
    import tracemalloc

    writer = OutputWriter(tmp_path)
    task, image, res = result()
    base = writer.write(task, image, res, 0.1, "agent").to_dict()
    lines = []
    for i in reversed(range(5000)):
        lines.append(json.dumps({**base, "task_id": f"hazelnut/crack/{i:05d}", "passed": False, "kept": "dropped"}) + "\n")
    lines.append(lines[0])  # a duplicate
    (tmp_path / MANIFEST).write_text("".join(lines))
    tracemalloc.start()
    writer.finalize()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    ids = [json.loads(x)["task_id"] for x in (tmp_path / MANIFEST).read_text().splitlines()]
    assert ids == sorted(set(ids)) and len(ids) == 5000
    assert peak < 5e6, f"finalize held {peak / 1e6:.0f} MB for a 5,000-line manifest"
    assert "5000 sample(s) never passed QE" in (tmp_path / "report.html").read_text()


def test_an_empty_mask_never_lands_in_test(tmp_path):
    task, image, res = result(passed=True)
    res.mask = np.zeros((16, 16), bool)  # e.g. a baseline that changed nothing
    sample = OutputWriter(tmp_path).write(task, image, res, 0.1, "perlin")
    assert not sample.passed and sample.kept == "dropped" and not (tmp_path / "hazelnut").exists()
