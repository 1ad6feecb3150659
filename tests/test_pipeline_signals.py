"""Stopping a run: Ctrl-C/SIGTERM stop cleanly, SIGKILL leaves no orphans, resume redoes nothing
done; tasks stream lazily (issue 13, items 3 and 6)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from anomalyagent.pipeline import synthesize
from anomalyagent.writer import MANIFEST

CMD = [sys.executable, "-m", "anomalyagent.cli"]


def manifest_ids(out: Path) -> list[str]:
    path = out / MANIFEST
    if not path.exists():
        return []
    return [json.loads(x)["task_id"] for x in path.read_text().splitlines() if x.strip()]


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_run(data: Path, out: Path, n: int) -> tuple[subprocess.Popen, list[int]]:
    args = ["synthesize", "--data", str(data), "--defects", "crack,hole", "--n", str(n), "--workers", "2",
            "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(CMD + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 90
    while time.time() < deadline and len(manifest_ids(out)) < 4:
        time.sleep(0.02)
    assert len(manifest_ids(out)) >= 4, "the run never started writing"
    return proc, children(proc.pid)


def finish(data: Path, out: Path, n: int) -> subprocess.CompletedProcess:
    args = ["synthesize", "--data", str(data), "--defects", "crack,hole", "--n", str(n), "--workers", "2",
            "--out", str(out), "--no-progress"]
    return subprocess.run(CMD + args, capture_output=True, text=True, timeout=300)


def written_files(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.glob("hazelnut/test/*/*.png")}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_within_5s_keeping_everything_written(object_tree, tmp_path, signum):
    out, n = tmp_path / "out", 160
    proc, workers = start_run(object_tree, out, n)
    assert len(workers) >= 2
    sent = time.monotonic()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    took = time.monotonic() - sent
    assert took < 5.0, f"took {took:.1f} s to stop"
    assert proc.returncode == 130 and "Traceback" not in err and "resume" in err
    assert not any(alive(p) for p in workers), "workers outlived the main process"
    ids = manifest_ids(out)
    assert 0 < len(ids) < n and len(ids) == len(set(ids))
    recorded = {json.loads(x)["image"] for x in (out / MANIFEST).read_text().splitlines()}
    assert written_files(out) - recorded == set(), "a finished sample lost its manifest line"
    done = finish(object_tree, out, n)
    assert done.returncode == 0 and f"({len(ids)} already done)" in done.stdout
    final = manifest_ids(out)
    assert len(final) == len(set(final)) == n


def test_sigkill_leaves_no_orphan_workers_and_resume_completes(object_tree, tmp_path):
    out, n = tmp_path / "out", 160
    proc, workers = start_run(object_tree, out, n)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(p) for p in workers):
        time.sleep(0.05)
    assert not any(alive(p) for p in workers), "orphan workers after SIGKILL"
    before = len(manifest_ids(out))
    done = finish(object_tree, out, n)
    assert done.returncode == 0 and f"({before} already done)" in done.stdout
    final = manifest_ids(out)
    assert len(final) == len(set(final)) == n


def test_huge_n_streams_lazily_and_the_manifest_advances(object_tree, tmp_path):
    """n = 2,000,000 would take minutes and gigabytes to plan up front; streamed it starts at once."""
    out, stop = tmp_path / "out", threading.Event()
    seen = []

    def watch():
        while not stop.is_set():
            seen.append(len(manifest_ids(out)))
            if seen[-1] >= 6:
                stop.set()
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start = time.monotonic()
    summary = synthesize(object_tree, out, ["crack", "hole"], 2_000_000, workers=2, progress=False, stop=stop)
    watcher.join(5)
    assert summary.interrupted and time.monotonic() - start < 60
    assert max(seen) >= 6, "the manifest only appeared at the end"
    assert summary.written == len(manifest_ids(out)) >= 6


class _Dies:
    """A method whose worker process dies on the third sample (as if killed by the OOM killer)."""

    name = "dies"

    def __init__(self, **_):
        self.count = 0

    def synthesize(self, image, task, rng, pool):
        from anomalyagent.methods.base import MethodResult

        if task.index == 2:
            os._exit(9)
        mask = image[..., 0] > 250 if image.ndim == 3 else image > 250
        mask[0, 0] = True
        return MethodResult(image.copy(), mask, True, 7.0)


def test_a_dead_worker_is_a_clear_error_and_keeps_what_finished(object_tree, tmp_path):
    from anomalyagent.methods import METHODS
    from anomalyagent.pipeline import RunError

    if "dies" not in METHODS:
        METHODS.register("dies")(_Dies)
    out = tmp_path / "out"
    with pytest.raises(RunError, match="worker process died"):
        synthesize(object_tree, out, ["crack"], 6, method="dies", workers=2, progress=False, allow_unknown=True)
    ids = manifest_ids(out)
    assert len(ids) == len(set(ids)) and "hazelnut/crack/002" not in ids


def test_second_ctrl_c_stops_at_once_without_a_traceback(object_tree, tmp_path):
    out, n = tmp_path / "out", 160
    proc, workers = start_run(object_tree, out, n)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 5.0
    assert proc.returncode == 130 and "Traceback" not in err, err[-3000:]
    assert not any(alive(p) for p in workers)
    ids = manifest_ids(out)
    assert len(ids) == len(set(ids))
    done = finish(object_tree, out, n)
    assert done.returncode == 0 and len(set(manifest_ids(out))) == n
