"""Generative IG editors: the plan's region, pasting, and a tiny diffusers inpainting pipeline."""
import json

import numpy as np
import pytest

from anomalyagent.config import AgentConfig
from anomalyagent.models.scripted_server import Responder, Server
from anomalyagent.pipeline import synthesize
from anomalyagent.synthetic import object_image, spec_for
from anomalyagent.tools.model_editors import paste, plan_region


def test_plan_region_follows_the_spec():
    spec = spec_for("scratch", center=(0.25, 0.75), size=0.5, aspect=5.0, angle=0.0)
    region = plan_region(spec, (100, 200, 3), margin=1.0)
    ys, xs = np.nonzero(region)
    assert abs(xs.mean() - 0.25 * 199) < 1.5 and abs(ys.mean() - 0.75 * 99) < 1.5
    assert 45 <= xs.max() - xs.min() + 1 <= 53 and 8 <= ys.max() - ys.min() + 1 <= 12  # 50 px long, 10 wide
    assert plan_region(spec.replace(size=0.005), (64, 64)).sum() > 0  # never empty


def test_paste_keeps_everything_outside_the_region():
    original = object_image(np.random.default_rng(0), 64)
    generated = np.zeros((128, 128, 3), np.uint8)  # another size: resized
    region = np.zeros((64, 64), bool)
    region[20:40, 20:40] = True
    out = paste(original, generated, region, feather=1.0)
    far = np.ones((64, 64), bool)
    far[14:46, 14:46] = False
    assert np.array_equal(out[far], original[far]) and out[30, 30].max() == 0
    gray = paste(original[..., 0], generated, region)
    assert gray.ndim == 2 and gray[30, 30] == 0


@pytest.fixture(scope="module")
def tiny_inpainting(tmp_path_factory):
    pytest.importorskip("diffusers", reason="the diffusers editor needs the diffusers extra")
    pytest.importorskip("torch")
    from anomalyagent.models.tiny_diffusion import build_tiny_inpainting

    return build_tiny_inpainting(tmp_path_factory.mktemp("tiny_sd"))


def test_diffusers_editor_edits_inside_the_plan_and_is_seeded(tiny_inpainting):
    from anomalyagent.tools import EDITORS

    editor = EDITORS.create("diffusers", model=str(tiny_inpainting), steps=2, size=64)
    image = object_image(np.random.default_rng(0), 96)
    spec = spec_for("crack").replace(instruction="a thin dark crack")
    a, alpha = editor.edit(image, spec, np.random.default_rng(3))
    b, _ = editor.edit(image, spec, np.random.default_rng(3))
    assert alpha is None and a.shape == image.shape and a.dtype == np.uint8 and np.array_equal(a, b)
    changed = (a != image).any(axis=-1)
    import cv2

    region = plan_region(spec, image.shape, margin=1.3)  # the editor's region, plus the feather's reach (3 sigma)
    grown = cv2.dilate(region.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15))).astype(bool)
    assert changed[region].mean() > 0.5 and not (changed & ~grown).any()


def test_diffusers_ig_through_synthesize_with_mg_mask(tiny_inpainting, object_tree, tmp_path):
    """Rule policy + diffusers IG + a judge that passes (scripted server) -> MG makes the mask."""
    with Server(Responder(judge_scores=(5.0, 5.0))) as url:
        config = AgentConfig.from_dict({
            "tools": {"IG": {"name": "diffusers", "model": str(tiny_inpainting), "steps": 2, "size": 64},
                      "QE": {"name": "mllm", "base_url": url, "model": "judge"}},
            "retries": 0})
        out = tmp_path / "out"
        summary = synthesize(object_tree, out, ["crack"], 2, method_kwargs={"config": config.to_dict()}, progress=False)
    assert summary.written == 2
    for line in (out / "manifest.jsonl").read_text().splitlines():
        record = json.loads(line)
        traj = json.loads((out / record["trajectory"]).read_text())
        assert [s["call"]["name"] for s in traj["steps"] if s["call"]] == ["PG", "IG", "QE", "MG"]
        assert record["passed"] and record["mask_fraction"] > 0 and record["mg_iou"] is None  # no exact alpha
        assert (out / record["image"]).is_file() and (out / record["mask"]).is_file()
