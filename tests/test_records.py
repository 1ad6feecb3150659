import json

import numpy as np
import pytest

from anomalyagent.records import DefectSpec, Observation, Sample, Step, Task, ToolCall, Trajectory


def roundtrip(record):
    return type(record).from_dict(json.loads(json.dumps(record.to_dict())))


def test_task_and_spec_roundtrip():
    task = Task("a/b.png", "hazelnut", "crack", seed=7, index=3)
    assert roundtrip(task) == task
    assert task.task_id == "hazelnut/crack/003"
    spec = DefectSpec("crack", "crack", "hazelnut", center=(0.2, 0.7), size=0.2, angle=30, aspect=8,
                      intensity=np.float32(0.5).item(), params={"branches": 2}, instruction="x")
    assert roundtrip(spec) == spec
    assert spec.validate() == []


def test_spec_validate_names_each_problem():
    bad = DefectSpec("crack", center=(1.5, 0.5), size=2.0, aspect=0.5, intensity=-1, color="purple", blend="glue")
    problems = " ".join(bad.validate())
    for word in ("center", "size", "aspect", "intensity", "color", "blend"):
        assert word in problems


def test_trajectory_roundtrip_drops_images_keeps_refs():
    obs = Observation("edited", payload={"score": np.float64(6.5)}, image=np.zeros((4, 4), np.uint8), image_ref="img/1.png")
    traj = Trajectory(Task("x.png", "c", "d"), [Step(0, "think", ToolCall("IG", {"instruction": "a"}, "call_0"), obs, seconds=0.1),
                                                Step(1, "done", answer="ok")], passed=True, score=6.5, stop_reason="finished")
    back = roundtrip(traj)
    assert back.steps[0].observation.image is None
    assert back.steps[0].observation.image_ref == "img/1.png"
    assert back.steps[0].observation.payload == {"score": 6.5}
    assert back.to_dict() == traj.to_dict()
    assert back.tool_names == ["IG"]


def test_sample_roundtrip_and_unknown_field():
    s = Sample("c/d/000", "c", "d", "src.png", "i.png", "m.png", "t.json", 1, True, 7.0, 5, 0.05)
    assert roundtrip(s) == s
    with pytest.raises(ValueError, match="unknown fields"):
        Sample.from_dict({**s.to_dict(), "bogus": 1})


@pytest.mark.parametrize("changes, needle", [
    ({"angle": float("nan")}, "angle must be finite"),
    ({"angle": float("inf")}, "angle must be finite"),
    ({"angle": 10 ** 5000}, "angle is too large"),
    ({"angle": 1e9}, "angle"),
    ({"size": float("nan")}, "size must be finite"),
    ({"intensity": True}, "intensity must be a number"),
    ({"aspect": "3"}, "aspect must be a number"),
    ({"center": (float("nan"), 0.5)}, "center x must be finite"),
    ({"center": (10 ** 5000, 0.5)}, "center x is too large"),
    ({"center": ("a", "b")}, "center x must be a number"),
    ({"texture": "velvet"}, "texture"),
    ({"params": {"width": float("nan")}}, "params.width must be finite"),
    ({"params": {"width": [0.1, float("inf")]}}, "params.width must be finite"),
    ({"params": {"nested": {"a": float("nan")}}}, "params.a must be finite"),
    ({"params": {"deep": [[[[1]]]]}}, "nested deeper than 3"),
    ({"params": {"many": list(range(300))}}, "more than 256 values"),
    ({"params": {"odd": object()}}, "params.odd must be"),
    ({"params": {str(i): i for i in range(40)}}, "at most 32"),
])
def test_spec_validate_refuses_non_finite_huge_and_mistyped(changes, needle):
    spec = DefectSpec(family="crack").replace(**changes)  # never raises: validate names the problem
    problems = spec.validate()
    assert any(needle in p for p in problems), problems


def test_non_finite_never_reaches_a_renderer_or_json():
    from anomalyagent.records import json_safe

    spec = DefectSpec(family="deform", angle=float("nan"))
    with pytest.raises(ValueError, match="angle must be finite"):
        from anomalyagent.render.family import Family

        Family().render(np.zeros((32, 32, 3), np.uint8), spec, np.random.default_rng(0))
    safe = json_safe({"a": float("nan"), "b": [np.float32("inf"), 1.5], "c": np.int64(3)})
    assert safe == {"a": None, "b": [None, 1.5], "c": 3}
    json.dumps(safe, allow_nan=False)


def test_spec_params_may_hold_small_nested_instances():
    spec = DefectSpec(family="hole", params={"instances": [{"center": [0.2, 0.3], "size": 0.05}] * 3, "fill": "background"})
    assert spec.validate() == []
