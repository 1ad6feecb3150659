"""Zero-shot and few-shot: what the agent may know of the evaluated category's anomalies."""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
import yaml

from anomalyagent.eval.bench import BenchConfig, run_bench
from anomalyagent.eval.settings import family_priors, generic_knowledge, knowledge_files
from anomalyagent.eval.split import split_category
from anomalyagent.knowledge import KnowledgeBase
from eval_fixtures import make_category


def test_generic_base_resets_every_number_of_the_category_to_generic_priors():
    kb = KnowledgeBase.default()
    doc = generic_knowledge("magnetic_tile", kb)
    assert {e["defect"] for e in doc["entries"]} == set(kb.defects("magnetic_tile"))
    loaded = KnowledgeBase.load([_write(doc)])
    fam = family_priors()
    generic = {e.size for c in kb.categories("generic") for e in kb.entries(c.name) if e.family == "crack"}
    for defect in kb.defects("magnetic_tile"):
        before, after = kb.lookup("magnetic_tile", defect).entry, loaded.lookup("magnetic_tile", defect).entry
        assert after.text().split("Size:")[0] == before.text().split("Size:")[0]  # the knowledge text stays
        for key in ("aspect", "intensity", "count"):
            if key in fam[after.family]:
                assert after.priors[key] == fam[after.family][key]
    crack = loaded.lookup("magnetic_tile", "crack").entry
    assert min(lo for lo, _ in generic) <= crack.size[0] and crack.size[1] <= max(hi for _, hi in generic)
    assert generic_knowledge("neu_seg_unknown", kb) is None  # nothing of its own to reset


def _write(doc) -> str:
    import tempfile

    path = Path(tempfile.mkdtemp()) / "k.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.fixture
def stand_in_measure(monkeypatch):
    """A stand-in for anomalyagent.knowledge.measure (helper h9b's module) that records its input."""
    calls = []

    def measure_priors(records, **options):
        calls.append(list(records))
        return {"entries": [{"category": "tile", "defect": d, "size": [0.11, 0.22]} for d in sorted({r[2] for r in records})]}

    module = types.ModuleType("anomalyagent.knowledge.measure")
    module.measure_priors = measure_priors
    monkeypatch.setitem(sys.modules, "anomalyagent.knowledge.measure", module)
    return calls


def test_few_shot_measures_the_reserved_third_only(tmp_path: Path, stand_in_measure):
    root = make_category(tmp_path / "data" / "tile", per_defect=6, defects=("crack", "oil"))
    split = split_category(root)
    assert knowledge_files("zero-shot", split, tmp_path / "z") == []  # the package knowledge base as installed
    paths = knowledge_files("few-shot", split, tmp_path / "k", base_priors="generic")
    (records,) = stand_in_measure
    assert sorted(r[0] for r in records) == sorted(it.image for it in split.reserved)
    assert not {r[0] for r in records} & {it.image for it in split.test}
    assert all(Path(mask).name == Path(image).stem + "_mask.png" for image, mask, _ in records)
    kb = KnowledgeBase.load(paths)
    assert kb.lookup("tile", "crack").entry.size == (0.11, 0.22)  # the measured document comes last
    assert [Path(p).name for p in paths] == ["tile_generic.yaml", "tile_few_shot.yaml"]


def test_few_shot_bench_hands_the_measured_priors_to_the_agent(tmp_path: Path, stand_in_measure):
    root = make_category(tmp_path / "data" / "tile", defects=("crack", "oil"))
    config = BenchConfig(data=str(root), out=str(tmp_path / "o"), methods=["agent"], n=2, preset="tiny", seeds=[0],
                         oracle=False, classify=False, generation=False, progress=False, setting="few-shot")
    (row,) = run_bench(config)
    assert row["setting"] == "few-shot" and not row.get("error") and row["params"]["knowledge"]
    assert len(stand_in_measure) == 1
    manifest = (tmp_path / "o" / "synthetic" / "tile" / "few-shot" / "agent" / "seed0" / "manifest.jsonl").read_text()
    specs = [json.loads(line)["spec"] for line in manifest.splitlines()]
    assert len(specs) == 2 and all(0.11 <= s["size"] <= 0.22 for s in specs)  # the measured size range was used


def test_few_shot_agent_pastes_from_a_bank_of_the_reserved_third(tmp_path: Path, stand_in_measure):
    """Few-shot: the bench cuts a defect bank from the reserved third only and hands it to
    the agent for ``bank_share`` of its tasks; the row's params name the bank and share;
    share 0 (and zero-shot) runs without one."""
    root = make_category(tmp_path / "data" / "tile", per_defect=6, defects=("crack", "oil"))
    reserved = {str(it.image) for it in split_category(root).reserved}

    def run(out: str, share: float, setting: str = "few-shot") -> tuple[dict, list[str]]:
        config = BenchConfig(data=str(root), out=str(tmp_path / out), methods=["agent"], n=8, preset="tiny", seeds=[0],
                             oracle=False, classify=False, generation=False, progress=False, setting=setting,
                             bank_share=share)
        (row,) = run_bench(config)
        assert not row.get("error")
        manifest = tmp_path / out / "synthetic" / "tile" / setting / "agent" / "seed0" / "manifest.jsonl"
        return row, [json.loads(line)["spec"]["family"] for line in manifest.read_text().splitlines()]

    row, families = run("all", 1.0)
    index = json.loads((tmp_path / "all" / "bank" / "tile" / "index.json").read_text())
    assert index["entries"] and {e["source"] for e in index["entries"]} <= reserved
    assert row["params"]["bank"]["share"] == 1.0 and len(row["params"]["bank"]["digest"]) == 16
    assert families == ["transplant"] * 8  # no structural plan among these types: every task pastes
    row, families = run("half", 0.5)
    assert 0 < families.count("transplant") < 8
    for out, share, setting in (("none", 0.0, "few-shot"), ("zero", 0.5, "zero-shot")):
        row, families = run(out, share, setting)
        assert "bank" not in row["params"] and "transplant" not in families
        assert not (tmp_path / out / "bank").exists()
    with pytest.raises(ValueError, match="bank share must be a number in"):
        BenchConfig(data=str(root), out=str(tmp_path / "o"), bank_share=1.5)


