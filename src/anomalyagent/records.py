"""Records passed between layers: tasks, defect specs, tool calls, steps, trajectories.

Every record is a dataclass with ``to_dict()`` / ``from_dict()`` that round-trips through
JSON. Images never live in the JSON form: an Observation keeps its image in memory only
(``image`` is skipped by ``to_dict``); writers store images as files and reference them
by relative path in ``image_ref``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Colour relations a defect can have to the surface around it (the knowledge base uses
# the same words): darker/lighter change luminance, the others shift hue.
COLOR_RELATIONS = ("darker", "lighter", "hue", "reddish", "brownish", "mixed")
BLEND_MODES = ("feather", "poisson", "hard")
TEXTURES = ("keep", "smooth", "grainy", "fibrous", "glossy")


def _plain(value: Any) -> Any:
    """JSON-friendly copy: tuples -> lists, numpy scalars -> Python numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class _Record:
    """Mixin: dataclass <-> dict for flat records; nested records override."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
        return cls(**data)


@dataclass
class Task(_Record):
    """One synthesis job: make ``defect_type`` on the normal image at ``image_path``."""

    image_path: str
    category: str
    defect_type: str
    seed: int = 0
    index: int = 0  # position of the sample within its (category, defect) folder

    @property
    def task_id(self) -> str:
        return f"{self.category}/{self.defect_type}/{self.index:03d}"


@dataclass
class DefectSpec(_Record):
    """A planned defect: geometry and appearance, all relative to the image.

    ``center`` is (x, y) as fractions of width and height; ``size`` is the defect's
    longest extent as a fraction of min(H, W); ``angle`` is in degrees counter-clockwise
    from the +x axis; ``aspect`` = length / width (>= 1); ``intensity`` in [0, 1] is the
    strength of the appearance change; ``params`` carries family-specific extras.
    """

    family: str
    defect_type: str = ""
    category: str = ""
    center: tuple[float, float] = (0.5, 0.5)
    size: float = 0.15
    angle: float = 0.0
    aspect: float = 1.0
    intensity: float = 0.6
    color: str = "darker"
    texture: str = "keep"
    blend: str = "feather"
    params: dict[str, Any] = field(default_factory=dict)
    instruction: str = ""

    def __post_init__(self) -> None:
        self.center = (float(self.center[0]), float(self.center[1]))

    def validate(self) -> list[str]:
        """Problems with this spec, as sentences; empty when it is usable."""
        problems = []
        x, y = self.center
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            problems.append(f"center {self.center} must lie in [0, 1] x [0, 1]")
        if not (0.005 <= self.size <= 1.0):
            problems.append(f"size {self.size} must be in [0.005, 1] (fraction of min(H, W))")
        if not (1.0 <= self.aspect <= 60.0):
            problems.append(f"aspect {self.aspect} must be in [1, 60]")
        if not (0.0 <= self.intensity <= 1.0):
            problems.append(f"intensity {self.intensity} must be in [0, 1]")
        if self.color not in COLOR_RELATIONS:
            problems.append(f"color {self.color!r} must be one of {', '.join(COLOR_RELATIONS)}")
        if self.blend not in BLEND_MODES:
            problems.append(f"blend {self.blend!r} must be one of {', '.join(BLEND_MODES)}")
        return problems

    def replace(self, **changes: Any) -> "DefectSpec":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DefectSpec":
        data = dict(data)
        if "center" in data:
            data["center"] = tuple(data["center"])
        return super().from_dict(data)


@dataclass
class ToolCall(_Record):
    """A policy's request to run tool ``name`` with JSON ``arguments``."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = ""


@dataclass
class Observation(_Record):
    """What a tool returns: text for a language model, an optional image, a payload.

    ``image`` is (H, W) or (H, W, 3) uint8 in memory only; ``image_ref`` is a relative
    path once a writer stored it. ``payload`` is structured data for code (scores,
    spec, mask statistics); ``hidden`` is for measurement only and never shown to a
    policy (the renderer's exact alpha, for instance).
    """

    text: str
    error: bool = False
    payload: dict[str, Any] = field(default_factory=dict)
    image: np.ndarray | None = None
    image_ref: str = ""
    hidden: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "error": self.error,
            "payload": _plain(self.payload),
            "image_ref": self.image_ref,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Observation":
        return cls(
            text=data["text"],
            error=bool(data.get("error", False)),
            payload=dict(data.get("payload", {})),
            image_ref=data.get("image_ref", ""),
        )


@dataclass
class Step:
    """One turn: the policy's thought and tool call (or final answer), and what came back."""

    index: int
    thought: str = ""
    call: ToolCall | None = None
    observation: Observation | None = None
    answer: str | None = None  # set on the final step instead of a call
    seconds: float = 0.0
    reply: str = ""  # the raw reply when it could not be parsed (then call and answer are None)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "index": self.index,
            "thought": self.thought,
            "call": self.call.to_dict() if self.call else None,
            "observation": self.observation.to_dict() if self.observation else None,
            "answer": self.answer,
            "seconds": round(self.seconds, 6),
        }
        if self.reply:
            data["reply"] = self.reply
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Step":
        return cls(
            index=int(data["index"]),
            thought=data.get("thought", ""),
            call=ToolCall.from_dict(data["call"]) if data.get("call") else None,
            observation=Observation.from_dict(data["observation"]) if data.get("observation") else None,
            answer=data.get("answer"),
            seconds=float(data.get("seconds", 0.0)),
            reply=str(data.get("reply", "")),
        )


@dataclass
class Trajectory:
    """A whole episode: the task and its steps, plus the outcome."""

    task: Task
    steps: list[Step] = field(default_factory=list)
    passed: bool = False  # the last QE before MG passed and a mask was made
    score: float = 0.0  # last QE score, 0-10
    stop_reason: str = ""  # "finished", "max_turns", "policy_error"

    @property
    def tool_names(self) -> list[str]:
        return [s.call.name for s in self.steps if s.call is not None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task.to_dict(),
            "steps": [s.to_dict() for s in self.steps],
            "passed": self.passed,
            "score": self.score,
            "stop_reason": self.stop_reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Trajectory":
        return cls(
            task=Task.from_dict(data["task"]),
            steps=[Step.from_dict(s) for s in data.get("steps", [])],
            passed=bool(data.get("passed", False)),
            score=float(data.get("score", 0.0)),
            stop_reason=data.get("stop_reason", ""),
        )


@dataclass
class Sample(_Record):
    """One written output: where its files are and how it was judged (a manifest line)."""

    task_id: str
    category: str
    defect_type: str
    source: str  # the normal image it was made from
    image: str  # relative to the output root
    mask: str
    trajectory: str
    seed: int
    passed: bool
    score: float
    turns: int
    seconds: float
    method: str = "agent"
    spec: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    mask_fraction: float = 0.0
    attempts: int = 1  # episodes run (a failed episode is retried with a derived seed)
    mg_iou: float | None = None  # MG mask vs the renderer's exact alpha > 0.5, when known
    on_object: float | None = None  # fraction of the mask inside the foreground estimate
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)  # per tool and "policy": calls, tokens, seconds
