"""Batch synthesis: tasks -> method -> files, with workers, determinism and resume.

Determinism: every task carries its own seed derived from (run seed, category, defect,
index), so a sample's bytes do not depend on the worker count or on the order of work.
Resume: a sample is done when its manifest line exists and its files are on disk; files
are written atomically before the line is appended, so a killed run redoes at most the
samples in flight and never duplicates one.
"""
from __future__ import annotations

import logging
import os
import time
import zlib
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from tqdm import tqdm

from .data import DataError, NormalSet, index_normals
from .images import ImageError, read_image
from .methods import METHODS, NormalPool
from .records import Task
from .writer import OutputWriter, safe_name

log = logging.getLogger(__name__)

MAX_BAD_IMAGE_SKIPS = 8  # a task tries this many normal images before giving up


@dataclass
class SynthesisSummary:
    out: Path
    written: int = 0
    skipped_done: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)  # {"task", "error"}
    bad_images: list[str] = field(default_factory=list)
    seconds: float = 0.0


def task_seed(seed: int, category: str, defect: str, index: int) -> int:
    """A stable per-task seed (independent of worker count and of Python's hash salt)."""
    key = zlib.crc32(f"{category}\0{defect}".encode())
    return int(np.random.SeedSequence([seed, key, index]).generate_state(1)[0] >> 1)


def plan_tasks(sets: list[NormalSet], defects: list[str], n: int, seed: int) -> list[Task]:
    """``n`` tasks per category, spread evenly over ``defects`` (the first ones get the rest).

    Normal images are used in a seeded shuffled order, cycling when n exceeds their count.
    """
    tasks = []
    for normal_set in sets:
        order = np.random.default_rng([seed, zlib.crc32(normal_set.category.encode())]).permutation(len(normal_set.paths))
        k = 0
        for j, defect in enumerate(defects):
            count = n // len(defects) + (1 if j < n % len(defects) else 0)
            for i in range(count):
                path = normal_set.paths[order[k % len(order)]]
                k += 1
                tasks.append(Task(str(path), normal_set.category, defect, task_seed(seed, normal_set.category, defect, i), i))
    return tasks


# Worker-process state: one method instance and pools per process (built once).
_WORKER: dict[str, Any] = {}


def _init_worker(method: str, method_kwargs: dict[str, Any], pools: dict[str, list[str]], out: str,
                 built: Any = None) -> None:
    import cv2

    cv2.setNumThreads(1)  # parallelism comes from processes; avoid oversubscription
    # ``built``: the instance the main process already made (one worker: never load model weights twice)
    _WORKER["method"] = built if built is not None else METHODS.create(method, **method_kwargs)
    _WORKER["pools"] = {c: NormalPool([Path(p) for p in ps]) for c, ps in pools.items()}
    _WORKER["writer"] = OutputWriter(Path(out))


def _run_task(task: Task) -> dict[str, Any]:
    """Synthesize and write one sample; return its manifest record or an error record."""
    pool: NormalPool = _WORKER["pools"][task.category]
    paths = [str(p) for p in pool.paths]
    start_index = paths.index(task.image_path) if task.image_path in paths else 0
    bad: list[str] = []
    for shift in range(min(MAX_BAD_IMAGE_SKIPS, len(paths))):
        path = paths[(start_index + shift) % len(paths)]
        try:
            image = read_image(path)
        except ImageError as exc:
            bad.append(str(exc))
            continue
        task = Task(path, task.category, task.defect_type, task.seed, task.index)
        start = time.perf_counter()
        try:
            result = _WORKER["method"].synthesize(image, task, np.random.default_rng(task.seed), pool)
        except Exception as exc:  # one failing sample never stops the batch: recorded in summary.failed
            return {"error": f"{task.task_id}: {_WORKER['method'].name} failed on {path}: {type(exc).__name__}: {exc}",
                    "bad": bad, "task": task.task_id}
        seconds = time.perf_counter() - start
        sample = _WORKER["writer"].write(task, image, result, seconds, _WORKER["method"].name)
        return {"sample": sample.to_dict(), "bad": bad}
    return {"error": f"{task.task_id}: no readable normal image", "bad": bad, "task": task.task_id}


def _execute(tasks: list[Task], workers: int, init_args: tuple, concurrency: int = 1) -> Iterator[dict[str, Any]]:
    if workers <= 1 and concurrency > 1:
        # Threads, for policies/tools that wait on a model server: ``concurrency`` episodes in
        # flight, at most 2x that many tasks submitted (bounded memory), results as they finish.
        _init_worker(*init_args)
        queue = iter(tasks)
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            pending = set()
            while True:
                for task in queue:
                    pending.add(pool.submit(_run_task, task))
                    if len(pending) >= 2 * concurrency:
                        break
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
    if workers <= 1:
        _init_worker(*init_args)
        for task in tasks:
            yield _run_task(task)
        return
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=init_args) as pool:
        futures = [pool.submit(_run_task, t) for t in tasks]
        for future in as_completed(futures):
            yield future.result()


def synthesize(
    data: str | Path,
    out: str | Path,
    defects: list[str],
    n: int,
    method: str = "agent",
    seed: int = 0,
    workers: int = 1,
    category: str | None = None,
    progress: bool = True,
    method_kwargs: dict[str, Any] | None = None,
    concurrency: int = 1,
) -> SynthesisSummary:
    """Make ``n`` samples per category of ``data`` into ``out`` (MVTec layout + manifest).

    ``concurrency``: tasks in flight as threads of one process (for model-server backends;
    needs ``workers=1``)."""
    if n < 1:
        raise ValueError(f"--n must be at least 1, got {n}")
    defects = [safe_name(d, "defect type") for d in defects]
    if not defects:
        raise ValueError("name at least one defect type, e.g. --defects crack,hole")
    if not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"--concurrency must be at least 1, got {concurrency}")
    if concurrency > 1 and workers > 1:
        raise ValueError("--concurrency runs episodes as threads of one process: use it with --workers 1")
    built = METHODS.create(method, **(method_kwargs or {}))  # fail early: unknown method, bad knowledge file...
    sets = index_normals(data, safe_name(category, "category") if category else None)
    out = Path(out)
    writer = OutputWriter(out)
    done = writer.completed()
    tasks = plan_tasks(sets, defects, n, seed)
    todo = [t for t in tasks if t.task_id not in done]
    summary = SynthesisSummary(out=out, skipped_done=len(tasks) - len(todo))
    if summary.skipped_done:
        log.info("resuming: %d of %d samples already done", summary.skipped_done, len(tasks))
    pools = {s.category: [str(p) for p in s.paths] for s in sets}
    init_args = (method, method_kwargs or {}, pools, str(out)) + ((built,) if workers <= 1 else ())
    start = time.perf_counter()
    bar = tqdm(total=len(todo), disable=not progress, unit="sample", desc=f"synthesize ({method})")
    for record in _execute(todo, max(1, workers), init_args, concurrency):
        for message in record["bad"]:
            if message not in summary.bad_images:
                summary.bad_images.append(message)
                log.warning("skipped unreadable image: %s", message)
        if "error" in record:
            summary.failed.append({"task": record["task"], "error": record["error"]})
            log.error(record["error"])
        else:
            writer.append_manifest(record["sample"])
            summary.written += 1
        bar.update(1)
    bar.close()
    writer.finalize()
    summary.seconds = time.perf_counter() - start
    if summary.written == 0 and summary.skipped_done == 0:
        raise DataError(f"{data}: no sample could be made; unreadable images: {'; '.join(summary.bad_images[:3])}")
    return summary


def default_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 1)))
