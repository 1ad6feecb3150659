"""Batch synthesis: tasks -> method -> files, streamed through an executor, resumable.

Determinism: every task carries its own seed (``tasks.task_seed``), so a sample's bytes
do not depend on the executor, the worker count or the order of work.
Streaming: tasks are generated lazily and at most ``window`` are in flight; each result's
manifest line is appended (and fsynced) as it arrives, so the manifest advances during
the run and the main process stays flat in memory whatever ``n`` is.
Resume: a sample is done when its manifest line exists and its files are on disk; files
are written atomically before the line is appended, so a killed run redoes at most the
samples in flight and never duplicates one.
Stopping: the first SIGINT/SIGTERM stops submitting, keeps what finishes within a few
seconds and exits cleanly; a second one aborts at once (``executors.handle_signals``).
Safety: ``--out`` is claimed through ``outfolder.OutputFolder`` (no overlap with the
data, not someone else's folder, one process at a time, same parameters on resume).
"""
from __future__ import annotations

import concurrent.futures.process
import inspect
import logging
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from tqdm import tqdm

from . import __version__
from .data import DataError, index_normals
from .executors import EXECUTORS, handle_signals, stream
from .heap import retain_freed_memory
from .images import ImageError, read_image
from .knowledge import KnowledgeBase
from .methods import METHODS, NormalPool
from .outfolder import OutputFolder, RunRecord, check_overlap
from .records import Task
from .tasks import check_defects, clean_defects, iter_tasks, plan_tasks, split_normals, task_seed  # noqa: F401
from .writer import OutputWriter, safe_name

log = logging.getLogger(__name__)

MAX_BAD_IMAGE_SKIPS = 8  # a task tries this many normal images before giving up
MAX_FAILURES_KEPT = 100  # failure messages kept in the summary (the count is exact)
STOP_GRACE_S = 3.0  # after a stop signal, in-flight samples get this long to finish


class RunError(RuntimeError):
    """The run could not go on (a worker process died); what finished is kept."""


@dataclass
class SynthesisSummary:
    out: Path
    written: int = 0
    skipped_done: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)  # {"task", "error"}, first MAX_FAILURES_KEPT
    failed_count: int = 0
    not_passed: int = 0  # written samples that never passed QE (under failed/ or dropped)
    bad_images: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how defect names resolved, defects left without samples
    seconds: float = 0.0
    interrupted: bool = False


# Worker state: one method instance and pools per process, built once and shared by its
# threads (``--concurrency``: the method must be thread-safe; the agent's is, each episode
# has its own state). A process pool builds it in its initializer; a dask worker builds it
# on first use, keyed by the run's init arguments, so two runs sharing a cluster do not
# share state (only the latest run's is kept).
_STATES: dict[str, dict[str, Any]] = {}
_STATES_LOCK = threading.Lock()


def _worker_state(init_args: tuple, built: Any = None) -> dict[str, Any]:
    """The state for ``init_args``; ``built``: a method instance this process already made."""
    key = repr(init_args)
    with _STATES_LOCK:
        state = _STATES.get(key)
        if state is None:
            import cv2

            cv2.setNumThreads(1)  # parallelism comes from workers; avoid oversubscription
            retain_freed_memory()  # image-sized temporaries reuse mapped pages (heap.py)
            method, method_kwargs, pools, out, keep_failed = init_args
            state = {
                "method": built if built is not None else METHODS.create(method, **method_kwargs),
                "pools": {c: NormalPool([Path(p) for p in ps]) for c, ps in pools.items()},
                "writer": OutputWriter(Path(out)),
                "keep_failed": keep_failed,
            }
            _STATES.clear()
            _STATES[key] = state
    return state


def _init_worker(*init_args: Any) -> None:
    _worker_state(init_args)


def _run_task(task: Task, init_args: tuple | None = None) -> dict[str, Any]:
    """Synthesize and write one sample; return its manifest record or an error record.

    Never raises for a problem of one sample (unreadable images, a method error): the
    batch goes on and the error is reported.
    """
    state = _worker_state(init_args) if init_args is not None else next(iter(_STATES.values()))
    pool: NormalPool = state["pools"][task.category]
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
        try:
            start = time.perf_counter()
            result = state["method"].synthesize(image, task, np.random.default_rng(task.seed), pool)
            seconds = time.perf_counter() - start
            sample = state["writer"].write(task, image, result, seconds, state["method"].name, state["keep_failed"])
        except Exception as exc:  # one sample's failure must not end the batch
            where = traceback.extract_tb(exc.__traceback__)[-1]
            return {"error": f"{task.task_id}: {type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})",
                    "bad": bad, "task": task.task_id}
        return {"sample": sample.to_dict(), "bad": bad}
    return {"error": f"{task.task_id}: no readable normal image", "bad": bad, "task": task.task_id}


