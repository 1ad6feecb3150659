"""Backends of the PG and MG tools, by name (IG editors: editors.py; QE critics: anomalyagent.critic).

A planner turns knowledge into a placed DefectSpec:
``plan(entry, image, foreground, rng) -> DefectSpec``. A masker segments what changed:
``mask(normal, edited, hint) -> (H, W) bool``. The embedded defaults are the knowledge
priors sampler and change detection; a learned change-segmentation network (the paper's
MG) or an LLM planner registers here under its own name.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..change import change_mask
from ..knowledge.entry import KnowledgeEntry
from ..planning import sample_spec
from ..records import DefectSpec
from ..registry import Registry

Planner = Callable[[KnowledgeEntry, np.ndarray, np.ndarray, np.random.Generator], DefectSpec]
Masker = Callable[[np.ndarray, np.ndarray, "tuple[float, float] | None"], np.ndarray]

PLANNERS: Registry[Planner] = Registry("PG planner")
MASKERS: Registry[Masker] = Registry("MG masker")

PLANNERS.register("priors")(lambda: sample_spec)
MASKERS.register("change")(lambda: change_mask)
