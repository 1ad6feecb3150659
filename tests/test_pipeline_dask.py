"""``--executor dask``: same bytes as the local pool, resumable (LocalCluster on 127.0.0.1)."""
import json

import pytest

from anomalyagent.pipeline import synthesize
from anomalyagent.writer import MANIFEST

distributed = pytest.importorskip("distributed")


def files(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as c:
        yield c


def test_dask_gives_the_local_pool_bytes_and_resumes(object_tree, tmp_path, cluster):
    local, remote = tmp_path / "local", tmp_path / "dask"
    synthesize(object_tree, local, ["crack", "hole"], 12, seed=5, workers=2, progress=False)
    first = synthesize(object_tree, remote, ["crack", "hole"], 6, seed=5, executor="dask",
                       scheduler=cluster.scheduler_address, progress=False)
    assert first.written == 6
    second = synthesize(object_tree, remote, ["crack", "hole"], 12, seed=5, executor="dask",
                        scheduler=cluster.scheduler_address, progress=False)
    assert second.skipped_done == 6 and second.written == 6
    assert files(remote) == files(local)
    ids = [json.loads(x)["task_id"] for x in (remote / MANIFEST).read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 12


def test_unreachable_scheduler_is_a_clear_error(object_tree, tmp_path):
    with pytest.raises(ValueError, match="cannot reach the dask scheduler"):
        synthesize(object_tree, tmp_path / "o", ["crack"], 2, executor="dask", scheduler="tcp://127.0.0.1:9",
                   progress=False)


def test_dask_run_stops_cleanly_and_resumes(object_tree, tmp_path, cluster):
    import threading
    import time

    out, stop = tmp_path / "dask", threading.Event()

    def watch():
        while not stop.is_set():
            path = out / MANIFEST
            if path.exists() and len(path.read_text().splitlines()) >= 3:
                stop.set()
            time.sleep(0.02)

    threading.Thread(target=watch, daemon=True).start()
    first = synthesize(object_tree, out, ["crack", "hole"], 40, seed=1, executor="dask",
                       scheduler=cluster.scheduler_address, progress=False, stop=stop)
    assert first.interrupted and 3 <= first.written < 40
    second = synthesize(object_tree, out, ["crack", "hole"], 40, seed=1, executor="dask",
                        scheduler=cluster.scheduler_address, progress=False)
    assert second.skipped_done == first.written and second.written == 40 - first.written
    ids = [json.loads(x)["task_id"] for x in (out / MANIFEST).read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 40