@dataclass(frozen=True)
class RemoteTask:
    """A task plus the run's init arguments: what a dask worker needs to build its state."""

    task: Task
    init_args: tuple


def _run_remote(item: RemoteTask) -> dict[str, Any]:
    return _run_task(item.task, item.init_args)


def effective_config(method: str, method_kwargs: dict[str, Any], instance: Any = None) -> dict[str, Any]:
    """The method's constructor defaults overlaid with ``method_kwargs``: what decides its output.

    Recorded in the run record, so the CLI (which passes every option) and an API call
    (which passes none) agree when the values are the same. A method built from a typed
    config (the agent's ``AgentConfig``) records that config, resolved; ``concurrency``
    is left out: it changes speed, not bytes.
    """
    config = getattr(instance, "config", None)
    if config is not None and hasattr(config, "to_dict"):
        resolved = dict(config.to_dict())
        resolved.pop("concurrency", None)
        return resolved
    try:
        params = inspect.signature(METHODS.get(method)).parameters.values()
    except (TypeError, ValueError):
        params = []
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    defaults = {p.name: p.default for p in params if p.kind in kinds and p.default is not inspect.Parameter.empty}
    return {**defaults, **method_kwargs}


def make_executor(name: str, workers: int, init_args: tuple, scheduler: str | None = None, client: Any = None,
                  concurrency: int = 1) -> Any:
    """The executor for ``name`` ("local": inline for one worker, threads for one worker with
    ``concurrency`` > 1, else a process pool; "dask")."""
    if name == "local":
        name = ("threads" if concurrency > 1 else "inline") if workers == 1 else "local"
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; known: local, dask")
    return EXECUTORS.create(name, workers=concurrency if name == "threads" else workers, initializer=_init_worker,
                            initargs=init_args, scheduler=scheduler, client=client)


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
    executor: str = "local",
    scheduler: str | None = None,
    client: Any = None,
    keep_failed: bool = False,
    with_normals: bool = False,
    allow_unknown: bool = False,
    window: int | None = None,
    stop: threading.Event | None = None,
) -> SynthesisSummary:
    """Make ``n`` samples per category of ``data`` into ``out`` (MVTec layout + manifest).

    ``stop``: an event that ends the run cleanly when set (signals set it too).
    ``window``: tasks in flight at once (default: twice the workers).
    ``concurrency``: tasks in flight as threads of one process sharing one method instance
    (for model-server backends that wait on the network; needs ``workers=1``).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"--n must be a whole number of at least 1, got {n}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"--concurrency must be at least 1, got {concurrency}")
    if concurrency > 1 and (workers > 1 or executor != "local"):
        raise ValueError("--concurrency runs episodes as threads of one process: use it with --workers 1 and the local executor")
    summary = SynthesisSummary(out=Path(out))
    defects = clean_defects(defects, summary.notes)
    method_kwargs = dict(method_kwargs or {})
    instance = METHODS.create(method, **method_kwargs)  # fail early: unknown method, bad knowledge file...
    config = getattr(instance, "config", None)  # the agent's AgentConfig (QE options hold ``learned``)
    learned = method_kwargs.get("learned") or (config is not None and config.tools["QE"].options.get("learned"))
    if learned:  # fail before the first sample, not in every one
        from .critic.learned import LearnedUnavailable, default_bank

        try:
            default_bank()
        except (LearnedUnavailable, OSError) as exc:
            raise ValueError(f"--learned: {exc}") from None
    kb = getattr(instance, "kb", None) or KnowledgeBase.default()
    sets = index_normals(data, safe_name(category, "category") if category else None)
    out = Path(out)
    check_overlap(Path(data), out)
    for normal_set in sets:
        summary.notes += check_defects(kb, normal_set.category, defects, allow_unknown)
    if n < len(defects):
        summary.notes.append(f"--n {n} is smaller than the {len(defects)} defect types: "
                             f"{', '.join(defects[n:])} get no sample")
    for note in summary.notes:  # the CLI prints them; API callers find them in the summary
        log.debug("%s", note)
    held_out = {}
    if with_normals:
        split = [split_normals(s, seed) for s in sets]
        sets, held_out = [train for train, _ in split], {t.category: (train, t) for train, t in split}
    record = RunRecord(str(Path(data).expanduser().resolve()), method, seed,
                       {**effective_config(method, method_kwargs, instance), "with_normals": with_normals}, __version__)
    with OutputFolder(out) as folder:
        folder.claim(record)
        writer = OutputWriter(out)
        for name, (train, test) in held_out.items():
            writer.write_normals(name, train.paths, test.paths)
        done = writer.completed()
        pools = {s.category: [str(p) for p in s.paths] for s in sets}
        init_args = (method, method_kwargs, pools, str(out), keep_failed)
        if executor == "local" and workers == 1:
            _worker_state(init_args, built=instance)  # this process runs the tasks: never build (load weights) twice
        _run_all(summary, writer, iter_tasks(sets, defects, n, seed), done, n * len(sets), method, workers,
                 init_args, executor, scheduler, client, window, stop or threading.Event(), progress, concurrency)
    if summary.written == 0 and summary.skipped_done == 0 and not summary.interrupted:
        raise DataError(f"{data}: no sample could be made; "
                        f"{'; '.join(summary.bad_images[:3]) or '; '.join(f['error'] for f in summary.failed[:3])}")
    return summary


def _run_all(summary: SynthesisSummary, writer: OutputWriter, tasks: Iterator[Task], done: set[str], total: int,
             method: str, workers: int, init_args: tuple, executor_name: str, scheduler: str | None, client: Any,
             window: int | None, stop: threading.Event, progress: bool, concurrency: int = 1) -> None:
    """Stream ``tasks`` (minus ``done``) through the executor; append each result as it arrives."""
    def todo() -> Iterator[Any]:
        for task in tasks:
            if task.task_id in done:
                summary.skipped_done += 1
                bar.update(1)
                continue
            yield RemoteTask(task, init_args) if remote else task

    start = time.perf_counter()
    executor = make_executor(executor_name, workers, init_args, scheduler, client, concurrency)
    bar = tqdm(total=total, disable=not progress, unit="sample", desc=f"synthesize ({method})")
    remote = executor.name == "dask"
    if window is None:
        window = 2 * (sum(client_threads(executor)) if remote else max(workers, concurrency))
    try:
        with handle_signals(stop):
            for result in stream(executor, _run_remote if remote else _run_task, todo(), window, stop, STOP_GRACE_S):
                _record(summary, writer, result)
                bar.update(1)
    except concurrent.futures.process.BrokenProcessPool:
        summary.interrupted = True
        raise RunError("a worker process died (killed, or out of memory); every finished sample is kept: "
                       "re-run the same command to resume") from None
    except KeyboardInterrupt:  # a second Ctrl-C: stop now, the workers' unfinished samples are redone on resume
        summary.interrupted = True
        executor.abort()
        raise
    finally:
        summary.interrupted = summary.interrupted or stop.is_set()
        executor.close()
        bar.close()
        writer.finalize()
        summary.seconds = time.perf_counter() - start
    if summary.skipped_done:
        log.info("resumed: %d samples were already done", summary.skipped_done)


def client_threads(executor: Any) -> list[int]:
    """Worker threads of a dask executor's cluster (at least one)."""
    return list(executor.client.nthreads().values()) or [1]


def _record(summary: SynthesisSummary, writer: OutputWriter, result: dict[str, Any]) -> None:
    for message in result["bad"]:
        if message not in summary.bad_images and len(summary.bad_images) < MAX_FAILURES_KEPT:
            summary.bad_images.append(message)
            log.warning("skipped unreadable image: %s", message)
    if "error" in result:
        summary.failed_count += 1
        if len(summary.failed) < MAX_FAILURES_KEPT:
            summary.failed.append({"task": result["task"], "error": result["error"]})
        log.error(result["error"])
        return
    writer.append_manifest(result["sample"])
    summary.written += 1
    summary.not_passed += not result["sample"]["passed"]


def default_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 1)))
