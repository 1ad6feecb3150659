"""knowledge/measure.py and `kb measure`: few-shot priors from the reserved third only."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from anomalyagent.cli import main as cli_main
from anomalyagent.eval.split import split_category
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.knowledge.measure import measure_mask, measure_priors, summarise
from eval_fixtures import make_category


@pytest.fixture()
def category(tmp_path):
    return make_category(tmp_path / "tile", per_defect=6, size=48)


def test_measure_mask_geometry_and_contrast():
    gray = np.full((50, 100), 150, np.uint8)
    mask = np.zeros((50, 100), bool)
    mask[20:24, 10:50] = True  # 40 x 4 bar, darker
    gray[mask] = 40
    m = measure_mask(gray, mask)
    assert m["extent"] == pytest.approx(40 / 50, abs=0.05)
    assert 9 <= m["aspect"] <= 14 and m["contrast"] < -100  # rectangle over pixel centres: 39 x 3
    assert measure_mask(gray, np.zeros_like(mask)) is None


def test_summarise_widens_small_samples_and_says_mixed_under_two():
    one = summarise([{"extent": 0.2, "aspect": 2.0, "contrast": -10.0}])
    assert one["size"][0] < 0.2 < one["size"][1] and one["color"] == "mixed"
    many = summarise([{"extent": 0.2 + 0.01 * i, "aspect": 3.0, "contrast": -5.0} for i in range(10)])
    assert many["color"] == "darker" and many["size"][0] <= 0.2 and many["size"][1] >= 0.29


def test_measure_priors_on_the_reserved_third(category):
    split = split_category(category)
    patch = measure_priors(split.reserved)
    assert {e["defect"] for e in patch["entries"]} == {"hole", "scratch"}
    hole = next(e for e in patch["entries"] if e["defect"] == "hole")
    assert hole["category"] == "tile" and hole["color"] == "darker"  # the fixture paints defects dark
    assert 0.0 < hole["size"][0] < hole["size"][1] <= 1.0 and hole["priors"]["aspect"][0] >= 1.0
    # the tuples form works too, and a category name can be given
    tuples = [(it.image, it.mask, it.defect) for it in split.reserved]
    assert measure_priors(tuples, category="magnetic_tile")["entries"][0]["category"] == "magnetic_tile"


def test_measure_priors_refuses_the_test_two_thirds(category):
    split = split_category(category)
    test = [it for it in split.test if it.is_anomaly]
    with pytest.raises(ValueError, match="test two-thirds"):
        measure_priors(split.reserved + test[:1])
    with pytest.raises(ValueError, match="no records"):
        measure_priors([])


def test_measure_priors_refuses_files_outside_a_category(tmp_path, category):
    it = split_category(category).reserved[0]
    with pytest.raises(ValueError, match="MVTec-layout"):
        measure_priors([(tmp_path / "x.png", it.mask, "hole")])


def test_cli_kb_measure_writes_a_patch_the_knowledge_base_reads(category, tmp_path, capsys):
    out = tmp_path / "priors.yaml"
    assert cli_main(["kb", "measure", str(category), "--out", str(out), "--category", "magnetic_tile"]) == 0
    data = yaml.safe_load(out.read_text())
    assert out.read_text().startswith("# Few-shot priors") and len(data["entries"]) == 2
    # hole/scratch are not magnetic_tile defects: rename one to a real entry and check the KB patches it
    patch = {"entries": [{**data["entries"][0], "defect": "blowhole"}]}
    (tmp_path / "blow.yaml").write_text(yaml.safe_dump(patch))
    kb = KnowledgeBase.load([tmp_path / "blow.yaml"])
    assert kb.lookup("magnetic_tile", "blowhole").entry.size == tuple(patch["entries"][0]["size"])


def test_cli_kb_measure_refuses_a_folder_without_the_layout(tmp_path, capsys):
    assert cli_main(["kb", "measure", str(tmp_path), "--out", str(tmp_path / "p.yaml")]) == 2
    assert "error" in capsys.readouterr().out and not (tmp_path / "p.yaml").exists()


def test_measure_priors_shrinks_toward_the_prior_by_sample_count(category, tmp_path):
    split = split_category(category)
    raw = measure_priors(split.reserved, category="magnetic_tile", strength=0.0)
    prior_doc = {"entries": [{"category": "magnetic_tile", "defect": "blowhole", "size": [0.5, 0.9],
                              "color": "lighter", "priors": {"aspect": [3.0, 6.0]}}]}
    (tmp_path / "prior.yaml").write_text(yaml.safe_dump(prior_doc))
    prior = KnowledgeBase.load([tmp_path / "prior.yaml"])
    holes = [it for it in split.reserved if it.defect == "hole"]  # 2 reserved of 6
    # rename the fixture's "hole" to an entry the knowledge base has, so it has a prior
    records = [(it.image, it.mask, "blowhole") for it in holes]
    plain = measure_priors(records, category="magnetic_tile")["entries"][0]
    weak = measure_priors(records, category="magnetic_tile", prior=prior, strength=0.0)["entries"][0]
    strong = measure_priors(records, category="magnetic_tile", prior=prior, strength=1e6)["entries"][0]
    mid = measure_priors(records, category="magnetic_tile", prior=prior, strength=2.0)["entries"][0]  # w = 0.5
    assert weak["size"] == plain["size"] and weak["color"] == plain["color"] == "darker"
    # the knowledge range, up to the outward rounding step (0.01 for size, 0.5 for aspect)
    assert strong["size"] == pytest.approx([0.5, 0.9], abs=0.011) and "color" not in strong
    assert strong["priors"]["aspect"] == pytest.approx([3.0, 6.0], abs=0.51)
    assert plain["size"][1] < mid["size"][1] < 0.9 and "color" not in mid  # an even weight keeps the knowledge word
    assert {e["defect"] for e in raw["entries"]} == {"hole", "scratch"}  # unknown pairs: measurement unchanged


def test_cli_kb_measure_refuses_a_negative_prior_strength(category, tmp_path, capsys):
    out = tmp_path / "p.yaml"
    assert cli_main(["kb", "measure", str(category), "--out", str(out), "--prior-strength", "-1"]) == 2
    assert "strength" in capsys.readouterr().out and not out.exists()
