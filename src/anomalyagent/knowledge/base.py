"""The knowledge base behind the KR tool: load, look up, search, describe.

Why a class with an index rather than a dict: lookups happen inside every episode (PG
and KR both ask), so names, synonyms and the BM25 index are built once per knowledge
set, and ``KnowledgeBase.default()`` is cached per process (an lru_cache of the
immutable package load; no other global state). Accessors return copies of the
records, so a caller editing an entry's priors cannot change what others see.
"""
from __future__ import annotations

import copy
import functools
import textwrap
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .bm25 import BM25, tokenize
from .entry import Category, KnowledgeEntry, LookupResult
from .loader import Documents, add_document, build_entries, entry_problems, normalize, read_document

# Package files load in this order (families first: their priors sit under every entry).
PACKAGE_FILES = ("families.yaml", "categories.yaml", "generic.yaml", "mvtec_ad.yaml", "visa.yaml", "magnetic_tile.yaml",
                 "surfaces.yaml")
SAME_CATEGORY_BOOST = 1.5  # a search prefers the asked category's own entries...
SAME_MATERIAL_BOOST = 1.25  # ...then the generic entries of its material
N_ALTERNATIVES = 3


def _doc_text(e: KnowledgeEntry) -> str:
    """What BM25 indexes: names weigh three times, then every descriptive field."""
    names = " ".join([e.defect.replace("_", " ")] + e.synonyms)
    return " ".join([names] * 3 + [e.category.replace("_", " "), e.family, e.material, e.formation,
                                   e.shape, e.edges, e.color, e.texture, e.location, e.appearance])


