"""Reading and checking knowledge files (package YAML, user YAML/JSON).

A knowledge file is a top-level mapping with optional keys:

- ``categories``: list of Category mappings (name, kind, material, dataset, description, synonyms);
- ``entries``: list of KnowledgeEntry mappings. ``material`` may be left out (the category's
  material is used); ``priors`` only needs what differs from the family defaults;
- ``family_priors``: mapping family -> default priors, deep-merged under every entry's own.

Why merge rather than replace: a user override usually changes one field (a size range,
an intensity) and should not have to restate the whole entry. An entry whose
(category, defect) already exists is patched field by field (``priors`` deep-merged);
a new pair must give every required field. Every problem is reported as a ValueError
that names the file and the entry or field.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

import yaml

from ..records import BLEND_MODES, COLOR_RELATIONS, TEXTURES
from .entry import LOCATIONS, Category, KnowledgeEntry

# Renderer family names (render/families/<name>.py); every entry points at one of them.
FAMILIES = (
    "scratch", "crack", "hole", "dent", "stain", "particle", "discoloration",
    "missing", "cut", "print", "fray", "rust", "fold", "deform",
    "warp", "displace", "split", "transplant",  # structural: move, bend, break or transplant real pixels
)
KINDS = ("object", "texture")
TOP_KEYS = ("categories", "entries", "family_priors")
REQUIRED = ("category", "defect", "family", "formation", "shape", "edges", "color", "texture", "location", "size")
TEXT_FIELDS = ("family", "material", "formation", "shape", "edges", "color", "texture", "location", "appearance")
ENTRY_FIELDS = REQUIRED + ("material", "priors", "synonyms", "appearance")
RANGE_LIMITS = {"aspect": (1.0, 60.0), "intensity": (0.0, 1.0), "count": (1, 50)}
# Angle priors given as words (planning.sample_angle): "any" = uniform; "axis" = along an
# image axis (web and strip materials are filmed along their transport direction).
ANGLE_WORDS = ("any", "axis")

_SEP = re.compile(r"[\s\-_]+")
# libyaml's C loader parses the package data about ten times faster; same safe subset.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_FILE_BYTES = 2_000_000  # a user knowledge file larger than this is refused before parsing
MAX_NODES = 200_000  # YAML/JSON values in one user file


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors/aliases and counts nodes.

    Why: nested aliases ("billion laughs") make a few hundred bytes expand to gigabytes
    once entries are deep-copied into every trajectory. Knowledge files never need them.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._nodes = 0

    def compose_node(self, parent, index):  # noqa: ANN001  (PyYAML's signature)
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "YAML aliases (*name) are not allowed in knowledge files",
                                              event.start_mark)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise yaml.composer.ComposerError(None, None, f"more than {MAX_NODES} values", self.peek_event().start_mark)
        return super().compose_node(parent, index)


def normalize(name: str) -> str:
    """Canonical key of a category or defect name: lowercase, spaces/hyphens -> '_'."""
    return _SEP.sub("_", str(name).strip().lower()).strip("_")


@dataclass
class Documents:
    """Raw records gathered from several files, before entries are built."""

    categories: dict[str, Category] = field(default_factory=dict)
    family_priors: dict[str, dict[str, Any]] = field(default_factory=dict)
    entries: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    sources: dict[tuple[str, str], str] = field(default_factory=dict)


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """A new dict: ``over`` on top of ``base``, nested mappings merged key by key."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_document(path: str | Path, text: str | None = None) -> dict[str, Any]:
    """Parse one YAML or JSON knowledge file into its top-level mapping.

    ``text`` given: trusted package data (fast C loader). Otherwise a user file: at most
    MAX_FILE_BYTES, plain YAML only (no aliases, no ``!!python`` or other tags).
    """
    path = Path(path)
    trusted = text is not None
    try:
        if text is None:
            if path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
                raise ValueError(f"{path}: knowledge file is larger than {MAX_FILE_BYTES // 1_000_000} MB")
            text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = yaml.load(text, Loader=_YAML_LOADER if trusted else _NoAliasLoader)
    except FileNotFoundError:
        raise ValueError(f"{path}: knowledge file not found") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a folder, not a knowledge file") from None
    except yaml.constructor.ConstructorError as exc:
        raise ValueError(f"{path}: only plain YAML is allowed in knowledge files (no !!python or other tags): "
                         f"{exc.problem}{exc.problem_mark or ''}") from None
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot parse knowledge file: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level must be a mapping with 'categories:' and/or 'entries:', got {type(data).__name__}")
    unknown = set(data) - set(TOP_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown top-level keys {sorted(unknown)}; allowed: {', '.join(TOP_KEYS)}")
    for key in ("categories", "entries"):
        if not isinstance(data.get(key, []), list):
            raise ValueError(f"{path}: '{key}' must be a list")
    if not isinstance(data.get("family_priors", {}), dict):
        raise ValueError(f"{path}: 'family_priors' must be a mapping family -> priors")
    return data


def add_document(docs: Documents, data: dict[str, Any], source: str) -> None:
    """Merge one parsed file into ``docs`` (later files override earlier ones)."""
    for family, priors in data.get("family_priors", {}).items():
        if family not in FAMILIES or not isinstance(priors, dict):
            raise ValueError(f"{source}: family_priors.{family}: unknown family or not a mapping")
        docs.family_priors[family] = deep_merge(docs.family_priors.get(family, {}), priors)
    for i, raw in enumerate(data.get("categories", [])):
        where = f"{source}: categories[{i}]"
        if not isinstance(raw, dict) or "name" not in raw:
            raise ValueError(f"{where}: must be a mapping with at least 'name', 'kind', 'material'")
        try:
            cat = Category.from_dict({**copy.deepcopy(raw), "name": normalize(raw["name"])})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where} ({raw.get('name')}): {exc}") from None
        if cat.kind not in KINDS:
            raise ValueError(f"{where} ({cat.name}): kind {cat.kind!r} must be one of {', '.join(KINDS)}")
        docs.categories[cat.name] = cat
    for i, raw in enumerate(data.get("entries", [])):
        if not isinstance(raw, dict) or "category" not in raw or "defect" not in raw:
            raise ValueError(f"{source}: entries[{i}]: must be a mapping with at least 'category' and 'defect'")
        unknown = set(raw) - set(ENTRY_FIELDS)
        if unknown:
            raise ValueError(f"{source}: entries[{i}] ({raw['category']}/{raw['defect']}): unknown fields {sorted(unknown)}")
        key = (normalize(raw["category"]), normalize(raw["defect"]))
        raw = {**copy.deepcopy(raw), "category": key[0], "defect": key[1]}
        if key in docs.entries:  # patch an existing entry
            raw = deep_merge(docs.entries[key], raw)
        docs.entries[key] = raw
        docs.sources[key] = f"{source}: entries[{i}]"


