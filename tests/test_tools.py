import numpy as np
import pytest

from anomalyagent.agent.loop import new_state
from anomalyagent.change import iou
from anomalyagent.records import Task, ToolCall
from anomalyagent.tools import default_toolbox, validate_arguments
from anomalyagent.tools.base import Tool, check_schema

from conftest import object_image, texture_image


@pytest.fixture(scope="module")
def tools():
    return default_toolbox()


def state_for(defect="crack", category="hazelnut", seed=0, gray=False, size=128):
    rng = np.random.default_rng(seed)
    image = texture_image(rng, size, gray=gray) if category == "magnetic_tile" else object_image(rng, size, gray)
    return new_state(Task("x.png", category, defect, seed=seed), image)


def call(tools, state, name, **arguments):
    return tools.execute(ToolCall(name, arguments), state)


def test_schemas_are_complete(tools):
    names = [s["function"]["name"] for s in tools.schemas()]
    assert names == ["PG", "IG", "QE", "KR", "MG"]
    for s in tools.schemas():
        assert s["function"]["description"] and s["function"]["parameters"]["type"] == "object"


def test_broken_tool_fails_at_construction():
    class Broken(Tool):
        name, description = "X", "broken"
        parameters = {"type": "object", "properties": {"a": {"type": "weird", "description": "a"}}}

    with pytest.raises(ValueError, match="unsupported type"):
        Broken()
    with pytest.raises(ValueError, match="needs a description"):
        check_schema({"type": "object", "properties": {"a": {"type": "string"}}}, "t")


@pytest.mark.parametrize("name,arguments,message", [
    ("XX", {}, "unknown tool"),
    ("IG", {}, "missing required argument 'instruction'"),
    ("IG", {"instruction": 3}, "must be string"),
    ("IG", {"instruction": "a", "size": 5.0}, "outside"),
    ("IG", {"instruction": "a", "center": [0.5]}, "items"),
    ("IG", {"instruction": "a", "color": "purple"}, "must be one of"),
    ("PG", {"bogus": 1}, "unknown argument"),
])
def test_bad_calls_become_error_observations(tools, name, arguments, message):
    obs = call(tools, state_for(), name, **arguments)
    assert obs.error and message in obs.text


def test_order_rules(tools):
    state = state_for()
    assert "call PG first" in call(tools, state, "IG", instruction="x").text
    assert "call IG first" in call(tools, state, "QE").text
    assert "passed QE" in call(tools, state, "MG").text
    assert not call(tools, state, "PG").error
    assert "already called" in call(tools, state, "PG").text
    assert not call(tools, state, "IG", instruction="x").error
    assert "passed QE" in call(tools, state, "MG").text  # edit not judged yet


def test_pg_places_on_object_and_ig_edits_the_original(tools):
    state = state_for("hole", seed=3)
    original = state.image.copy()
    plan = call(tools, state, "PG")
    x, y = plan.payload["spec"]["center"]
    h, w = state.image.shape[:2]
    assert state.foreground[round(y * (h - 1)), round(x * (w - 1))]
    first = call(tools, state, "IG", instruction="a hole")
    second = call(tools, state, "IG", instruction="a hole moved", center=[0.5, 0.5])
    assert np.array_equal(state.image, original)
    assert not first.error and not second.error
    changed = np.any(second.image != original, axis=-1) if original.ndim == 3 else second.image != original
    assert changed.any()
    # second attempt starts from the original: nothing of the first remains outside its own alpha
    alpha2 = second.hidden["alpha"]
    assert not changed[alpha2 < 0.01].any()


def test_kr_returns_physical_description(tools):
    obs = call(tools, state_for("crack"), "KR")
    assert not obs.error and "crack" in obs.text.lower() and obs.payload["entry"]["family"]
    odd = call(tools, state_for("crack"), "KR", category="spaceship", defect_type="glitter")
    assert not odd.error and odd.payload["match"] in ("search", "generic")


def test_validate_arguments_rejects_non_objects():
    assert validate_arguments({"type": "object", "properties": {}}, [1]) == ["arguments must be a JSON object, got list"]


@pytest.mark.parametrize("category,gray", [("hazelnut", False), ("hazelnut", True), ("magnetic_tile", True)])
def test_mg_matches_exact_alpha(tools, category, gray):
    """MG's change detection vs the renderer's exact alpha > 0.5: median IoU >= 0.8."""
    from anomalyagent.render import RENDERERS

    scores = []
    for family in RENDERERS.names():
        for seed in range(3):
            state = state_for(category=category, seed=seed, gray=gray)
            call(tools, state, "PG")
            obs = call(tools, state, "IG", instruction="x", family=family, intensity=0.8)
            if obs.error:
                continue
            state.judged, state.judgement = True, type("J", (), {"passed": True})()
            mg = call(tools, state, "MG")
            assert not mg.error
            if (state.alpha > 0.5).any():
                scores.append(iou(state.mask, state.alpha > 0.5))
    assert len(scores) >= 6
    assert float(np.median(scores)) >= 0.8, scores


def test_backends_are_picked_by_name():
    from anomalyagent.tools import EDITORS, MASKERS, PLANNERS
    from anomalyagent.critic import CRITICS

    assert "procedural" in EDITORS and "measured" in CRITICS and "priors" in PLANNERS and "change" in MASKERS
    with pytest.raises(KeyError, match="unknown image editor 'nope'; known: diffusers, openai, procedural"):
        default_toolbox(editor="nope")
    with pytest.raises(KeyError, match="unknown MG masker"):
        default_toolbox(masker="nope")


def test_qe_and_mg_segment_each_edit_once(tools, monkeypatch):
    """QE's critic and MG share one change mask per edit (tools.base.edit_change): the same
    judgement and mask as segmenting separately, one change_mask call per edit."""
    import anomalyagent.tools.base as base
    from anomalyagent.change import change_mask
    from anomalyagent.critic.judge import judge

    calls = []
    monkeypatch.setattr(base, "change_mask", lambda *a, **k: calls.append(1) or change_mask(*a, **k))
    for seed in range(4):
        state = state_for(seed=seed)
        call(tools, state, "PG")
        for edit in range(2):
            call(tools, state, "IG", instruction="x", intensity=0.5 + 0.2 * edit)
            qe = call(tools, state, "QE")
            alone = judge(state.image, state.edited, None, spec=state.spec, entry=state.entry, kind=state.kind,
                          foreground=state.foreground)
            assert qe.payload["score"] == alone.score and qe.payload["terms"] == alone.terms
        state.judgement = type("J", (), {"passed": True})()
        call(tools, state, "MG")
        hint = state.spec.center
        assert np.array_equal(state.mask, change_mask(state.image, state.edited, hint=hint))
        assert len(calls) == 2 * (seed + 1)  # one per edit, none for MG


def test_mg_of_a_moved_part_covers_its_old_and_new_place(tools):
    """A part moved (displace, warp): the editor's alpha marks where it was and where it
    went; MG's mask holds all of it, also where the two overlap in like colours and change
    detection leaves a notch open to the outside (which filling holes cannot close)."""
    covered = 0
    for seed in range(4):
        state = state_for(seed=seed)
        call(tools, state, "PG")
        obs = call(tools, state, "IG", instruction="x", family="displace", intensity=0.8, size=0.5)
        assert not obs.error, obs.text
        state.judged, state.judgement = True, type("J", (), {"passed": True})()
        call(tools, state, "MG")
        moved = state.alpha >= 0.5
        assert not (moved & ~state.mask).any(), seed
        covered += int(moved.sum())
    assert covered > 0
