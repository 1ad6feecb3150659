"""Records passed between layers: tasks, defect specs, tool calls, steps, trajectories.

Every record is a dataclass with ``to_dict()`` / ``from_dict()`` that round-trips through
JSON. Images never live in the JSON form: an Observation keeps its image in memory only
(``image`` is skipped by ``to_dict``); writers store images as files and reference them
by relative path in ``image_ref``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np

# Colour relations a defect can have to the surface around it (the knowledge base uses
# the same words): darker/lighter change luminance, the others shift hue.
COLOR_RELATIONS = ("darker", "lighter", "hue", "reddish", "brownish", "mixed")
BLEND_MODES = ("feather", "poisson", "hard")
TEXTURES = ("keep", "smooth", "grainy", "fibrous", "glossy")
ANGLE_LIMIT = 360.0  # degrees; the knowledge base's angle priors lie in [-360, 360] too
PARAM_LIMIT = 1e6  # |value| of a family-specific number in ``params``
MAX_PARAMS = 32
PARAM_DEPTH = 3  # nesting of lists/mappings inside one params value
PARAM_ITEMS = 256  # values (leaves and containers) inside one params value
MAX_TEXT = 4000  # characters of an instruction
MAX_DEPTH = 32  # nesting of JSON written by ``json_safe``


def number_problem(name: str, value: Any, low: float, high: float) -> str | None:
    """Why ``value`` is not a finite real number in [low, high] (None when it is).

    Model output is untrusted: NaN passes every ``low <= x <= high`` test by failing it
    silently elsewhere (NaN compares false), a 5000-digit integer overflows ``float``,
    and a bool is an int to Python. All three are refused here, before any renderer.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        return f"{name} must be a number, got {type(value).__name__}"
    try:
        x = float(value)
    except (OverflowError, ValueError):
        return f"{name} is too large"
    if not math.isfinite(x):
        return f"{name} must be finite, got {x}"
    if not (low <= x <= high):
        return f"{name} {x:g} must be in [{low:g}, {high:g}]"
    return None


def _param_problem(key: Any, value: Any, depth: int = 0, budget: list[int] | None = None) -> str | None:
    """Why ``params[key]`` is unsafe (None when it is fine).

    Leaves must be finite numbers within PARAM_LIMIT, short text, true/false or null;
    lists and mappings may nest PARAM_DEPTH deep with PARAM_ITEMS values in all (a
    family may take a list of instances, each a small mapping).
    """
    budget = [PARAM_ITEMS] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        return f"params.{key} holds more than {PARAM_ITEMS} values"
    if not isinstance(key, str) or not (0 < len(key) <= 64):
        return f"params key {str(key)[:40]!r} must be a short string"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return None if len(value) <= 64 else f"params.{key} text is longer than 64 characters"
    if isinstance(value, (list, tuple, dict)):
        if depth >= PARAM_DEPTH:
            return f"params.{key} is nested deeper than {PARAM_DEPTH} levels"
        items = value.items() if isinstance(value, dict) else ((key, v) for v in value)
        for sub, item in items:
            problem = _param_problem(sub if isinstance(value, dict) else key, item, depth + 1, budget)
            if problem:
                return problem
        return None
    if isinstance(value, Real):
        return number_problem(f"params.{key}", value, -PARAM_LIMIT, PARAM_LIMIT)
    return f"params.{key} must be a number, text, true/false, a list or a mapping, got {type(value).__name__}"


def json_safe(value: Any, depth: int = 0) -> Any:
    """A JSON-writable copy: non-finite floats -> None, numpy -> Python, bounded nesting.

    Writers pass every record through this (with ``allow_nan=False``) so no NaN or
    Infinity, which JSON does not define, ever lands in a trajectory or manifest.
    """
    if depth > MAX_DEPTH:
        raise ValueError(f"record nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, depth + 1) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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
        # Best effort only: a malformed centre stays as given and ``validate`` names it
        # (raising here would turn a model's bad tool call into a crash of our code).
        try:
            if len(self.center) == 2 and not any(isinstance(c, (bool, str)) for c in self.center):
                self.center = (float(self.center[0]), float(self.center[1]))
        except (TypeError, ValueError, OverflowError):
            pass

    def validate(self) -> list[str]:
        """Problems with this spec, as sentences; empty when it is usable.

        Every number must be a finite real within its range (NaN, infinities, bools,
        text and integers too large for a float are refused), every word one of the
        known choices, ``params`` small and flat: nothing else reaches a renderer.
        """
        problems = []
        center = self.center
        if not (isinstance(center, (tuple, list)) and len(center) == 2):
            problems.append(f"center must be [x, y] fractions, got {str(center)[:40]}")
        else:
            for axis, value in zip("xy", center):
                p = number_problem(f"center {axis}", value, 0.0, 1.0)
                if p:
                    problems.append(p + " (fraction of the image)")
        for name, low, high, unit in (("size", 0.005, 1.0, " (fraction of min(H, W))"), ("aspect", 1.0, 60.0, ""),
                                      ("intensity", 0.0, 1.0, ""), ("angle", -ANGLE_LIMIT, ANGLE_LIMIT, " (degrees)")):
            p = number_problem(name, getattr(self, name), low, high)
            if p:
                problems.append(p + unit)
        for name, choices in (("color", COLOR_RELATIONS), ("blend", BLEND_MODES), ("texture", TEXTURES)):
            value = getattr(self, name)
            if not isinstance(value, str) or value not in choices:
                problems.append(f"{name} {str(value)[:40]!r} must be one of {', '.join(choices)}")
        for name in ("family", "defect_type", "category"):
            if not isinstance(getattr(self, name), str) or len(getattr(self, name)) > 64:
                problems.append(f"{name} must be a short text")
        if not isinstance(self.instruction, str) or len(self.instruction) > MAX_TEXT:
            problems.append(f"instruction must be text of at most {MAX_TEXT} characters")
        if not isinstance(self.params, dict):
            problems.append(f"params must be a mapping, got {type(self.params).__name__}")
        elif len(self.params) > MAX_PARAMS:
            problems.append(f"params has {len(self.params)} keys (at most {MAX_PARAMS})")
        else:
            problems += [p for k, v in self.params.items() if (p := _param_problem(k, v))]
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
    kept: str = "test"  # "test" (passed), "failed" (under failed/, --keep-failed) or "dropped" (no image files)
