"""Where a product model is cached and when a cached one is still valid.

The key of a cached model hashes everything its masks depend on: the normal images (path,
size, mtime), the build settings, the cache format ``VERSION`` and a fingerprint of the
source code the build runs (``code_files``), so a model cached by older code or from
older images is rebuilt, never reused.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from .segment import WORK_SIDE

VERSION = 1  # bump when the cache format changes (the code fingerprint covers the build code)

# The module whose import closure decides what a build produces (and what a cached model means).
CODE_ROOT = "anomalyagent.product.model"


def code_files() -> tuple[Path, ...]:
    """Source files a built model depends on: this module and every ``anomalyagent`` module
    it imports, transitively (lazy imports included): the product package itself, and
    ``images.py`` / ``data.py``, which read and index the normal images it is built from."""
    from ..eval.fingerprint import source_closure  # the closure walker the bench rows use too

    return tuple(source_closure((CODE_ROOT,)))


@lru_cache(maxsize=None)
def code_fingerprint(files: tuple[Path, ...] | None = None) -> str:
    """Hash of the product model's source code (``code_files()`` by default).

    Part of the cache key, so a model cached by older code is rebuilt, never reused, even
    when nobody remembered to bump VERSION. A file that cannot be read hashes as missing.
    Files are named by their path below the ``anomalyagent`` package (two ``__init__.py``
    files do not collide).
    """
    package = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for path in files if files is not None else code_files():
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError:
            data = b"<missing>"
        resolved = path.resolve()
        name = resolved.relative_to(package).as_posix() if resolved.is_relative_to(package) else path.name
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()[:16]


def cache_key(paths: list[Path], kind: str, max_images: int) -> str:
    """Hash of the build inputs: every image path, size and mtime, the settings, the cache
    format version and the fingerprint of the build code."""
    h = hashlib.sha256(f"v{VERSION}|{code_fingerprint()}|{kind}|{max_images}|{WORK_SIDE}".encode())
    for p in sorted(paths):
        st = p.stat()
        h.update(f"|{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def default_cache_dir() -> Path:
    return Path(os.environ.get("ANOMALYAGENT_CACHE", Path.home() / ".cache" / "anomalyagent")) / "product"


def cache_file(folder: Path, category: str, cache_dir: Path | None) -> Path:
    """In ``cache_dir`` when given, else in the cache folder ($ANOMALYAGENT_CACHE or
    ~/.cache/anomalyagent), named by the category and a hash of the data folder's path:
    never written into the user's data folder, and two datasets with the same category
    name do not share (or overwrite) one cache file."""
    tag = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:10]
    return (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / f"{category}-{tag}.product.npz"
