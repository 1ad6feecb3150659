"""Where samples are computed: inline, a local process pool, or a dask cluster.

Every executor streams: ``stream`` submits at most ``window`` tasks at a time, pulls the
next task from a lazy iterator only when one finishes, and yields results as they
complete, so the main process holds O(window) tasks whatever ``--n`` is, and the caller
can append each result to the manifest at once.

Stopping: ``stream`` watches a ``threading.Event``. Once it is set no new task is
submitted; the tasks in flight get ``grace`` seconds to finish (their results are still
yielded, so nothing written is lost), then the rest are cancelled and the workers
killed. ``handle_signals`` sets that event on the first SIGINT/SIGTERM and raises
KeyboardInterrupt on the second.

Orphans: a local worker watches its parent (``os.getppid()``) and exits when the parent
dies, so a SIGKILLed main process leaves no idle workers behind. Workers ignore SIGINT:
Ctrl-C reaches the whole process group, and only the main process decides what stops.

Executors are picked by registry name (``EXECUTORS.create("local", workers=2)``);
``dask`` imports ``distributed`` lazily (extra ``anomalyagent[dask]``).
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import os
import signal
import threading
import time
from typing import Any, Callable, Iterable, Iterator

from .registry import Registry

log = logging.getLogger(__name__)

PARENT_POLL_S = 0.5  # how often a worker checks that its parent is alive
EXECUTORS: Registry[Any] = Registry("executor")


def _watch_parent(parent: int) -> None:
    """Exit this worker as soon as its parent is gone (re-parented to init or a subreaper)."""
    while True:
        if os.getppid() != parent:
            os._exit(3)
        time.sleep(PARENT_POLL_S)


def _worker_start(parent: int, initializer: Callable[..., None] | None, initargs: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's decision
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()
    if initializer is not None:
        initializer(*initargs)


@EXECUTORS.register("inline")
class InlineExecutor:
    """Runs each task in the calling process when submitted (``--workers 1``)."""

    name = "inline"

    def __init__(self, initializer: Callable[..., None] | None = None, initargs: tuple = (), **_: Any) -> None:
        if initializer is not None:
            initializer(*initargs)

    def submit(self, fn: Callable[[Any], Any], item: Any) -> cf.Future:
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(item))
        except BaseException as exc:  # KeyboardInterrupt too: stream() re-raises it from result()
            future.set_exception(exc)
        return future

    def wait_any(self, futures: set, timeout: float) -> tuple[set, set]:
        return set(futures), set()

    def result(self, future: cf.Future) -> Any:
        return future.result()

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


@EXECUTORS.register("local")
class LocalExecutor:
    """A process pool on this machine; workers build their state once (``initializer``)."""

    name = "local"

    def __init__(self, workers: int = 2, initializer: Callable[..., None] | None = None, initargs: tuple = (),
                 **_: Any) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.aborted = False
        self.pool = cf.ProcessPoolExecutor(max_workers=workers, initializer=_worker_start,
                                           initargs=(os.getpid(), initializer, initargs))

    def submit(self, fn: Callable[[Any], Any], item: Any) -> cf.Future:
        return self.pool.submit(fn, item)

    def wait_any(self, futures: set, timeout: float) -> tuple[set, set]:
        done, pending = cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return done, pending

    def result(self, future: cf.Future) -> Any:
        return future.result()

    def abort(self) -> None:
        """Cancel queued tasks and kill the workers now (their unfinished samples are redone on resume)."""
        self.aborted = True
        # ProcessPoolExecutor has no public terminate before Python 3.14 (terminate_workers);
        # take the worker handles before shutdown() forgets them.
        processes = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            with contextlib.suppress(Exception):
                process.kill()
        for process in processes:
            with contextlib.suppress(Exception):
                process.join(timeout=2)

    def close(self) -> None:
        if not self.aborted:
            self.pool.shutdown(wait=True)


@EXECUTORS.register("threads")
class ThreadExecutor:
    """Threads of this process sharing one worker state (``--concurrency``): for backends
    that wait on a model server, where N episodes in flight overlap their network waits."""

    name = "threads"

    def __init__(self, workers: int = 2, initializer: Callable[..., None] | None = None, initargs: tuple = (),
                 **_: Any) -> None:
        if workers < 1:
            raise ValueError(f"threads must be at least 1, got {workers}")
        if initializer is not None:
            initializer(*initargs)  # once, here: the threads share what it builds
        self.pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="episode")

    def submit(self, fn: Callable[[Any], Any], item: Any) -> cf.Future:
        return self.pool.submit(fn, item)

    def wait_any(self, futures: set, timeout: float) -> tuple[set, set]:
        return cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)

    def result(self, future: cf.Future) -> Any:
        return future.result()

    def abort(self) -> None:
        """Drop queued tasks; running threads finish their sample (threads cannot be killed)."""
        self.pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self.pool.shutdown(wait=True)


@EXECUTORS.register("dask")
class DaskExecutor:
    """Tasks on a dask.distributed cluster at ``scheduler`` (``tcp://host:port``).

    Workers must see ``--data`` and ``--out`` at the same paths (a shared filesystem):
    they read the normal images and write the sample files themselves; only the manifest
    line travels back. Worker state is built on first use in each worker thread.
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, client: Any = None, **_: Any) -> None:
        try:
            import distributed
        except ImportError:
            raise ImportError("--executor dask needs dask.distributed: pip install 'anomalyagent[dask]'") from None
        self._distributed = distributed
        if client is None:
            if not scheduler:
                raise ValueError("--executor dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
            try:
                client = distributed.Client(scheduler, timeout=10, set_as_default=False)
            except OSError as exc:
                raise ValueError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
            self._own = True
        else:
            self._own = False
        self.client = client

    def submit(self, fn: Callable[[Any], Any], item: Any) -> Any:
        return self.client.submit(fn, item, pure=False)

    def wait_any(self, futures: set, timeout: float) -> tuple[set, set]:
        # Polls ``done()``: distributed.wait needs a default client, and ours is not one
        # (set_as_default=False keeps a library call from changing the caller's dask).
        deadline = time.monotonic() + timeout
        while True:
            done = {f for f in futures if f.done()}
            if done or time.monotonic() >= deadline:
                return done, set(futures) - done
            time.sleep(0.01)

    def result(self, future: Any) -> Any:
        return future.result()

    def abort(self) -> None:
        pass  # stream() cancels the pending futures; the cluster itself is not ours to stop

    def cancel(self, futures: Iterable[Any]) -> None:
        with contextlib.suppress(Exception):
            self.client.cancel(list(futures))

    def close(self) -> None:
        if self._own:
            self.client.close()


def stream(executor: Any, fn: Callable[[Any], Any], items: Iterable[Any], window: int,
           stop: threading.Event, grace: float = 3.0) -> Iterator[Any]:
    """Results of ``fn(item)`` as they complete, with at most ``window`` tasks submitted.

    After ``stop`` is set: nothing new is submitted, results arriving within ``grace``
    seconds are still yielded, then the rest are cancelled (``executor.abort``).
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    items = iter(items)
    pending: set = set()
    exhausted = False
    deadline = None
    try:
        while True:
            while not exhausted and not stop.is_set() and len(pending) < window:
                item = next(items, _END)
                if item is _END:
                    exhausted = True
                    break
                pending.add(executor.submit(fn, item))
            if not pending:
                return
            if stop.is_set() and deadline is None:
                deadline = time.monotonic() + grace
                log.warning("stopping: waiting up to %.1f s for %d sample(s) in flight", grace, len(pending))
            timeout = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
            done, pending = executor.wait_any(pending, timeout)
            for future in done:
                yield executor.result(future)
            if deadline is not None and time.monotonic() >= deadline and pending:
                log.warning("stopping: cancelled %d sample(s) still running; a resume redoes them", len(pending))
                return
    finally:
        if pending:
            if hasattr(executor, "cancel"):
                executor.cancel(pending)
            executor.abort()


_END = object()


@contextlib.contextmanager
def handle_signals(stop: threading.Event) -> Iterator[None]:
    """First SIGINT/SIGTERM: set ``stop`` (finish cleanly); second: KeyboardInterrupt.

    Only installs handlers in the main thread (elsewhere it does nothing); restores the
    previous handlers on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        log.warning("%s received: stopping after the samples in flight (again to abort now)",
                    signal.Signals(signum).name)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
