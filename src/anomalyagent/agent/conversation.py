"""What a policy sees each turn (``Conversation``) and what it returns (``Reply``).

A policy reads ``conversation.messages`` (system prompt with the tool schemas, the task
with its image, every assistant turn and every observation with its images, rendered by
``chat.to_messages``, the same function exporters use) and ``conversation.images`` (the
pixels behind each image name), and returns one assistant message. Code policies may
also read the structured ``steps`` (the same facts, unrendered); their text still goes
through ``parse_action`` like a model's.

Policies are built once per worker and may serve several episodes at once (threads), so
per-episode state lives in ``conversation.memory``, not on the policy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..records import Step, Task, Trajectory
from ..usage import Usage
from .chat import NORMAL_IMAGE, to_messages


@dataclass
class Reply:
    """One assistant message. ``usage``: tokens the backend reported (calls/seconds are counted by the loop)."""

    text: str
    usage: Usage | None = None


@dataclass
class Conversation:
    """The live episode as seen by the policy."""

    trajectory: Trajectory
    tool_schemas: list[dict[str, Any]]
    max_turns: int
    images: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (H, W[, 3]) uint8
    memory: dict[str, Any] = field(default_factory=dict)  # the policy's per-episode scratch space
    # The product model's masks for the normal image ({"object": (H, W) bool, "lead": ...};
    # {} without a product model): what a policy may read of where the parts are. Read-only.
    regions: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> Task:
        return self.trajectory.task

    @property
    def steps(self) -> list[Step]:
        return self.trajectory.steps

    @property
    def normal(self) -> np.ndarray:
        return self.images[NORMAL_IMAGE]

    @property
    def turns_left(self) -> int:
        """Turns left including the current one."""
        return self.max_turns - len(self.trajectory.steps)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Chat messages so far; image blocks name keys of ``images``."""
        return to_messages(self.trajectory, self.tool_schemas, max_turns=self.max_turns)
