"""Executors stream a lazy task iterator through a bounded window and stop cleanly."""
import itertools
import threading
import time

import pytest

from anomalyagent.executors import EXECUTORS, handle_signals, stream


def square(x):
    return x * x


def slow(x):
    time.sleep(0.05)
    return x


class Counting:
    """An endless iterator that records how many items were pulled."""

    def __init__(self):
        self.pulled = 0

    def __iter__(self):
        for i in itertools.count():
            self.pulled += 1
            yield i


@pytest.mark.parametrize("name, workers", [("inline", 1), ("local", 2)])
def test_window_bounds_what_is_pulled_and_stop_ends_cleanly(name, workers):
    items, stop = Counting(), threading.Event()
    executor = EXECUTORS.create(name, workers=workers)
    got = []
    try:
        for result in stream(executor, slow if name == "local" else square, items, window=4, stop=stop):
            got.append(result)
            if len(got) == 12:
                stop.set()
    finally:
        executor.close()
    assert 12 <= len(got) <= 12 + 4
    assert items.pulled <= len(got) + 4  # never more than the window ahead of the results


def test_results_complete_and_exact():
    executor = EXECUTORS.create("local", workers=2)
    try:
        got = sorted(stream(executor, square, range(50), window=3, stop=threading.Event()))
    finally:
        executor.close()
    assert got == [i * i for i in range(50)]


def test_stop_cancels_what_does_not_finish_within_grace():
    executor = EXECUTORS.create("local", workers=2)
    stop = threading.Event()
    start = time.monotonic()
    got = []
    for result in stream(executor, time.sleep, [0.0, 30.0, 30.0, 30.0], window=4, stop=stop, grace=0.5):
        got.append(result)
        stop.set()
    executor.close()
    assert got == [None] and time.monotonic() - start < 5


def test_first_signal_sets_stop_second_raises():
    import os
    import signal

    stop = threading.Event()
    # What the handlers are restored to: Python's default, unless the test process was
    # started with SIGINT ignored (a background job of a non-interactive shell).
    before = signal.getsignal(signal.SIGINT)
    with handle_signals(stop):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert stop.is_set()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
    assert signal.getsignal(signal.SIGINT) is before


def test_dask_needs_a_scheduler():
    pytest.importorskip("distributed")
    with pytest.raises(ValueError, match="--scheduler"):
        EXECUTORS.create("dask")