def build_entries(docs: Documents) -> list[KnowledgeEntry]:
    """KnowledgeEntry records from merged raw mappings; raises naming the file and entry."""
    out = []
    for key, raw in docs.entries.items():
        where = f"{docs.sources[key]} ({key[0]}/{key[1]})"
        missing = [f for f in REQUIRED if f not in raw]
        if missing:
            raise ValueError(f"{where}: missing required fields {missing}")
        cat = docs.categories.get(key[0])
        if cat is None:
            raise ValueError(f"{where}: category {key[0]!r} is not defined (add it under 'categories:')")
        for name in TEXT_FIELDS:
            if name in raw and not isinstance(raw[name], str):
                raise ValueError(f"{where}: field '{name}' must be text, got {type(raw[name]).__name__}")
        size = raw["size"]
        if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, Real) for v in size)):
            raise ValueError(f"{where}: field 'size' must be [min, max] fractions of the shorter side, got {size!r}")
        synonyms = raw.get("synonyms", [])
        if not isinstance(synonyms, list) or not all(isinstance(s, str) for s in synonyms):
            raise ValueError(f"{where}: field 'synonyms' must be a list of strings")
        priors = raw.get("priors", {})
        if not isinstance(priors, dict):
            raise ValueError(f"{where}: field 'priors' must be a mapping")
        priors = deep_merge(docs.family_priors.get(raw["family"], {}), priors)
        priors.setdefault("color", raw["color"])
        entry = KnowledgeEntry.from_dict({**raw, "material": raw.get("material", cat.material),
                                          "priors": priors, "synonyms": list(synonyms)})
        problems = entry_problems(entry)
        if problems:
            raise ValueError(f"{where}: " + "; ".join(problems))
        out.append(entry)
    return out


