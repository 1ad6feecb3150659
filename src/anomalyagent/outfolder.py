"""The output folder of a run: who owns it, who is writing to it, with which parameters.

Why: a synthesize run writes hundreds of files into ``--out``. Three things keep it from
harming data or mixing runs:

- ownership: it writes only into a new or empty folder, or one it wrote before (it
  holds ``anomalyagent-run.json``), and never into a folder that overlaps ``--data``
  (either inside the other), so it cannot overwrite a file it did not write;
- the run record: ``anomalyagent-run.json`` holds the parameters that decide the bytes
  (data, method, seed, method config, package version); a resume with different ones is
  refused, naming each difference;
- a lock: ``.anomalyagent.lock`` is held with ``fcntl.flock`` for the whole run, so a
  second process on the same folder refuses at once instead of interleaving manifests.
"""
from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .images import atomic_write_bytes

RUN_RECORD = "anomalyagent-run.json"
LOCK = ".anomalyagent.lock"
LEGACY_MARKER = "manifest.jsonl"  # folders written before run records existed


class OutputError(ValueError):
    """The output folder cannot be used; the message names it and says why."""


@dataclass
class RunRecord:
    """The parameters that decide a run's bytes (``--n`` and ``--defects`` may grow on resume)."""

    data: str
    method: str
    seed: int
    config: dict[str, Any] = field(default_factory=dict)
    version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        return {"data": self.data, "method": self.method, "seed": self.seed, "config": self.config,
                "version": self.version}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunRecord":
        return cls(str(data["data"]), str(data["method"]), int(data["seed"]), dict(data.get("config", {})),
                   str(data.get("version", "")))

    def differences(self, other: "RunRecord") -> list[str]:
        """'--seed: folder has 1, this run asks 2'-style sentences (empty when they match)."""
        out = []
        for name in ("data", "method", "seed", "version"):
            a, b = getattr(self, name), getattr(other, name)
            if a != b:
                out.append(f"{'package version' if name == 'version' else '--' + name}: folder has {a!r}, this run asks {b!r}")
        for key in sorted(set(self.config) | set(other.config)):
            a, b = self.config.get(key, _ABSENT), other.config.get(key, _ABSENT)
            if a != b:
                out.append(f"{key}: folder has {_shown(a)}, this run asks {_shown(b)}")
        return out


_ABSENT = object()  # a config key the record does not hold (written by a version without that option)


def _shown(value: Any) -> str:
    if value is _ABSENT:
        return "no such setting (an older version made the folder)"
    return "(default)" if value is None else repr(value)


def _plain_config(config: dict[str, Any]) -> dict[str, Any]:
    """JSON-comparable copy (tuples -> lists) so a record read back equals a fresh one."""
    return json.loads(json.dumps(config, sort_keys=True, default=str))


def check_overlap(data: Path, out: Path) -> None:
    """OutputError when ``out`` and ``data`` are the same folder or one holds the other."""
    d, o = data.expanduser().resolve(), out.expanduser().resolve()
    if d == o or d in o.parents or o in d.parents:
        raise OutputError(f"--out {out} overlaps --data {data} ({'inside' if d in o.parents else 'holds'} it): "
                          "synthetic files could overwrite your images and masks; choose a folder outside the data")


class OutputFolder:
    """Claims ``root`` for one run: checks, locks and records it (a context manager)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._lock_fd: int | None = None

    def claim(self, record: RunRecord) -> bool:
        """Create/verify the folder, take the lock, check or write the run record.

        Returns True when the folder already held this run (a resume).
        """
        root = self.root
        if root.exists() and not root.is_dir():
            raise OutputError(f"--out {root}: is a file, not a folder; choose a folder path")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"--out {root}: cannot create the folder ({exc.strerror or exc})") from None
        if not os.access(root, os.W_OK | os.X_OK):
            raise OutputError(f"--out {root}: folder is not writable")
        self._lock()
        record = RunRecord(record.data, record.method, record.seed, _plain_config(record.config), record.version)
        path = root / RUN_RECORD
        if path.is_file():
            try:
                held = RunRecord.from_dict(json.loads(path.read_text()))
            except (ValueError, KeyError, TypeError) as exc:
                raise OutputError(f"{path}: damaged run record ({exc}); move it away to start over") from None
            diffs = held.differences(record)
            if diffs:
                raise OutputError(f"--out {root} holds another run; resuming would mix them: " + "; ".join(diffs)
                                  + ". Use the same parameters, or another --out.")
            return True
        others = [p.name for p in root.iterdir() if p.name not in (LOCK,)]
        if others and LEGACY_MARKER not in others:
            raise OutputError(f"--out {root}: folder is not empty and was not written by anomalyagent "
                              f"(has {', '.join(sorted(others)[:3])}{', ...' if len(others) > 3 else ''}); "
                              "refusing to write into it. Choose a new or empty folder.")
        atomic_write_bytes(path, (json.dumps(record.to_dict(), indent=1, sort_keys=True) + "\n").encode())
        return bool(others)

    def _lock(self) -> None:
        try:
            fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(f"--out {self.root}: cannot create the lock file ({exc.strerror or exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise OutputError(f"--out {self.root}: another anomalyagent run (pid {holder}) is writing to it; "
                              "wait for it to finish or choose another folder") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "OutputFolder":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
