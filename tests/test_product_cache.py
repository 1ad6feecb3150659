"""product/cache.py: the product model's cache key follows the code a build runs, the image
readers included."""
from __future__ import annotations

import os
from pathlib import Path


def test_code_fingerprint_follows_the_source(tmp_path):
    from anomalyagent.product.cache import code_fingerprint

    a, b = tmp_path / "model.py", tmp_path / "parts.py"
    a.write_text("x = 1\n")
    b.write_text("y = 2\n")
    first = code_fingerprint((a, b))
    assert code_fingerprint((a, b)) == first
    a.write_text("x = 2\n")
    code_fingerprint.cache_clear()
    assert code_fingerprint((a, b)) != first
    assert len(code_fingerprint()) == 16  # the package's own files are all readable


def test_code_files_cover_the_image_readers_and_every_product_module():
    from anomalyagent.product import cache as cache_module

    names = {p.resolve().relative_to(Path(cache_module.__file__).resolve().parent.parent).as_posix()
             for p in cache_module.code_files()}
    assert {"images.py", "data.py"} <= names  # they read and index the images a model is built from
    package = Path(cache_module.__file__).resolve().parent
    assert {f"product/{p.name}" for p in package.glob("*.py") if p.name != "__init__.py"} <= names


def _fingerprint_of(src: Path) -> str:
    import subprocess
    import sys

    code = "from anomalyagent.product.cache import code_fingerprint; print(code_fingerprint())"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(src)},
                         capture_output=True, text=True, check=True, timeout=120)
    return out.stdout.strip()


def test_an_edit_to_the_image_reader_changes_the_cache_key(tmp_path):
    """A copy of the package, edited file by file: images.py and data.py change the product
    fingerprint (and so the cache key); a module the build never imports does not."""
    import shutil

    import anomalyagent

    src = tmp_path / "src"
    shutil.copytree(Path(anomalyagent.__file__).resolve().parent, src / "anomalyagent",
                    ignore=shutil.ignore_patterns("__pycache__"))
    before = _fingerprint_of(src)
    with open(src / "anomalyagent" / "report.py", "a") as fh:  # not imported by the build
        fh.write("\n# an edit elsewhere\n")
    assert _fingerprint_of(src) == before
    seen = {before}
    for name in ("images.py", "data.py"):
        with open(src / "anomalyagent" / name, "a") as fh:
            fh.write("\n# an edit\n")
        seen.add(_fingerprint_of(src))
    assert len(seen) == 3