def _range_problem(name: str, value: Any, limits: tuple[float, float] | None) -> str | None:
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, Real) for v in value)):
        return f"priors.{name} must be [low, high], got {value!r}"
    lo, hi = value
    if lo > hi:
        return f"priors.{name} {list(value)} is not ordered (low > high)"
    if limits and not (limits[0] <= lo and hi <= limits[1]):
        return f"priors.{name} {list(value)} must lie within [{limits[0]}, {limits[1]}]"
    return None


def priors_problems(priors: dict[str, Any]) -> list[str]:
    """Problems with one entry's priors (ranges well ordered and within DefectSpec's limits)."""
    problems = []
    for name, limits in RANGE_LIMITS.items():
        if name in priors:
            p = _range_problem(name, priors[name], limits)
            if p:
                problems.append(p)
    angle = priors.get("angle", "any")
    if angle not in ANGLE_WORDS:
        p = _range_problem("angle", angle, (-360.0, 360.0))
        if p:
            problems.append(p + f" (or one of {', '.join(ANGLE_WORDS)})")
    if priors.get("blend", "feather") not in BLEND_MODES:
        problems.append(f"priors.blend {priors['blend']!r} must be one of {', '.join(BLEND_MODES)}")
    if priors.get("texture", "keep") not in TEXTURES:
        problems.append(f"priors.texture {priors['texture']!r} must be one of {', '.join(TEXTURES)}")
    if priors.get("color", "darker") not in COLOR_RELATIONS:
        problems.append(f"priors.color {priors['color']!r} must be one of {', '.join(COLOR_RELATIONS)}")
    params = priors.get("params", {})
    if not isinstance(params, dict):
        problems.append("priors.params must be a mapping")
    else:
        for key, value in params.items():
            if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, Real) for v in value):
                if value[0] > value[1]:
                    problems.append(f"priors.params.{key} {list(value)} is not ordered (low > high)")
    return problems


def entry_problems(entry: KnowledgeEntry) -> list[str]:
    """Problems with one entry, as sentences; empty when it is usable by PG and the renderers."""
    problems = []
    if entry.family not in FAMILIES:
        problems.append(f"family {entry.family!r} must be one of {', '.join(FAMILIES)}")
    if entry.color not in COLOR_RELATIONS:
        problems.append(f"color {entry.color!r} must be one of {', '.join(COLOR_RELATIONS)}")
    if entry.location not in LOCATIONS:
        problems.append(f"location {entry.location!r} must be one of {', '.join(LOCATIONS)}")
    lo, hi = entry.size
    if not (0.0 < lo <= hi <= 1.0):
        problems.append(f"size {list(entry.size)} must satisfy 0 < min <= max <= 1 (fraction of the shorter side)")
    for name in ("formation", "shape", "edges", "texture", "material"):
        if not getattr(entry, name).strip():
            problems.append(f"{name} is empty")
    problems.extend(priors_problems(entry.priors))
    return problems


class _NoAliasDumper(yaml.SafeDumper):
    """Writes repeated values out in full: knowledge files may not hold YAML aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_knowledge(doc: dict) -> str:
    """YAML text of a knowledge document that ``load`` accepts (no aliases, keys in order)."""
    return yaml.dump(doc, Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True)
