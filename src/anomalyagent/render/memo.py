"""A per-sample memo of what the structural families compute from the scene alone.

Why: within one sample the agent renders the same image several times (refined IG turns,
retried episodes), and much of a structural edit's cost does not depend on the spec: the
registration of each other normal image onto this one (phase correlation), and for a
part that moves as a whole (a misplaced transistor) the whole background plate (lattice
tiles, matching, lighting). Measured on real transistor samples: the 101 displace renders
of 25 samples had 25 distinct plates, at 45 ms CPU each.

Keys are SHA-1 digests of the arrays' bytes (plus shape and dtype), so a hit means the
same inputs and therefore the same bytes out; only results that consume no randomness
are stored (``background_plate`` never stores an inpainted plate, which draws noise).
The memo lives as long as the caller keeps it (one ``AgentMethod.synthesize`` call:
``EpisodeState.memo`` -> ``Scene.memo``) and holds at most ``limit`` entries, the
oldest dropped first; it is not shared between threads. Its ``shared`` memo (optional,
``AgentMethod`` keeps one for a whole run, with a lock: threads share it) holds what
depends on the images alone and recurs across samples: a normal image's registration
weights (render/background.py; one image is drawn as a donor by many samples).
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any, Callable

import numpy as np


def digest(array: np.ndarray | None) -> bytes:
    """20-byte SHA-1 of an array's shape, dtype and bytes (b"" for None)."""
    if array is None:
        return b""
    a = np.ascontiguousarray(array)
    h = hashlib.sha1(f"{a.shape}{a.dtype.str}".encode())
    h.update(memoryview(a).cast("B"))
    return h.digest()


class RenderMemo:
    """Bounded key -> value memo (insertion order, oldest evicted first)."""

    def __init__(self, limit: int = 64, shared: "RenderMemo | None" = None, threadsafe: bool = False) -> None:
        if limit < 1:
            raise ValueError(f"RenderMemo limit must be >= 1, got {limit}")
        self.limit = limit
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.shared = shared  # a longer-lived memo for image-only results (see the module docstring)
        self._lock = threading.Lock() if threadsafe else None
        self._digests: dict[int, tuple[np.ndarray, bytes]] = {}  # id -> (the array, its digest), see digest_of

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: tuple) -> Any:
        """The stored value, or None."""
        if self._lock is not None:
            with self._lock:
                return self._get(key)
        return self._get(key)

    def _get(self, key: tuple) -> Any:
        value = self._items.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, key: tuple, value: Any) -> None:
        if self._lock is not None:
            with self._lock:
                return self._put(key, value)
        return self._put(key, value)

    def _put(self, key: tuple, value: Any) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def digest_of(self, array: np.ndarray | None) -> bytes:
        """``digest(array)``, computed once per array object while this memo lives: a sample's
        image, object mask and normal images are the same objects in every edit (and nobody
        writes to them), and hashing them was ~1 ms a structural edit. The memo keeps a
        reference to each array it hashed, so an id is never reused for another array."""
        if array is None:
            return b""
        kept = self._digests.get(id(array))
        if kept is not None and kept[0] is array:
            return kept[1]
        if len(self._digests) >= 4 * self.limit:
            self._digests.clear()
        value = digest(array)
        self._digests[id(array)] = (array, value)
        return value

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_lock"] = state["_lock"] is not None  # a lock does not pickle: a fresh one on loading
        state["_digests"] = {}  # ids mean nothing in another process
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock() if state["_lock"] else None

    def get_or_make(self, key: tuple, make: Callable[[], Any]) -> Any:
        """``make()`` once per key (a None result is not stored; two threads may both make
        a missing value, which is the same value)."""
        value = self.get(key)
        if value is None:
            value = make()
            if value is not None:
                self.put(key, value)
        return value
