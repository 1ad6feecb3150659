"""What code produced a benchmark row: package version, a hash of the sources, git commit.

Why: a bench run resumes from its results.json, and a row computed by older code must
not be mixed into a table with rows of the current code. The fingerprint of a row is a
SHA-256 over the source files that can change its number: the transitive closure of
``anomalyagent`` modules imported (at any depth, lazy imports inside functions included)
by the synthesis method's module, the batch pipeline and the evaluation harness, plus
the package data files (knowledge YAML) of every package in that closure. A change to a
module a method never imports (another baseline, the CLI) leaves its rows valid.

The git commit is recorded for people reading results.json; it is not compared (any
commit, even a docs one, would change it).
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import subprocess
from pathlib import Path

from .. import __version__

PACKAGE = "anomalyagent"
DATA_SUFFIXES = (".yaml", ".yml", ".json")
# Modules every row depends on besides its method: synthesis, writing, loading, training, scoring.
HARNESS = ("anomalyagent.pipeline", "anomalyagent.writer", "anomalyagent.eval.bench")
# Packages whose __init__ registers every method: a row depends on its own method's module
# (a root of the closure), not on the other methods registered beside it.
NO_SIDE_EFFECTS = frozenset({"anomalyagent.methods"})


def _module_file(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


Edge = tuple[str, "frozenset[str] | None"]  # (module, names taken from it, or None for the whole module)


def _edges(name: str, path: Path, wanted: frozenset[str] | None) -> tuple[list[Edge], bool]:
    """``anomalyagent`` imports of one file as (module, names) edges, and whether the whole
    file counts (False for an ``__init__`` only re-exporting what is wanted).

    For a package ``__init__`` reached through ``from package import A, B`` (``wanted``),
    the imports that provide A and B are followed, and the submodules it imports for
    their side effects (registration: ``from . import families``) except in
    NO_SIDE_EFFECTS; when A or B is defined in the ``__init__`` itself, all of it counts.
    """
    is_package = path.name == "__init__.py"
    parts = name.split(".") if is_package else name.split(".")[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    if wanted is not None and wanted & _defined(tree):
        wanted = None
    edges: list[Edge] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            edges += [(a.name, None) for a in node.names if a.name.split(".")[0] == PACKAGE and wanted is None]
        elif isinstance(node, ast.ImportFrom):
            module = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else (node.module or "")
            if module.split(".")[0] != PACKAGE:
                continue
            aliases = [a for a in node.names if wanted is None or (a.asname or a.name) in wanted
                       or (name not in NO_SIDE_EFFECTS and _module_file(f"{module}.{a.name}") is not None)]
            if aliases:
                edges.append((module, frozenset(a.name for a in aliases)))
                edges += [(f"{module}.{a.name}", None) for a in aliases]  # "from . import x" imports a module
    return edges, wanted is None


def _defined(tree: ast.Module) -> set[str]:
    """Names a module defines at top level (functions, classes, assignments)."""
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            out |= {t.id for t in targets if isinstance(t, ast.Name)}
    return out


def source_closure(roots: tuple[str, ...]) -> list[Path]:
    """Source files of ``roots`` and of every ``anomalyagent`` module they import, transitively
    (lazy imports inside functions included), plus the data files of the packages whose
    ``__init__`` was followed; sorted, each once."""
    done: set[tuple[str, frozenset[str] | None]] = set()
    files: set[Path] = set()
    todo: list[Edge] = [(r, None) for r in roots]
    while todo:
        name, wanted = todo.pop()
        if (name, wanted) in done:
            continue
        done.add((name, wanted))
        path = _module_file(name)
        if path is None:  # a name imported from a module, not a module itself
            continue
        edges, whole = _edges(name, path, wanted if path.name == "__init__.py" else None)
        if whole:
            files.add(path)
        if path.name == "__init__.py":
            files |= {p for p in path.parent.glob("data/*") if p.suffix in DATA_SUFFIXES}
        todo.extend(edges)
    return sorted(files)


@functools.lru_cache(maxsize=None)
def code_fingerprint(method_module: str) -> str:
    """SHA-256 (16 hex digits) over the sources a row of a method in ``method_module`` depends on."""
    root = _module_file(PACKAGE)
    base = root.parent.parent if root else Path(".")
    digest = hashlib.sha256(__version__.encode())
    for path in source_closure((method_module,) + HARNESS):
        digest.update(str(path.relative_to(base) if path.is_relative_to(base) else path.name).encode())
        digest.update(b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the source tree (with "-dirty" when it has changes), or None outside git."""
    root = _module_file(PACKAGE)
    if root is None:
        return None
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=root.parent,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def code_info(method_module: str) -> dict[str, str | None]:
    """What a results.json row records about the code: version, fingerprint, git commit."""
    return {"version": __version__, "fingerprint": code_fingerprint(method_module), "git": git_commit()}
