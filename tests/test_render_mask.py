"""The MG tool recovers the renderer's mask by change detection.

change.change_mask(normal, edited, hint=spec.center) must agree with alpha > 0.5:
median IoU >= 0.8 over the families, each family measured on RGB and grey fixtures
with several seeds. The per-family numbers are logged (``pytest -s`` shows them).
"""
from __future__ import annotations

import logging

import numpy as np

from anomalyagent.change import change_mask, iou
from anomalyagent.render import RENDERERS, render
from test_render_fixtures import object_rgb, spec_for, texture_gray

log = logging.getLogger(__name__)


def family_iou(family: str, images: list[np.ndarray], seeds: range) -> float:
    """Median IoU of change_mask vs alpha > 0.5 for one family over images x seeds."""
    scores = []
    for image in images:
        for seed in seeds:
            rng = np.random.default_rng(seed)
            spec = spec_for(family, center=(float(rng.uniform(0.35, 0.6)), float(rng.uniform(0.35, 0.6))),
                            angle=float(rng.uniform(-180, 180)))
            edited, alpha = render(image, spec, rng)
            scores.append(iou(change_mask(image, edited, hint=spec.center), alpha > 0.5))
    return float(np.median(scores))


def test_change_mask_recovers_alpha():
    images = [object_rgb(256), texture_gray(256)]
    per_family = {f: family_iou(f, images, range(3)) for f in RENDERERS.names()}
    for family, value in per_family.items():
        log.info("MG IoU %-14s %.3f", family, value)
        print(f"MG IoU {family:<14s} {value:.3f}")
    median = float(np.median(list(per_family.values())))
    assert median >= 0.8, per_family
    # No family may be useless to the MG tool either.
    assert min(per_family.values()) >= 0.5, per_family
