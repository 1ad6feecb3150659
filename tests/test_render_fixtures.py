"""The renderer tests' seeded fixtures (now in anomalyagent.synthetic) and their own check.

``object_rgb``: a warm-brown striped ellipse (a nut-like part) on dark cloth, with
sensor grain; ``texture_gray``: a grey surface with vertical streaks and grain (a
ground tile). Both are generated at any size from a fixed seed.
"""
from __future__ import annotations

import numpy as np

from anomalyagent.synthetic import TYPICAL, object_rgb, spec_for, texture_gray  # noqa: F401  (re-exported for tests)


def test_fixtures_are_seeded_and_sized():
    assert np.array_equal(object_rgb(64), object_rgb(64))
    assert object_rgb(48).shape == (48, 48, 3)
    assert texture_gray(48, width=80).shape == (48, 80)
