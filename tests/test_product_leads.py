"""product/leads.py: following a thin part past its tip, and back to the body over a gap."""
from __future__ import annotations

import numpy as np

from anomalyagent.product.leads import attach_roots, extend_thin_parts
from anomalyagent.product.parts import split_parts


def lead_scene(gap: int) -> dict[str, np.ndarray]:
    obj = np.zeros((128, 128), bool)
    obj[20:60, 40:90] = True  # body
    obj[60 + gap:95, 62:69] = True  # a lead, ``gap`` px off the body (its root in shadow)
    return split_parts(obj, 6)


def test_a_lead_is_followed_into_shadow_but_not_into_a_hole():
    parts = lead_scene(0)
    away = np.zeros((128, 128), bool)
    away[95:110, 62:69] = True  # the lead goes on in shadow ...
    yy, xx = np.mgrid[:128, :128]
    away |= (yy - 118) ** 2 + (xx - 65) ** 2 <= 12 ** 2  # ... into a hole wider than itself
    extend_thin_parts(parts, away)
    assert parts["object"][96:104, 63:68].all()  # the shadowed stretch, flanked by board
    assert not parts["object"][116:, :].any()  # deep in the hole both flanks are dark: stop


def test_a_lead_root_gap_is_closed_up_to_the_limit():
    parts = lead_scene(3)
    assert not parts["object"][60:63, 64:67].any()
    lead = parts["lead"].copy()
    attach_roots(parts, max_gap=6.0)
    assert parts["object"][60:63, 64:67].all() and parts["edge"][60:63, 64:67].all()
    assert not parts["object"][60:63, :58].any() and not parts["object"][60:63, 73:].any()
    assert np.array_equal(parts["lead"], lead)  # plans stay on the seen lead
    far = lead_scene(3)
    attach_roots(far, max_gap=2.0)  # a gap wider than the limit: another object, not a root
    assert not far["object"][60:63, 64:67].any()
