"""What the learned policy reads of the product model's regions and of the critic's advice, and
how its advice head follows that advice."""
from __future__ import annotations

import numpy as np
import pytest

from anomalyagent.policy_net.regions import (
    ADVICE_DIM, FOLLOW_AT, PART_KINDS, REGION_DIM, RegionView, advice_features, followed_advice, region_features,
)
from anomalyagent.records import COLOR_RELATIONS, DefectSpec, Observation, Step, Task, ToolCall, Trajectory


def _parts(h: int = 64, w: int = 64) -> dict[str, np.ndarray]:
    """A body in the upper half and two thin leads below it (a transistor-like product)."""
    obj = np.zeros((h, w), bool)
    body = obj.copy()
    body[8:30, 16:48] = True
    lead = obj.copy()
    lead[30:60, 22:25] = True
    lead[30:60, 40:43] = True
    labels = np.zeros((h, w), np.int32)
    labels[30:60, 22:25] = 1
    labels[30:60, 40:43] = 2
    obj = body | lead
    return {"object": obj, "body": body, "lead": lead, "lead_labels": labels}


def test_region_view_reads_the_named_part_and_where_the_plan_lies():
    parts = _parts()
    fg = parts["object"]
    view = RegionView.build(parts, fg, "lead", "bent_lead")
    assert view.has_regions and view.part is parts["lead"]
    on_lead = DefectSpec("bend", center=(23 / 63, 45 / 63), size=0.1, aspect=8.0, angle=90.0)
    off = DefectSpec("bend", center=(32 / 63, 15 / 63), size=0.1)  # on the body, not a lead
    f_on, f_off = region_features(view, on_lead), region_features(view, off)
    assert f_on.shape == (REGION_DIM,) and f_on.dtype == np.float32
    assert f_on[0] == 1.0 and f_on[1 + PART_KINDS.index("lead")] == 1.0
    assert f_on[1 + len(PART_KINDS) + 1] == 1.0  # thin
    live = slice(12, 15)  # centre on part, centre on object, footprint share on part
    assert f_on[live][0] == 1.0 and f_off[live][0] == 0.0 and f_off[live][1] == 1.0
    assert f_on[live][2] > 0.5 > f_off[live][2]
    assert f_on[9] == pytest.approx(parts["lead"].mean())  # part area share
    # a grid cell: the centre goes onto the region in that cell, or to its nearest pixel
    x, y = view.place(13, 4)  # row 3, col 1: the left lead's lower end
    assert parts["lead"][round(y * 63), round(x * 63)]
    x, y = view.place(0, 4)  # the top-left cell holds no lead: the nearest pixel on a lead's middle line
    assert (x, y) == pytest.approx((23 / 63, 31 / 63), abs=1e-3)
    for cell in range(16):  # every cell: on a lead's middle column, never its border
        x, y = view.place(cell, 4, size=0.2)
        assert round(x * 63) in (23, 41), cell
    # the case of a chipped case edge: a body band, kind "edge"
    edge = RegionView.build({**parts, "edge": parts["object"]}, fg, "edge", "damaged_case")
    assert edge.fixed[1 + PART_KINDS.index("edge")] == 1.0


def test_without_a_product_model_the_foreground_stands_in():
    fg = np.zeros((32, 32), bool)
    fg[4:28, 4:28] = True
    view = RegionView.build({}, fg, "surface", "crack")
    assert not view.has_regions and view.part is fg
    f = region_features(view, DefectSpec("crack", center=(0.5, 0.5), size=0.2))
    assert f[0] == 0.0 and f[1 + PART_KINDS.index("object")] == 1.0 and f[12] == 1.0
    assert np.all(region_features(view, None)[12:15] == 0)
    # masks of another size than the image are ignored, not misread
    assert not RegionView.build({"object": np.ones((8, 8), bool)}, fg, "surface", "crack").has_regions


def test_advice_features_and_the_followable_flag():
    spec = DefectSpec("stain", color="darker", texture="keep")
    advice = [{"parameter": "texture", "direction": "smooth"}, {"parameter": "color", "direction": "lighter"},
              {"parameter": "size", "direction": "decrease", "scale": 0.5}, {"parameter": "location", "direction": "move_to_edge"}]
    f = advice_features(advice, spec)
    assert f.shape == (ADVICE_DIM,) and f[1] == 1.0 and f[2] == 1.0 and f[3] == 1.0
    assert f[4] == pytest.approx(np.log(0.5) / np.log(4.0)) and f[FOLLOW_AT] == 1.0
    assert f[6 + COLOR_RELATIONS.index("darker")] == 1.0
    only_size = advice_features([{"parameter": "size", "direction": "increase"}], spec)
    assert only_size[FOLLOW_AT] == 0.0
    assert [a["parameter"] for a in followed_advice(advice)] == ["texture", "color"]
    assert followed_advice(["not a dict", {"parameter": "aspect"}]) == [{"parameter": "aspect"}]


