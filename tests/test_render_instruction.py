"""The IG instruction text alone drives the procedural editor: an instruction-only call
renders the same family, place and size as the structured call (>= 90 % of 200
generated instructions), and free phrasings of the controls are read."""
from __future__ import annotations

import numpy as np
import pytest

from anomalyagent.agent.loop import new_state
from anomalyagent.foreground import foreground
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.planning import instruction, sample_spec
from anomalyagent.records import BLEND_MODES, COLOR_RELATIONS, TEXTURES, DefectSpec, Task, ToolCall
from anomalyagent.render import RENDERERS
from anomalyagent.render.instruction import apply_instruction, parse_instruction
from anomalyagent.synthetic import object_image, texture_image
from anomalyagent.tools import default_toolbox

FAMILIES = RENDERERS.names()
PARTS = ("", "", "lead", "case", "edge")


def generated_specs(n: int, seed: int = 0) -> list[DefectSpec]:
    """Half from knowledge-base priors on synthetic images (what PG plans), half random
    over every family and control (what a policy might ask for)."""
    rng = np.random.default_rng(seed)
    kb = KnowledgeBase.default()
    entries = kb.entries()
    images = [object_image(np.random.default_rng(1), 128), texture_image(np.random.default_rng(2), 128)]
    fgs = [foreground(images[0], "object"), foreground(images[1], "texture")]
    out = []
    for i in range(n // 2):
        entry = entries[int(rng.integers(len(entries)))]
        k = int(rng.integers(2))
        out.append(sample_spec(entry, images[k], fgs[k], rng))
    for i in range(n - n // 2):
        params = {}
        part = PARTS[int(rng.integers(len(PARTS)))]
        if part:
            params["part"] = part
        if rng.random() < 0.3:
            params["count"] = int(rng.integers(2, 5))
        spec = DefectSpec(
            family=FAMILIES[int(rng.integers(len(FAMILIES)))], defect_type=str(rng.choice(["", "defect", "flaw"])),
            category=str(rng.choice(["transistor", "hazelnut", "tile"])),
            center=(round(float(rng.uniform(0.02, 0.98)), 4), round(float(rng.uniform(0.02, 0.98)), 4)),
            size=round(float(np.exp(rng.uniform(np.log(0.008), np.log(0.9)))), 4),
            angle=round(float(rng.uniform(-180, 180)), 1), aspect=round(float(rng.uniform(1, 40)), 2),
            intensity=round(float(rng.uniform(0.05, 1)), 3), color=str(rng.choice(COLOR_RELATIONS)),
            texture=str(rng.choice(TEXTURES)), blend=str(rng.choice(BLEND_MODES)), params=params)
        out.append(spec.replace(instruction=instruction(spec)))
    return out


def same_render_inputs(a: DefectSpec, b: DefectSpec) -> bool:
    """Same family, place (within 1 % of the image) and size (within 10 %)."""
    return (a.family == b.family
            and max(abs(x - y) for x, y in zip(a.center, b.center)) <= 0.01
            and abs(a.size - b.size) <= 0.1 * b.size)


def test_instruction_only_matches_structured_call_for_200_instructions():
    specs = generated_specs(200)
    base = DefectSpec(family="stain", center=(0.5, 0.5), size=0.2)  # a plan that says something else
    hits = sum(same_render_inputs(apply_instruction(base, s.instruction, FAMILIES), s) for s in specs)
    assert hits >= 0.9 * len(specs), hits
    # Controls too (on the random half, where every control varies).
    rand = specs[100:]
    parsed = [apply_instruction(base, s.instruction, FAMILIES) for s in rand]
    for field in ("color", "blend", "texture", "aspect", "angle"):
        tol = {"aspect": 0.051, "angle": 0.51}.get(field)
        ok = sum((getattr(p, field) == getattr(s, field) if tol is None else abs(getattr(p, field) - getattr(s, field)) <= tol)
                 or (field in ("angle", "aspect") and s.aspect < 2.5) for p, s in zip(parsed, rand))
        assert ok >= 0.9 * len(rand), (field, ok)
    counts = sum(p.params.get("count", 1) == s.params.get("count", 1) for p, s in zip(parsed, rand))
    parts = sum(p.params.get("part", "") == s.params.get("part", "") for p, s in zip(parsed, rand))
    assert counts >= 0.95 * len(rand) and parts >= 0.95 * len(rand), (counts, parts)


def test_ig_tool_reads_the_instruction():
    tools = default_toolbox()
    image = object_image(np.random.default_rng(0), 128)
    state = new_state(Task("x.png", "hazelnut", "crack", seed=0), image)
    tools.execute(ToolCall("PG", {}), state)
    plan = state.spec
    target = plan.replace(family="stain", center=(0.41, 0.56), size=0.12, blend="hard", texture="grainy")
    text = instruction(target)
    tools.execute(ToolCall("IG", {"instruction": text}), state)
    by_text = state.spec
    assert (by_text.family, by_text.center, by_text.size, by_text.blend, by_text.texture) == \
        ("stain", (0.41, 0.56), 0.12, "hard", "grainy")
    # Structured fields override the text.
    tools.execute(ToolCall("IG", {"instruction": text, "size": 0.2, "family": "hole"}), state)
    assert state.spec.size == 0.2 and state.spec.family == "hole" and state.spec.center == (0.41, 0.56)
    # The plan's own instruction changes nothing.
    state2 = new_state(Task("x.png", "hazelnut", "crack", seed=0), image)
    tools.execute(ToolCall("PG", {}), state2)
    tools.execute(ToolCall("IG", {"instruction": state2.spec.instruction}), state2)
    assert state2.spec.replace(instruction="") == plan.replace(instruction="")


@pytest.mark.parametrize("text,expected", [
    ("Bend the right lead of the transistor by about 30% of the image, bent by 25 degrees, near the lower right",
     {"family": "warp", "params": {"bend": 25.0}}),
    ("The part is misplaced: rotated by 40 degrees, centred at (50%, 30%)", {"family": "displace", "center": (0.5, 0.3)}),
    ("Make three scratches on the case with hard edges", {"family": "scratch", "blend": "hard", "params": {"count": 3, "part": "case"}}),
    ("A missing piece at x=0.2, y=0.7, size 15%, seamless blend", {"family": "missing", "center": (0.2, 0.7), "size": 0.15, "blend": "poisson"}),
    ("Add a faint stain (stain) with a smooth texture, reddish", {"family": "stain", "texture": "smooth", "color": "reddish"}),
])
def test_free_phrasings_are_read(text, expected):
    found = parse_instruction(text, FAMILIES)
    for key, value in expected.items():
        if key == "params":
            for k, v in value.items():
                assert found["params"][k] == v, (text, k, found)
        else:
            assert found[key] == value, (text, key, found)


def test_hostile_text_is_bounded():
    text = "centred at (1e309%, nan%) about 1e400% of the shorter image side " + "crack " * 100000
    found = parse_instruction(text, FAMILIES)
    assert "center" not in found and found.get("size", 1.0) <= 1.0
    spec = apply_instruction(DefectSpec(family="stain"), "Add 999999999 cracks, intensity 7", FAMILIES)
    assert spec.validate() == [] and spec.params.get("count", 1) <= 12


def test_text_can_undo_texture_and_count():
    """A refined plan that goes back to the surface's own texture and one instance says so
    in words; the previous call's grainy texture and count do not stick."""
    base = DefectSpec(family="stain", texture="grainy", params={"count": 3})
    plain = base.replace(texture="keep", params={})
    spec = apply_instruction(base, instruction(plain), FAMILIES)
    assert spec.texture == "keep" and spec.params.get("count", 1) == 1


def test_instruction_only_renders_match_structured_renders():
    """Rendered, not only parsed: from a plan that says something else, the text-only
    spec draws the same defect as the structured one (same seed; the text carries the
    centre to 0.1 % and the size to two digits, so pixels may differ slightly): the
    alpha > 0.5 masks overlap with IoU >= 0.7 for >= 90 % of 200 generated instructions."""
    from anomalyagent.change import iou
    from anomalyagent.render import render

    image = object_image(np.random.default_rng(5), 96)
    good = 0
    specs = generated_specs(200, seed=1)
    for i, s in enumerate(specs):
        plan = s.replace(center=(0.5, 0.5), size=0.2, family="stain")  # the text must move it back
        by_text = apply_instruction(plan, s.instruction, FAMILIES)
        a = render(image, s, np.random.default_rng(i))[1] > 0.5
        b = render(image, by_text, np.random.default_rng(i))[1] > 0.5
        good += (not a.any() and not b.any()) or iou(a, b) >= 0.7
    assert good >= 0.9 * len(specs), good
