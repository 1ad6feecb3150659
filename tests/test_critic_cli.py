"""``anomalyagent critique``: sub-scores and review, JSON output, clear input errors."""
from __future__ import annotations

import json

import numpy as np

from anomalyagent.cli import main
from anomalyagent.images import write_png
from test_critic_scenes import texture_scene


def _files(tmp_path):
    n, e, m = texture_scene()
    paths = {k: tmp_path / f"{k}.png" for k in ("normal", "image", "mask")}
    write_png(paths["normal"], n)
    write_png(paths["image"], e)
    write_png(paths["mask"], m.astype(np.uint8) * 255)
    return paths


def test_critique_prints_terms_and_review(tmp_path, capsys):
    p = _files(tmp_path)
    rc = main(["critique", "--normal", str(p["normal"]), "--image", str(p["image"]), "--mask", str(p["mask"]),
               "--category", "magnetic_tile", "--defect", "blowhole"])
    out = capsys.readouterr().out
    assert rc == 0 and out.startswith("PASS")
    for term in ("location", "visibility", "seam", "texture", "shape", "color"):
        assert term in out
    assert "Acceptable defect" in out


def test_critique_json_without_mask_and_unchanged_image(tmp_path, capsys):
    p = _files(tmp_path)
    assert main(["critique", "--normal", str(p["normal"]), "--image", str(p["normal"]), "--json"]) == 0
    j = json.loads(capsys.readouterr().out)
    assert j["passed"] is False and j["advice"][0]["direction"] == "increase"


def test_critique_reports_a_size_mismatch(tmp_path, capsys):
    p = _files(tmp_path)
    write_png(tmp_path / "small.png", np.zeros((40, 40), np.uint8))
    rc = main(["critique", "--normal", str(p["normal"]), "--image", str(tmp_path / "small.png")])
    assert rc == 2 and "differs" in capsys.readouterr().out


def test_critique_with_the_products_normal_images(tmp_path, capsys):
    from anomalyagent.synthetic import texture_image

    p = _files(tmp_path)
    normals = tmp_path / "good"
    normals.mkdir()
    for i in range(4):
        write_png(normals / f"{i}.png", texture_image(np.random.default_rng(50 + i), 128))
    model = tmp_path / "model.npz"
    args = ["critique", "--normal", str(p["normal"]), "--image", str(p["image"]), "--mask", str(p["mask"]), "--json"]
    assert main(args + ["--normals", str(normals), "--appearance", str(model)]) == 0
    fitted = json.loads(capsys.readouterr().out)
    assert "abnormality" in fitted["terms"] and model.is_file()
    assert main(args + ["--appearance", str(model)]) == 0  # the saved model judges the same
    assert json.loads(capsys.readouterr().out)["terms"] == fitted["terms"]
    assert main(args + ["--normals", str(tmp_path / "nothing")]) == 2
    assert "no normal images" in capsys.readouterr().out


def test_critique_takes_a_calibration(tmp_path, capsys):
    p = _files(tmp_path)
    args = ["critique", "--normal", str(p["normal"]), "--image", str(p["image"]), "--mask", str(p["mask"]),
            "--category", "magnetic_tile", "--defect", "blowhole", "--json"]
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps({"visibility_good": 1000.0, "strength_power": 1.0, "quality_floor": 4.9}))
    assert main(args + ["--calibration", str(strict)]) == 0
    j = json.loads(capsys.readouterr().out)
    assert j["passed"] is False and "needs its floor" in j["review"]
    assert main(args + ["--calibration", "without:hazelnut"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"] is True
    assert main(args + ["--calibration", "nonsense"]) == 2 and "calibration 'nonsense'" in capsys.readouterr().out