class KnowledgeBase:
    """Categories and (category, defect) entries with exact, synonym, generic and BM25 lookup."""

    def __init__(self, categories: Iterable[Category], entries: Iterable[KnowledgeEntry]) -> None:
        self._categories = {c.name: c for c in categories}
        self._entries: tuple[KnowledgeEntry, ...] = tuple(entries)
        self._pair: dict[tuple[str, str], int] = {}
        self._synonym: dict[tuple[str, str], int] = {}
        self._by_category: dict[str, list[int]] = {}
        for i, e in enumerate(self._entries):
            self._pair[(e.category, e.defect)] = i
            self._by_category.setdefault(e.category, []).append(i)
        for i, e in enumerate(self._entries):  # synonyms never shadow a real defect name
            for s in [e.defect] + e.synonyms:
                for key in (normalize(s), "_".join(tokenize(s))):
                    if (e.category, key) not in self._pair:
                        self._synonym.setdefault((e.category, key), i)
        self._alias: dict[str, str] = {}
        for c in self._categories.values():
            for s in c.synonyms:
                self._alias.setdefault(normalize(s), c.name)
        for name in self._categories:  # a real name beats another category's synonym
            self._alias[name] = name
        # Words naming a generic material (its name or a synonym) -> that generic category.
        self._material_word: dict[str, str] = {}
        for c in self._categories.values():
            if c.dataset == "generic":
                for s in [c.name, c.material] + c.synonyms:
                    self._material_word.setdefault(normalize(s), c.name)
        self._category_of = np.array([e.category for e in self._entries], dtype=object)
        generic_names = {c.name for c in self._categories.values() if c.dataset == "generic"}
        self._is_generic = np.array([e.category in generic_names for e in self._entries], dtype=bool)
        self._named: dict[str, list[int]] = {}  # normalised defect name or synonym -> entries
        for i, e in enumerate(self._entries):
            names = [e.defect.replace("_", " ")] + e.synonyms
            for key in {normalize(x) for x in names} | {"_".join(tokenize(x)) for x in names}:
                self._named.setdefault(key, []).append(i)
        self._bm25 = BM25([_doc_text(e) for e in self._entries])

    # ------------------------------------------------------------------ loading
    @classmethod
    def default(cls) -> "KnowledgeBase":
        """The package knowledge (loaded once per process)."""
        return _default()

    @classmethod
    def load(cls, extra_files: Sequence[str | Path] = ()) -> "KnowledgeBase":
        """Package knowledge plus user YAML/JSON files that add or patch entries, in order."""
        if not extra_files:
            return _default()
        docs = _package_documents()
        for path in extra_files:
            add_document(docs, read_document(path), str(path))
        return cls(docs.categories.values(), build_entries(docs))

    # ---------------------------------------------------------------- accessors
    def category(self, name: str) -> Category | None:
        """The category called ``name`` (or having it as a synonym); None when unknown."""
        found = self._alias.get(normalize(name))
        return copy.deepcopy(self._categories[found]) if found else None

    def categories(self, dataset: str | None = None) -> list[Category]:
        return [copy.deepcopy(c) for c in self._categories.values() if dataset is None or c.dataset == dataset]

    def entries(self, category: str | None = None) -> list[KnowledgeEntry]:
        if category is None:
            return [copy.deepcopy(e) for e in self._entries]
        name = self._alias.get(normalize(category), normalize(category))
        return [copy.deepcopy(self._entries[i]) for i in self._by_category.get(name, [])]

    def defects(self, category: str) -> list[str]:
        name = self._alias.get(normalize(category), normalize(category))
        return [self._entries[i].defect for i in self._by_category.get(name, [])]

    def search(self, query: str, k: int = 5) -> list[KnowledgeEntry]:
        """The ``k`` entries whose text best matches ``query`` (BM25), best first."""
        return [copy.deepcopy(self._entries[i]) for i, _ in self._bm25.top(query, k)]

    def validate(self) -> list[str]:
        """Every problem in the loaded knowledge, as 'category/defect: problem' sentences."""
        problems = []
        for e in self._entries:
            problems += [f"{e.category}/{e.defect}: {p}" for p in entry_problems(e)]
            if e.category not in self._categories:
                problems.append(f"{e.category}/{e.defect}: category is not defined")
        seen: dict[tuple[str, str], str] = {}
        for e in self._entries:
            for s in e.synonyms:
                key = (e.category, normalize(s))
                if key in seen and seen[key] != e.defect:
                    problems.append(f"{e.category}: synonym {s!r} names both {seen[key]} and {e.defect}")
                seen.setdefault(key, e.defect)
        return problems

    # ------------------------------------------------------------------- lookup
    def lookup(self, category: str, defect: str, material: str | None = None) -> LookupResult:
        """Find the knowledge for (category, defect); never raises for unknown names.

        Order: exact pair -> a synonym of the defect within the category -> the generic
        entry of the category's material (or of ``material``, or of a material word in
        the category name) -> BM25 over all entries, preferring the category's own.
        """
        cat_q, def_q = normalize(category or ""), normalize(defect or "")
        cat = self._alias.get(cat_q)
        if cat in self._by_category:
            i = self._pair.get((cat, def_q))
            if i is not None:
                return self._result(i, "exact", cat, "")
            i = self._find_synonym(cat, defect)
            if i is not None:
                e = self._entries[i]
                return self._result(i, "synonym", cat, f"'{defect}' on {cat} is known as {e.category}/{e.defect}.")
        generic = self._material_for(cat_q, cat, material)
        if generic is not None and generic != cat:
            i = self._pair.get((generic, def_q))
            if i is None:
                i = self._find_synonym(generic, defect)
            if i is not None:
                e = self._entries[i]
                asked = f"'{category}'" + (" (known category)" if cat else "")
                return self._result(i, "generic", cat or generic, (
                    f"No entry for '{defect}' on {asked}; used the generic "
                    f"{self._categories[generic].material} entry {e.category}/{e.defect}."))
        return self._search_result(category, defect, cat, generic)

    def _find_synonym(self, cat: str, defect: str) -> int | None:
        i = self._synonym.get((cat, normalize(defect)))
        return i if i is not None else self._synonym.get((cat, "_".join(tokenize(defect))))

    def _material_for(self, cat_q: str, cat: str | None, material: str | None) -> str | None:
        """The generic material category to fall back on, if any can be named."""
        for word in ([normalize(material)] if material else []):
            if word in self._material_word:
                return self._material_word[word]
        if cat is not None:
            return self._material_word.get(normalize(self._categories[cat].material))
        if cat_q in self._material_word:
            return self._material_word[cat_q]
        for word in cat_q.split("_"):
            if word in self._material_word:
                return self._material_word[word]
        return None

    def _ranked(self, query: str, cat: str | None, generic: str | None) -> np.ndarray:
        """(N,) BM25 scores of ``query``, boosted for the asked category and its material.

        An entry whose defect name or synonym is the query itself is lifted above every
        text-only match, so 'crack' on an unknown part finds crack entries first.
        """
        scores = self._bm25.scores(tokenize(query))
        named = sorted(set(self._named.get(normalize(query), [])) | set(self._named.get("_".join(tokenize(query)), [])))
        if named and scores.any():
            scores[named] += scores.max()
        if cat is None and generic is None:  # nothing known about the part: material-neutral entries first
            scores = np.where(self._is_generic, scores * SAME_MATERIAL_BOOST, scores)
        if cat is not None:
            scores = np.where(self._category_of == cat, scores * SAME_CATEGORY_BOOST, scores)
        if generic is not None:
            scores = np.where(self._category_of == generic, scores * SAME_MATERIAL_BOOST, scores)
        return scores

    def _result(self, i: int, match: str, cat: str | None, note: str) -> LookupResult:
        e = self._entries[i]
        scores = self._ranked(" ".join([e.defect.replace("_", " ")] + e.synonyms), e.category, None)
        scores[i] = -1.0
        order = [j for j in np.argsort(-scores, kind="stable")[:N_ALTERNATIVES] if scores[j] > 0]
        return LookupResult(
            entry=copy.deepcopy(e), match=match, note=note,
            alternatives=[copy.deepcopy(self._entries[j]) for j in order],
            category=copy.deepcopy(self._categories.get(cat or e.category)),
        )

    def _search_result(self, category: str, defect: str, cat: str | None, generic: str | None) -> LookupResult:
        scores = self._ranked(str(defect or ""), cat, generic)
        if not scores.any():  # the defect words match nothing: fall back to the category's words
            scores = self._ranked(" ".join(filter(None, [category, cat, generic])), cat, generic)
        if scores.any():
            order = [int(j) for j in np.argsort(-scores, kind="stable")[: N_ALTERNATIVES + 1] if scores[j] > 0]
        else:  # nothing in common at all: the category's own entries, else the first entries
            pool = self._by_category.get(cat or "", []) or self._by_category.get(generic or "", [])
            order = (pool or list(range(len(self._entries))))[: N_ALTERNATIVES + 1]
        used = ", ".join(f"{self._entries[j].category}/{self._entries[j].defect}" for j in order)
        where = f"category '{category}'" + (" (known)" if cat else " (unknown)")
        note = (f"Asked for '{defect}' on {where}: no entry exists for this pair; "
                f"nearest entries by text search: {used}.")
        best = self._entries[order[0]]
        return LookupResult(
            entry=copy.deepcopy(best), match="search", note=note,
            alternatives=[copy.deepcopy(self._entries[j]) for j in order[1:]],
            category=copy.deepcopy(self._categories.get(cat or generic or best.category)),
        )


