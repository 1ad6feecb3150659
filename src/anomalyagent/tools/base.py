"""The tool protocol: name, description, JSON-schema arguments, Observation out.

The description and schema are exactly what a multimodal LLM is shown. Schemas are
checked when a tool is constructed (a broken tool fails before any episode). A bad call
from a policy (unknown tool, invalid arguments, a call out of order) becomes an error
Observation the policy can react to; an exception inside our own tool code is raised.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..change import change_mask
from ..knowledge.entry import KnowledgeEntry
from ..records import DefectSpec, Observation, Task, ToolCall
from ..usage import Usage, add_usage

_TYPES = {"string": str, "number": (int, float), "integer": int, "boolean": bool, "array": list, "object": dict}


class CallError(Exception):
    """A policy's call cannot run as asked; the message is shown to the policy."""


MAX_STRING = 4000  # characters of a string argument without its own maxLength


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_schema(schema: dict[str, Any], where: str) -> None:
    """Raise ValueError unless ``schema`` is the JSON-schema subset tools may use.

    Model output is untrusted, so every number (and every number inside an array) must
    declare ``minimum`` and ``maximum``: NaN, inf and absurd magnitudes never reach a tool.
    """
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        raise ValueError(f"{where}: parameters must be an object schema with properties")
    for name, prop in schema["properties"].items():
        if prop.get("type") not in _TYPES:
            raise ValueError(f"{where}: property {name!r} has unsupported type {prop.get('type')!r}")
        if not prop.get("description"):
            raise ValueError(f"{where}: property {name!r} needs a description (the model reads it)")
        numeric = prop if prop["type"] in ("number", "integer") else prop.get("items", {}) if prop["type"] == "array" else {}
        if numeric.get("type", prop["type"]) in ("number", "integer") and not ("minimum" in numeric and "maximum" in numeric):
            raise ValueError(f"{where}: number property {name!r} needs minimum and maximum (model output is untrusted)")
        if prop["type"] == "array" and "maxItems" not in prop:
            raise ValueError(f"{where}: array property {name!r} needs maxItems")
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
            problems.append(f"argument {name!r} must be {prop['type']}, got {_short(value)}")
            continue
        if "enum" in prop and value not in prop["enum"]:
            problems.append(f"argument {name!r} must be one of {prop['enum']}, got {_short(value)}")
        if prop["type"] == "string" and len(value) > prop.get("maxLength", MAX_STRING):
            problems.append(f"argument {name!r} is {len(value)} characters long; at most {prop.get('maxLength', MAX_STRING)}")
        if prop["type"] in ("number", "integer"):
            if not math.isfinite(value):
                problems.append(f"argument {name!r} must be a finite number, got {value!r}")
            elif value < prop["minimum"] or value > prop["maximum"]:
                problems.append(f"argument {name!r}={value} outside [{prop['minimum']}, {prop['maximum']}]")
        if prop["type"] == "array":
            items = prop.get("items", {})
            if "minItems" in prop and len(value) < prop["minItems"] or len(value) > prop["maxItems"]:
                problems.append(f"argument {name!r} must have {prop.get('minItems', 0)}-{prop['maxItems']} items")
            elif items.get("type") == "number" and not all(_is_number(v) for v in value):
                problems.append(f"argument {name!r} must be a list of numbers")
            elif items.get("type") == "number" and not all(math.isfinite(v) for v in value):
                problems.append(f"argument {name!r} items must be finite numbers")
            elif items.get("type") == "number" and any(v < items["minimum"] or v > items["maximum"] for v in value):
                problems.append(f"argument {name!r} items must lie in [{items['minimum']}, {items['maximum']}]")
    return problems


def _short(value: Any) -> str:
    """repr of a value, cut: an error message never echoes a megabyte of model output."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


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
    product: Any = None  # the category's ProductModel (object, parts, normal appearance) or None
    normals: tuple = ()  # other normal images of the category: background plates and donors for structural edits
    normal_masks: tuple = ()  # their object masks ((H, W) bool each, or () to estimate them)
    bank: Any = None  # a local defect bank (bank.DefectBank) for the transplant family, or None
    memo: Any = None  # render.memo.RenderMemo shared by one sample's edits (speed only), or None
    entry: KnowledgeEntry | None = None
    spec: DefectSpec | None = None  # the latest planned/refined spec
    planned: bool = False
    attempts: int = 0
    edited: np.ndarray | None = None
    alpha: np.ndarray | None = None  # renderer's exact soft alpha, for measurement only
    judgement: Any = None  # critic.Judgement of the latest edit
    judged: bool = False  # the latest edit has been judged
    mask: np.ndarray | None = None
    change: tuple | None = None  # (edited, hint, change mask) of the latest edit, see edit_change (speed only)
    best: dict[str, Any] = field(default_factory=dict)  # best attempt so far: score, edited, spec, alpha
    timings: dict[str, float] = field(default_factory=dict)
    usage: dict[str, Usage] = field(default_factory=dict)  # per tool (and "policy"): calls, tokens, seconds


def edit_change(state: EpisodeState) -> np.ndarray:
    """(H, W) bool ``change.change_mask(state.image, state.edited, hint=plan centre)`` of the
    latest edit, computed once per edit: QE's critic and MG both segment the same change
    (1-4 ms each at 256 px). Kept by identity of the edited array, which IG replaces, never
    modifies, for every new edit; treat the result as read-only."""
    hint = state.spec.center if state.spec is not None else None
    kept = state.change
    if kept is not None and kept[0] is state.edited and kept[1] == hint:
        return kept[2]
    mask = change_mask(state.image, state.edited, hint=hint)
    state.change = (state.edited, hint, mask)
    return mask


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
        """Run ``call``; count it in ``state.usage[call.name]`` (calls and seconds) when the tool exists."""
        tool = self.tools.get(call.name)
        if tool is None:
            return Observation(text=f"Error: unknown tool {_short(call.name)}. Available tools: {', '.join(self.tools)}.", error=True)
        problems = validate_arguments(tool.parameters, call.arguments)
        if problems:
            return Observation(text=f"Error: invalid arguments for {call.name}: " + "; ".join(problems) + ".", error=True)
        start = time.perf_counter()
        try:
            return tool.run(call.arguments, state)
        except CallError as exc:
            return Observation(text=f"Error: {exc}", error=True)
        finally:
            add_usage(state.usage, call.name, Usage(calls=1, seconds=time.perf_counter() - start))