def _judged(advice: list[dict], kr: bool = False) -> Trajectory:
    spec = DefectSpec("stain", "stain", "hazelnut", center=(0.5, 0.5), size=0.2, aspect=2.0, color="darker")
    steps = [Step(0, call=ToolCall("PG", {}), observation=Observation("plan", payload={"spec": spec.to_dict()})),
             Step(1, call=ToolCall("IG", {}), observation=Observation("edit", payload={"spec": spec.to_dict()})),
             Step(2, call=ToolCall("QE", {}), observation=Observation("review", payload={
                 "passed": False, "score": 4.0, "advice": advice}))]
    if kr:
        steps.append(Step(3, call=ToolCall("KR", {}), observation=Observation("entry", payload={})))
    return Trajectory(Task("x.png", "hazelnut", "stain", seed=0), steps)


def test_advice_head_follows_aspect_colour_texture_like_the_rules():
    torch = pytest.importorskip("torch")
    from anomalyagent.knowledge import KnowledgeBase
    from anomalyagent.policy_net import ActionSpace, LearnedPolicy
    from anomalyagent.policy_net.features import state_dim
    from anomalyagent.policy_net.model import PolicyNet, action_log_prob
    from anomalyagent.policy_net.policy import EpisodeView

    space = ActionSpace(("stain", "crack"))
    net = PolicyNet(space, state_dim(space), hidden=16, proj=8).eval()
    policy = LearnedPolicy(kb=KnowledgeBase.default(), net=net, encoders=object())
    fg = np.ones((32, 32), bool)
    entry = KnowledgeBase.default().lookup("hazelnut", "crack").entry
    view = EpisodeView(Task("x.png", "hazelnut", "stain"), entry, fg, False, np.zeros(16, np.float32),
                       np.zeros(1280, np.float32), np.zeros(384, np.float32), np.zeros(384, np.float32),
                       np.random.default_rng(0), RegionView.build({}, fg, "surface", "stain"))
    advice = [{"parameter": "aspect", "direction": "increase"}, {"parameter": "texture", "direction": "increase"},
              {"parameter": "color", "direction": "lighter"}, {"parameter": "size", "direction": "increase"}]
    traj = _judged(advice)
    before = DefectSpec.from_dict(traj.steps[1].observation.payload["spec"])
    after = policy.follow(before, view, traj)
    assert after.aspect == pytest.approx(3.0) and after.texture == "fibrous" and after.color == "lighter"
    assert after.size == before.size  # size is the size head's, not the advice head's
    # a colour advice naming no relation follows the knowledge entry, once KR was called
    vague = [{"parameter": "color", "direction": "match"}]
    assert policy.follow(before, view, _judged(vague)).color == "darker"
    assert policy.follow(before, view, _judged(vague, kr=True)).color == entry.color
    assert policy.follow(before, view, _judged([{"parameter": "size", "direction": "increase"}])) == before
    # the network: without followable advice the head is fixed to "keep" (log-prob 0)
    x_img, x_txt = torch.zeros(2, 1280), torch.zeros(2, 768)
    states = torch.zeros(2, state_dim(space))
    states[0, state_dim(space) - ADVICE_DIM + FOLLOW_AT] = 1.0  # turn 0 has advice to follow (the state ends with the advice features)
    with torch.no_grad():
        logits = net(x_img, x_txt, states)
    p_keep = torch.softmax(logits["advice"], -1)[:, 0]
    assert p_keep[1].item() == pytest.approx(1.0, abs=1e-9) and p_keep[0].item() < 1.0 - 1e-6
    actions = {h: torch.zeros(2, dtype=torch.long) for h in logits}
    actions["tool"][:] = 1
    follow = dict(actions, advice=torch.ones(2, dtype=torch.long))
    lp_keep, lp_follow = action_log_prob(logits, actions), action_log_prob(logits, follow)
    assert lp_follow[1] < lp_keep[1] - 20  # following without advice: impossible
    assert abs(float(lp_follow[0] - lp_keep[0])) < 5
