"""Planning a synthesis run: which defect names are valid, and the (lazy) list of tasks.

Determinism: every task carries its own seed derived from (run seed, category, defect,
index), so a sample's bytes do not depend on the worker count or on the order of work.
Tasks are generated lazily (``iter_tasks``) so that ``--n 2000000`` costs the main
process nothing until a task is actually submitted.
"""
from __future__ import annotations

import difflib
import logging
import zlib
from typing import Iterable, Iterator

import numpy as np

from .data import NormalSet
from .knowledge import KnowledgeBase
from .knowledge.loader import normalize
from .records import Task
from .writer import safe_name

log = logging.getLogger(__name__)

RESERVED_DEFECTS = ("good",)  # MVTec's folder of normal images: a defect there reads as normal
N_CLOSE = 4


def task_seed(seed: int, category: str, defect: str, index: int) -> int:
    """A stable per-task seed (independent of worker count and of Python's hash salt)."""
    key = zlib.crc32(f"{category}\0{defect}".encode())
    return int(np.random.SeedSequence([seed, key, index]).generate_state(1)[0] >> 1)


def clean_defects(defects: Iterable[str], notes: list[str] | None = None) -> list[str]:
    """Validated, de-duplicated defect names in the order given (duplicates noted in ``notes``).

    Refuses ``good``: anomaly-detection tools read ``test/good`` as normal images.
    """
    out: list[str] = []
    for raw in defects:
        name = safe_name(raw, "defect type")
        if normalize(name) in RESERVED_DEFECTS:
            raise ValueError(f"defect type {name!r} is reserved: MVTec's test/{name} holds NORMAL images, "
                             "and detectors would read synthetic defects there as normal")
        if name in out:
            note = f"defect type {name!r} given twice; using it once (--n is still the total per category)"
            if notes is not None and note not in notes:
                notes.append(note)
            log.debug("%s", note)
            continue
        out.append(name)
    if not out:
        raise ValueError("name at least one defect type, e.g. --defects crack,hole")
    return out


def known_names(kb: KnowledgeBase, category: str) -> list[str]:
    """Defect names (and synonyms) of ``category`` first, then every other name in the KB."""
    own = [e for e in kb.entries(category)]
    rest = [e for e in kb.entries() if e.category != (own[0].category if own else None)]
    names: list[str] = []
    for e in own + rest:
        for n in [e.defect] + [normalize(s) for s in e.synonyms]:
            if n not in names:
                names.append(n)
    return names


def check_defects(kb: KnowledgeBase, category: str, defects: list[str], allow_unknown: bool = False) -> list[str]:
    """Notes on how each defect name resolves; ValueError for names the knowledge cannot read.

    A name is known when the knowledge base has it (exactly, as a synonym, or as a
    generic entry of the category's material) or when its words occur in some entry's
    description (then the nearest entry is used and a note says which). A name with no
    word in common with any entry (a typo such as ``crak``, or ``rainbow``) is refused
    with the closest names, unless ``allow_unknown``: then the fallback is noted.
    """
    notes, unknown = [], []
    for defect in defects:
        found = kb.lookup(category, defect)
        if found.match in ("exact", "synonym"):
            continue
        if found.match == "generic" or kb.search(defect, k=1):
            notes.append(f"{category}/{defect}: {found.note}")
            continue
        if allow_unknown:
            notes.append(f"{category}/{defect}: unknown defect type; --allow-unknown falls back to "
                         f"{found.entry.category}/{found.entry.defect} (renderer family {found.entry.family})")
            continue
        close = difflib.get_close_matches(normalize(defect), known_names(kb, category), n=N_CLOSE, cutoff=0.6)
        unknown.append(f"{defect!r}" + (f" (did you mean: {', '.join(close)}?)" if close else ""))
    if unknown:
        raise ValueError(f"unknown defect type(s) for {category}: {'; '.join(unknown)}. "
                         f"Known for {category}: {', '.join(kb.defects(category)) or '(none; see `anomalyagent kb list`)'}. "
                         "Pass --allow-unknown to use the nearest knowledge-base entry anyway.")
    return notes


def counts_per_defect(n: int, defects: list[str]) -> list[int]:
    """``n`` spread evenly over ``defects`` (the first ones get the rest)."""
    return [n // len(defects) + (1 if j < n % len(defects) else 0) for j in range(len(defects))]


def split_normals(normal_set: NormalSet, seed: int, test_fraction: float = 0.2) -> tuple[NormalSet, NormalSet]:
    """(train, test) normal sets: a seeded ``test_fraction`` (at least one image) held out.

    Used by ``--with-normals``: held-out images go to ``test/good`` and are never used
    as sources of synthetic defects, so a detector is not tested on what it trained on.
    """
    paths = normal_set.paths
    if len(paths) < 2:
        raise ValueError(f"{normal_set.category}: --with-normals needs at least 2 normal images, found {len(paths)}")
    k = max(1, int(round(test_fraction * len(paths))))
    order = np.random.default_rng([seed, zlib.crc32(normal_set.category.encode()), 1]).permutation(len(paths))
    held = set(int(i) for i in order[:k])
    train = tuple(p for i, p in enumerate(paths) if i not in held)
    test = tuple(p for i, p in enumerate(paths) if i in held)
    return NormalSet(normal_set.category, train), NormalSet(normal_set.category, test)


def iter_tasks(sets: list[NormalSet], defects: list[str], n: int, seed: int) -> Iterator[Task]:
    """``n`` tasks per category, spread over ``defects``, generated lazily.

    Each (category, defect) walks the normal images in its own seeded shuffled order,
    cycling when it needs more: task ``category/defect/i`` is the same whatever ``n`` and
    the other defects are, so a resume with a larger ``--n`` extends a run exactly.
    """
    for normal_set in sets:
        for defect, count in zip(defects, counts_per_defect(n, defects)):
            order = np.random.default_rng(
                [seed, zlib.crc32(normal_set.category.encode()), zlib.crc32(defect.encode())]).permutation(len(normal_set.paths))
            for i in range(count):
                path = normal_set.paths[order[i % len(order)]]
                yield Task(str(path), normal_set.category, defect, task_seed(seed, normal_set.category, defect, i), i)


def plan_tasks(sets: list[NormalSet], defects: list[str], n: int, seed: int) -> list[Task]:
    """All tasks of ``iter_tasks`` as a list (small runs and tests)."""
    return list(iter_tasks(sets, defects, n, seed))