def test_few_shot_without_the_measuring_module_is_a_clear_error(tmp_path: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "anomalyagent.knowledge.measure", None)  # import fails
    with pytest.raises(RuntimeError, match="few-shot priors need anomalyagent.knowledge.measure"):
        BenchConfig(data=str(tmp_path), out=str(tmp_path / "o"), setting="few-shot")
    with pytest.raises(ValueError, match="setting 'one-shot' must be one of zero-shot, few-shot"):
        BenchConfig(data=str(tmp_path), out=str(tmp_path / "o"), setting="one-shot")
    with pytest.raises(ValueError, match="base priors 'mine' must be one of package, generic"):
        BenchConfig(data=str(tmp_path), out=str(tmp_path / "o"), base_priors="mine")


def test_critic_calibration_per_setting():
    from anomalyagent.eval.settings import critic_calibration

    assert critic_calibration("zero-shot", "transistor") == "without:transistor"
    assert critic_calibration("few-shot", "transistor") == "default"
    with pytest.raises(ValueError, match="setting 'one-shot'"):
        critic_calibration("one-shot", "transistor")


@pytest.mark.parametrize("setting,expected", [("zero-shot", "without:transistor"), ("few-shot", "default")])
def test_bench_hands_the_agent_the_settings_critic_calibration(tmp_path: Path, stand_in_measure, setting, expected):
    """Zero-shot: thresholds fitted without the evaluated category (here one of the shipped
    five); few-shot: the default. Recorded in the row's params and the run record."""
    from anomalyagent.critic.calibration import resolve_calibration

    root = make_category(tmp_path / "data" / "transistor", defects=("crack", "oil"))
    config = BenchConfig(data=str(root), out=str(tmp_path / "o"), methods=["agent", "perlin"], n=2, preset="tiny",
                         seeds=[0], oracle=False, classify=False, generation=False, progress=False, setting=setting)
    rows = {r["method"]: r for r in run_bench(config)}
    agent, perlin = rows["agent"], rows["perlin"]
    assert not agent.get("error") and agent["params"]["calibration"] == expected
    assert "calibration" not in perlin["params"]  # no critic: the baselines' stored rows stay valid
    record = json.loads((tmp_path / "o" / "synthetic" / "transistor" / setting / "agent" / "seed0"
                         / "anomalyagent-run.json").read_text())
    assert record["config"]["calibration"] == expected
    if setting == "zero-shot":
        assert "transistor" not in resolve_calibration(expected).fitted_on


def test_stored_agent_rows_of_another_calibration_are_redone(tmp_path: Path):
    from anomalyagent.eval.results import stale_reason

    config = BenchConfig(data=str(tmp_path), out=str(tmp_path / "o"), methods=["agent"], preset="tiny")
    old = config.row_params("zero-shot", None)  # a row from before the critic was calibrated per setting
    new = config.row_params("zero-shot", None, "without:tile")
    code = {"fingerprint": "f", "version": "v"}
    assert stale_reason({"code": code, "params": old}, code, new) == "its parameters changed (calibration)"


def test_few_shot_ranges_lean_on_the_base_the_agent_would_otherwise_read(tmp_path: Path):
    root = make_category(tmp_path / "data" / "magnetic_tile", per_defect=3, defects=("blowhole", "crack"))
    split = split_category(root)  # one reserved mask per type
    package = KnowledgeBase.default()

    def size(strength, base="package"):
        paths = knowledge_files("few-shot", split, tmp_path / f"k{strength}{base}", base_priors=base, strength=strength)
        return KnowledgeBase.load(paths).lookup("magnetic_tile", "blowhole").entry.size

    raw, heavy = size(0.0), size(1e6)
    assert heavy == pytest.approx(package.lookup("magnetic_tile", "blowhole").entry.size, abs=0.011)
    generic = KnowledgeBase.load([_write(generic_knowledge("magnetic_tile", package))])
    assert size(1e6, "generic") == pytest.approx(generic.lookup("magnetic_tile", "blowhole").entry.size, abs=0.011)
    mid = size(4.0)  # one mask moves the knowledge range a fifth of the way
    assert min(raw[1], heavy[1]) <= mid[1] <= max(raw[1], heavy[1]) and mid != raw
    assert size(None) == raw  # the default (K = 0, the tuned value) is the raw measurement
    with pytest.raises(ValueError, match="prior strength"):
        BenchConfig(data=str(tmp_path), out=str(tmp_path / "o"), setting="few-shot", prior_strength=-1.0)