@functools.lru_cache(maxsize=1)
def _package_files() -> tuple[tuple[str, dict], ...]:
    """The parsed package files, read once per process (never mutated: add_document copies)."""
    folder = resources.files("anomalyagent.knowledge") / "data"
    return tuple((f"anomalyagent/knowledge/data/{name}",
                  read_document(f"knowledge/data/{name}", (folder / name).read_text(encoding="utf-8")))
                 for name in PACKAGE_FILES)


def _package_documents() -> Documents:
    """Fresh raw records of the package files (a new object each call; callers may extend it)."""
    docs = Documents()
    for source, data in _package_files():
        add_document(docs, data, source)
    return docs


@functools.lru_cache(maxsize=1)
def _default() -> KnowledgeBase:
    docs = _package_documents()
    return KnowledgeBase(docs.categories.values(), build_entries(docs))


def _wrap(label: str, text: str, width: int = 96) -> str:
    return textwrap.fill(str(text), width=width, initial_indent=f"  {label:<11}", subsequent_indent=" " * 13)


def _range(value: object) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"{value[0]:g}-{value[1]:g}" if all(isinstance(v, (int, float)) for v in value) else str(value)
    return str(value)


def format_entry(entry: KnowledgeEntry) -> str:
    """A readable multi-line description (``anomalyagent kb show CATEGORY DEFECT``)."""
    lo, hi = entry.size
    p = entry.priors
    head = [f"{k} {_range(p[k])}" for k in ("aspect", "intensity", "angle", "count") if k in p]
    head += [f"{k} {p[k]}" for k in ("blend", "texture", "color") if k in p]
    params = ", ".join(f"{k} {_range(v)}" for k, v in p.get("params", {}).items())
    lines = [
        f"{entry.category} / {entry.defect}   (renderer family: {entry.family})",
        _wrap("material", entry.material),
        _wrap("formation", entry.formation),
        _wrap("shape", entry.shape),
        _wrap("edges", entry.edges),
        _wrap("colour", f"{entry.color} than the surrounding surface"),
        _wrap("texture", entry.texture),
        _wrap("location", entry.location),
        _wrap("size", f"{lo:.0%}-{hi:.0%} of the image's shorter side"),
    ]
    if entry.appearance:
        lines.append(_wrap("appearance", entry.appearance))
    if entry.synonyms:
        lines.append(_wrap("synonyms", ", ".join(entry.synonyms)))
    lines.append(_wrap("priors", "; ".join(head)))
    if params:
        lines.append(_wrap("params", params))
    return "\n".join(lines)
