"""The optional learned realism term: offline features, the bank, the install hint."""
from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite_pytorch")

from anomalyagent.cli import main  # noqa: E402
from anomalyagent.critic import corrupt, judge  # noqa: E402
from anomalyagent.critic import learned  # noqa: E402
from anomalyagent.critic.learned import BANK_ENV, LearnedUnavailable, RealismBank, build_bank, features  # noqa: E402
from conftest import write_image  # noqa: E402
from test_critic_scenes import texture_scene  # noqa: E402


@pytest.fixture(scope="module")
def bank() -> RealismBank:
    """Four real-looking defects on four different surfaces."""
    return build_bank([texture_scene(seed)[1:] for seed in range(4)], [f"tile/pit{i}" for i in range(4)])


def test_features_are_unit_vectors_and_deterministic():
    n, e, m = texture_scene(7)
    a, b = features(e, m), features(e, m)
    assert a.shape == (152,) and a.dtype == np.float32
    assert np.array_equal(a, b) and np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)


def test_bank_calibrates_itself_and_round_trips(bank, tmp_path):
    assert bank.loo.shape == (4,) and (bank.loo >= 0).all() and bank.good_distance() > 0
    bank.save(tmp_path / "bank.npz")
    again = RealismBank.load(tmp_path / "bank.npz")
    assert np.allclose(again.features, bank.features) and again.labels == bank.labels
    assert bank.subset("tile") is bank and len(bank.subset("other").features) == 4
    with pytest.raises(ValueError, match="at least 2"):
        RealismBank(bank.features[:1])


def test_realism_is_high_for_a_bank_member_and_judge_reports_it(bank):
    n, e, m = texture_scene(0)
    t = learned.realism_term(e, m, bank, "tile")
    assert t.value == 1.0 and t.measured["distance"] < 1e-5
    j = judge(n, e, m, kind="texture", learned=True, bank=bank)
    assert "realism" in j.terms and j.passed


def test_a_flat_blob_is_further_from_real_defects_than_a_real_one(bank):
    n, e, m = texture_scene(11)
    flat, _ = corrupt.flat_blob(n, e, m)
    real_d = learned.realism_term(e, m, bank).measured["distance"]
    flat_d = learned.realism_term(flat, m, bank).measured["distance"]
    assert flat_d > real_d


def test_without_a_bank_the_error_says_how_to_build_one(monkeypatch):
    monkeypatch.delenv(BANK_ENV, raising=False)
    n, e, m = texture_scene()
    with pytest.raises(LearnedUnavailable, match="--build-bank"):
        judge(n, e, m, learned=True)


def test_missing_torch_names_the_learned_extra(monkeypatch):
    learned._network.cache_clear()
    monkeypatch.setitem(sys.modules, "torch", None)
    try:
        with pytest.raises(LearnedUnavailable, match=r"\.\[learned\]"):
            learned._network()
    finally:
        learned._network.cache_clear()


def test_cli_builds_a_bank_from_an_mvtec_tree(tmp_path, capsys):
    for i in range(3):
        n, e, m = texture_scene(20 + i)
        write_image(tmp_path / "tile" / "test" / "pit" / f"{i:03d}.png", e)
        write_image(tmp_path / "tile" / "ground_truth" / "pit" / f"{i:03d}_mask.png", m.astype(np.uint8) * 255)
    out = tmp_path / "bank.npz"
    assert main(["critique", "--build-bank", str(tmp_path), "--bank", str(out)]) == 0
    assert RealismBank.load(out).labels == ["tile/pit"] * 3
    assert "3 real defect patches" in capsys.readouterr().out
