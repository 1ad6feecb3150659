"""The synthesis-method contract shared by the agent and the re-run baselines.

A method turns one normal image into one (defect image, mask) pair. The batch pipeline
(``anomalyagent.pipeline``) owns reading, seeding, writing and resuming; a method only
computes. Baselines (DRAEM-style Perlin, CutPaste, NSA) and the agent sit behind the
same interface so ``synthesize --method NAME`` and the evaluation harness treat them
alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..images import read_image
from ..records import DefectSpec, Task, Trajectory
from ..registry import Registry


@dataclass
class MethodResult:
    """image: same shape/dtype as the input; mask: (H, W) bool, True on the defect."""

    image: np.ndarray
    mask: np.ndarray
    passed: bool = True
    score: float = 0.0
    trajectory: Trajectory | None = None
    spec: DefectSpec | None = None
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


class NormalPool:
    """The other normal images of a category: texture and patch sources for baselines."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = list(paths)
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> np.ndarray:
        if index not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[index] = read_image(self.paths[index])
        return self._cache[index]

    def sample(self, rng: np.random.Generator, exclude: str | None = None) -> np.ndarray | None:
        """A random readable normal image other than ``exclude`` (None if there is none)."""
        order = rng.permutation(len(self.paths))
        for i in order:
            if exclude is not None and str(self.paths[i]) == str(exclude):
                continue
            try:
                return self.load(int(i))
            except ValueError:
                continue
        return None


class Method(Protocol):
    name: str

    def synthesize(self, image: np.ndarray, task: Task, rng: np.random.Generator, pool: NormalPool) -> MethodResult: ...


METHODS: Registry[Method] = Registry("synthesis method")
