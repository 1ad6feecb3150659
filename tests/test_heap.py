"""heap.retain_freed_memory: repeated image-sized temporaries stop page-faulting."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from anomalyagent.heap import retain_freed_memory

SRC = str(Path(__file__).resolve().parents[1] / "src")
PROBE = """
import resource, sys
import numpy as np
if sys.argv[1] == "retain":
    from anomalyagent.heap import retain_freed_memory
    assert retain_freed_memory()
a = np.ones((256, 256, 10), np.float32)
for _ in range(3):
    (a - 1.0) * 2.0
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    b = (a - 1.0) * 2.0  # two 2.5 MiB temporaries per round
    del b
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", PROBE, mode], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_retained_heap_avoids_page_faults():
    default, retained = faults("default"), faults("retain")
    assert retained * 4 < max(default, 40), (default, retained)


def test_retain_is_safe_to_call_anywhere():
    assert retain_freed_memory() in (True, False)
