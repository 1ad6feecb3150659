"""The tool protocol: name, description, JSON-schema arguments, Observation out.

The description and schema are exactly what a multimodal LLM is shown. Schemas are
checked when a tool is constructed (a broken tool fails before any episode). A bad call
from a policy (unknown tool, invalid arguments, a call out of order) becomes an error
Observation the policy can react to; an exception inside our own tool code is raised.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..knowledge.entry import KnowledgeEntry
from ..records import DefectSpec, Observation, Task, ToolCall

_TYPES = {"string": str, "number": (int, float), "integer": int, "boolean": bool, "array": list, "object": dict}


class CallError(Exception):
    """A policy's call cannot run as asked; the message is shown to the policy."""


def check_schema(schema: dict[str, Any], where: str) -> None:
    """Raise ValueError unless ``schema`` is the JSON-schema subset tools may use."""
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        raise ValueError(f"{where}: parameters must be an object schema with properties")
    for name, prop in schema["properties"].items():
        if prop.get("type") not in _TYPES:
            raise ValueError(f"{where}: property {name!r} has unsupported type {prop.get('type')!r}")
        if not prop.get("description"):
            raise ValueError(f"{where}: property {name!r} needs a description (the model reads it)")
    for name in schema.get("required", []):
        if name not in schema["properties"]:
            raise ValueError(f"{where}: required {name!r} is not a property")


def validate_arguments(schema: dict[str, Any], arguments: Any) -> list[str]:
    """Problems with ``arguments`` against ``schema`` (types, required, enum, bounds)."""
    if not isinstance(arguments, dict):
        return [f"arguments must be a JSON object, got {type(arguments).__name__}"]
    problems = [f"missing required argument {n!r}" for n in schema.get("required", []) if n not in arguments]
    props = schema["properties"]
    for name, value in arguments.items():
        prop = props.get(name)
        if prop is None:
            problems.append(f"unknown argument {name!r}; allowed: {', '.join(props) or '(none)'}")
            continue
        kind = _TYPES[prop["type"]]
        if isinstance(value, bool) and prop["type"] in ("number", "integer") or not isinstance(value, kind):
            problems.append(f"argument {name!r} must be {prop['type']}, got {value!r}")
            continue
        if "enum" in prop and value not in prop["enum"]:
            problems.append(f"argument {name!r} must be one of {prop['enum']}, got {value!r}")
        if prop["type"] in ("number", "integer"):
            if "minimum" in prop and value < prop["minimum"] or "maximum" in prop and value > prop["maximum"]:
                problems.append(f"argument {name!r}={value} outside [{prop.get('minimum')}, {prop.get('maximum')}]")
        if prop["type"] == "array":
            items = prop.get("items", {})
            if "minItems" in prop and len(value) < prop["minItems"] or "maxItems" in prop and len(value) > prop["maxItems"]:
                problems.append(f"argument {name!r} must have {prop.get('minItems')}-{prop.get('maxItems')} items")
            elif items.get("type") == "number" and not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                problems.append(f"argument {name!r} must be a list of numbers")
            elif items.get("type") == "number" and any(
                ("minimum" in items and v < items["minimum"]) or ("maximum" in items and v > items["maximum"]) for v in value
            ):
                problems.append(f"argument {name!r} items must lie in [{items.get('minimum')}, {items.get('maximum')}]")
    return problems


@dataclass
class EpisodeState:
    """What the tools share during one episode (never shown to the policy directly).

    ``image`` is the ORIGINAL normal image; every IG call edits it, not the last edit.
    """

    task: Task
    image: np.ndarray
    kind: str  # "object" or "texture"
    foreground: np.ndarray  # (H, W) bool
    rng: np.random.Generator
    parts: dict[str, np.ndarray] = field(default_factory=dict)  # product model parts ({} without one)
    entry: KnowledgeEntry | None = None
    spec: DefectSpec | None = None  # the latest planned/refined spec
    planned: bool = False
    kr_calls: int = 0
    attempts: int = 0
    edited: np.ndarray | None = None
    alpha: np.ndarray | None = None  # renderer's exact soft alpha, for measurement only
    judgement: Any = None  # critic.Judgement of the latest edit
    judged: bool = False  # the latest edit has been judged
    mask: np.ndarray | None = None
    best: dict[str, Any] = field(default_factory=dict)  # best attempt so far: score, edited, spec, alpha
    timings: dict[str, float] = field(default_factory=dict)


class Tool:
    """Base class: subclasses set name/description/parameters and implement ``run``."""

    name: str = ""
    description: str = ""
    parameters: dict[str, Any] = {"type": "object", "properties": {}, "required": []}

    def __init__(self) -> None:
        if not self.name or not self.description:
            raise ValueError(f"{type(self).__name__}: a tool needs a name and a description")
        check_schema(self.parameters, f"tool {self.name}")

    def schema(self) -> dict[str, Any]:
        """The OpenAI-style function schema a language model is given."""
        return {"type": "function", "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}

    def run(self, arguments: dict[str, Any], state: EpisodeState) -> Observation:
        raise NotImplementedError


class ToolBox:
    """The tools of one agent, by name; ``execute`` turns bad calls into error observations."""

    def __init__(self, tools: list[Tool]) -> None:
        self.tools = {t.name: t for t in tools}

    def schemas(self) -> list[dict[str, Any]]:
        return [t.schema() for t in self.tools.values()]

    def execute(self, call: ToolCall, state: EpisodeState) -> Observation:
        tool = self.tools.get(call.name)
        if tool is None:
            return Observation(text=f"Error: unknown tool {call.name!r}. Available tools: {', '.join(self.tools)}.", error=True)
        problems = validate_arguments(tool.parameters, call.arguments)
        if problems:
            return Observation(text=f"Error: invalid arguments for {call.name}: " + "; ".join(problems) + ".", error=True)
        try:
            return tool.run(call.arguments, state)
        except CallError as exc:
            return Observation(text=f"Error: {exc}", error=True)
