"""What ``ProductModel.locate`` remembers between calls: the masks of images it has seen.

Why: a synthesis run draws its samples from the category's normal images, a few dozen to
a few hundred of them, so the same image comes back many times (n = 200 samples over
40 training images: five times each), and locating it again costs 15-20 ms of a
sample's ~50 ms budget. Keys are a 16-byte BLAKE2b digest of the image's bytes and
shape, so a hit means the same pixels and therefore the same masks.

Two tiers, both least-recently-used: the last ``recent`` results as they were returned
(an agent retries episodes on the same image: no copy at all), and older ones packed
(bool masks as bits, label maps in the smallest integer type that holds them, about a
sixth of the bytes), up to ``budget`` bytes in all, unpacked into fresh arrays on a hit
(about 0.1 ms at 256 x 256). Threads may share one (``--concurrency`` threads share the
product model): every call holds the memo's lock, which is not pickled (a copy sent to a
worker process gets its own).
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

Located = tuple[np.ndarray, dict[str, np.ndarray]]

RECENT = 8
BUDGET = 32 << 20  # bytes of packed masks kept per model (about 300 transistor images at 256 px)


def image_key(image: np.ndarray) -> bytes:
    """16-byte BLAKE2b digest of ``image``'s bytes and shape (dtype: always uint8 here)."""
    h = hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16)
    h.update(str(image.shape).encode())
    return h.digest()


def pack(located: Located) -> tuple[dict[str, tuple], int]:
    """(packed parts, bytes held): bool (H, W) masks as packed bits, integer maps narrowed."""
    obj, parts = located
    out: dict[str, tuple] = {}
    size = 0
    for name, mask in parts.items():
        if mask.dtype == bool:
            data = np.packbits(mask, axis=None)
        else:
            lo, hi = (int(mask.min()), int(mask.max())) if mask.size else (0, 0)
            small = next((t for t in (np.uint8, np.uint16) if lo >= 0 and hi <= np.iinfo(t).max), mask.dtype)
            data = mask.astype(small)
        out[name] = (data, mask.shape, mask.dtype)
        size += data.nbytes
    out["\0object_is_part"] = (obj is parts.get("object"),)
    if not out["\0object_is_part"][0]:
        out["\0object"] = (np.packbits(obj, axis=None), obj.shape, obj.dtype)
        size += out["\0object"][0].nbytes
    return out, size


def unpack(packed: dict[str, tuple]) -> Located:
    """The (object, parts) that ``pack`` packed, as fresh arrays with the same values and dtypes."""

    def one(data: np.ndarray, shape: tuple, dtype: np.dtype) -> np.ndarray:
        if dtype == bool:
            return np.unpackbits(data, count=int(np.prod(shape))).reshape(shape).view(bool)
        return data.astype(dtype)

    parts = {name: one(*value) for name, value in packed.items() if not name.startswith("\0")}
    for mask in parts.values():  # handed out to later samples: never written (as locate's own)
        mask.flags.writeable = False
    obj = parts["object"] if packed["\0object_is_part"][0] else one(*packed["\0object"])
    obj.flags.writeable = False
    return obj, parts


class LocateMemo:
    """image digest -> located masks; ``get`` returns None on a miss. Callers must treat
    returned arrays as read-only (the recent tier hands out the stored arrays)."""

    def __init__(self, recent: int = RECENT, budget: int = BUDGET) -> None:
        self.recent_limit, self.budget = max(0, int(recent)), max(0, int(budget))
        self._recent: OrderedDict[bytes, Located] = OrderedDict()
        self._packed: OrderedDict[bytes, tuple[dict[str, tuple], int]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._recent) + len(self._packed)

    def clear(self) -> None:
        with self._lock:
            self._recent.clear()
            self._packed.clear()
            self._bytes = 0

    def get(self, key: bytes) -> Located | None:
        with self._lock:
            return self._get(key)

    def put(self, key: bytes, located: Located) -> None:
        with self._lock:
            if key in self._recent or key in self._packed:
                return
            self._to_recent(key, located)

    def _get(self, key: bytes) -> Located | None:
        if key in self._recent:
            self._recent.move_to_end(key)
            self.hits += 1
            return self._recent[key]
        if key in self._packed:
            packed, size = self._packed.pop(key)
            self._bytes -= size
            self.hits += 1
            found = unpack(packed)
            self._to_recent(key, found)
            return found
        self.misses += 1
        return None

    def _to_recent(self, key: bytes, located: Located) -> None:
        self._recent[key] = located
        while len(self._recent) > self.recent_limit:
            old_key, old = self._recent.popitem(last=False)
            if self.budget <= 0:
                continue
            packed, size = pack(old)
            self._packed[old_key] = (packed, size)
            self._bytes += size
            while self._bytes > self.budget and self._packed:
                _, (_, dropped) = self._packed.popitem(last=False)
                self._bytes -= dropped
