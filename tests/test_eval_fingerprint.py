"""Code fingerprints: which sources a bench row depends on, and that edits change it."""
from __future__ import annotations

import sys
from pathlib import Path

from anomalyagent import __version__
from anomalyagent.eval import fingerprint
from anomalyagent.eval.fingerprint import HARNESS, code_info, source_closure


def _names(files: list[Path]) -> set[str]:
    return {str(p).split("anomalyagent/", 1)[1] for p in files}


def test_closure_follows_imports_but_not_sibling_methods():
    perlin = _names(source_closure(("anomalyagent.methods.perlin",) + HARNESS))
    agent = _names(source_closure(("anomalyagent.methods.agent",) + HARNESS))
    assert {"methods/perlin.py", "methods/baseline_ops.py", "methods/base.py", "pipeline.py", "eval/train.py",
            "eval/unet.py", "eval/metrics.py", "data.py"} <= perlin
    assert not {"methods/agent.py", "methods/nsa.py", "methods/cutpaste.py"} & perlin  # siblings do not count
    assert {"methods/agent.py", "config.py", "tools/builtin.py", "render/families/crack.py",
            "knowledge/data/mvtec_ad.yaml", "agent/loop.py"} <= agent  # lazy, re-exported and registered modules
    info = code_info("anomalyagent.methods.perlin")
    assert info["version"] == __version__ and len(info["fingerprint"]) == 16
    assert info["fingerprint"] != code_info("anomalyagent.methods.agent")["fingerprint"]


def test_an_edit_changes_the_fingerprint(tmp_path: Path, monkeypatch):
    pkg = tmp_path / "anomalyagent"
    for rel, text in {"__init__.py": "__version__ = '0'\n", "methods/__init__.py": "from . import m\n",
                      "methods/m.py": "from ..util import f\n", "util.py": "def f():\n    return 1\n",
                      "other.py": "x = 1\n"}.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "anomalyagent" or m.startswith("anomalyagent.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(fingerprint, "HARNESS", ())
    files = source_closure(("anomalyagent.methods.m",))
    assert _names(files) == {"methods/m.py", "util.py"}
    before = fingerprint.code_fingerprint.__wrapped__("anomalyagent.methods.m")
    (pkg / "other.py").write_text("x = 2\n")
    assert fingerprint.code_fingerprint.__wrapped__("anomalyagent.methods.m") == before
    (pkg / "util.py").write_text("def f():\n    return 2\n")
    assert fingerprint.code_fingerprint.__wrapped__("anomalyagent.methods.m") != before
