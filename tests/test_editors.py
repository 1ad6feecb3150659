"""tools/editors.py: the IG spec is plan < instruction < structured fields, and the
episode state's object, parts, normals and bank reach the renderers as a Scene."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from anomalyagent.planning import instruction
from anomalyagent.records import DefectSpec
from anomalyagent.synthetic import component_scene
from anomalyagent.tools.editors import EDITORS, scene_from_state, spec_from_call


def test_spec_from_call_precedence():
    plan = DefectSpec(family="stain", center=(0.5, 0.5), size=0.2, blend="feather")
    text = instruction(plan.replace(family="hole", center=(0.3, 0.6), size=0.1, blend="hard"))
    spec = spec_from_call(plan, text, {"size": 0.05}, EDITORS.create("procedural").families())
    assert (spec.family, spec.center, spec.blend, spec.size) == ("hole", (0.3, 0.6), "hard", 0.05)
    assert spec.instruction == text


def test_scene_from_state_carries_parts_normals_and_bank():
    image, masks = component_scene(128, 0)
    product = SimpleNamespace(masks={"lead": masks["lead"], "lead_labels": masks["lead"].astype(np.int32)})
    state = SimpleNamespace(foreground=masks["object"], parts=product, normals=[image], bank="BANK")
    scene = scene_from_state(state)
    assert scene.foreground is masks["object"] and set(scene.parts) == {"lead"}
    assert len(scene.normals) == 1 and scene.bank == "BANK"
    bare = scene_from_state(SimpleNamespace(foreground=masks["object"]))
    assert bare.parts == {} and bare.normals == () and bare.bank is None


def test_procedural_editor_uses_the_scene():
    image, masks = component_scene(128, 0)
    editor = EDITORS.create("procedural")
    spec = DefectSpec(family="warp", center=(0.62, 0.75), size=0.3, intensity=0.8, params={"part": "lead", "bend": 35.0})
    state = SimpleNamespace(foreground=masks["object"], parts={"lead": masks["lead"]})
    edited, alpha = editor.edit(image, spec, np.random.default_rng(0), scene_from_state(state))
    moved = (alpha > 0.5) & masks["lead"]
    assert moved.sum() > 20 and not np.array_equal(edited[moved], image[moved])
