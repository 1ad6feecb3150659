"""The local defect bank: built from a (synthetic) MVTec tree by ``anomalyagent bank
build``, reserved anomalies only by default, read back safely, and used by the
transplant family."""
from __future__ import annotations

import json

import numpy as np
import pytest

from anomalyagent.bank import DefectBank
from anomalyagent.images import read_image
from anomalyagent.cli import main
from anomalyagent.render import render
from anomalyagent.render.scene import Scene
from anomalyagent.synthetic import object_rgb, spec_for
from reverse_fixtures import reverse_tree


@pytest.fixture(scope="module")
def bank_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    reverse_tree(root, per_defect=3)
    out = tmp_path_factory.mktemp("bank") / "bank"
    assert main(["bank", "build", "--data", str(root / "hazelnut"), "--out", str(out)]) == 0
    return out


def test_build_keeps_the_reserved_third_only(bank_dir):
    index = json.loads((bank_dir / "index.json").read_text())
    entries = index["entries"]
    # 3 anomalies per defect -> reserved_count(3) = 1 per defect type.
    assert sorted(e["defect"] for e in entries) == ["crack", "cut"]
    for e in entries:
        assert (bank_dir / e["image"]).is_file() and (bank_dir / e["mask"]).is_file() and e["area"] > 0
        assert e["source"].endswith("000.png")


def test_bank_loads_and_samples(bank_dir):
    bank = DefectBank.load(bank_dir)
    assert bank.has("crack", "hazelnut") and not bank.has("rust")
    patch, mask, side = bank.sample("crack", "hazelnut", np.random.default_rng(0))
    assert patch.shape[:2] == mask.shape and mask.dtype == bool and mask.any()
    assert side == min(read_image(bank.entries[0].source).shape[:2])


def test_transplant_pastes_a_bank_defect(bank_dir):
    bank = DefectBank.load(bank_dir)
    image = object_rgb(128)
    spec = spec_for("transplant", center=(0.5, 0.5), size=0.3, intensity=0.8).replace(defect_type="crack", category="hazelnut",
                                                                                     params={"source": "bank"})
    edited, alpha = render(image, spec, np.random.default_rng(0), Scene(bank=bank))
    assert (alpha > 0.5).sum() > 20
    plain, _ = render(image, spec.replace(params={"source": "self"}), np.random.default_rng(0), Scene())
    assert not np.array_equal(edited, plain)


def test_refuses_out_inside_data_and_damaged_index(tmp_path, bank_dir, capsys):
    root = tmp_path / "d"
    reverse_tree(root, per_defect=1)
    assert main(["bank", "build", "--data", str(root / "hazelnut"), "--out", str(root / "hazelnut" / "bank")]) == 2
    assert "inside --data" in capsys.readouterr().out
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "index.json").write_text(json.dumps({"version": 1, "entries": [
        {"category": "x", "defect": "crack", "image": "../../etc/passwd", "mask": "m.png"}]}))
    with pytest.raises(ValueError, match="leaves the bank folder"):
        DefectBank.load(bad)
    (bad / "index.json").write_text("{not json")
    with pytest.raises(ValueError, match="damaged bank index"):
        DefectBank.load(bad)


def test_synthesize_with_a_bank_pastes_its_defects(tmp_path, bank_dir):
    """``synthesize --bank``: PG plans the transplant family from the bank for the defect
    types it holds (same category), and the run record names the bank."""
    root = tmp_path / "d"
    reverse_tree(root, per_defect=1)
    out = tmp_path / "out"
    args = ["synthesize", "--data", str(root / "hazelnut" / "train" / "good"), "--category", "hazelnut",
            "--defects", "crack,hole", "--n", "4", "--out", str(out), "--no-progress", "--product", "none",
            "--retries", "0"]
    assert main(args + ["--bank", str(bank_dir)]) == 0
    lines = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    families = {(r["defect_type"], r["spec"]["family"]) for r in lines if r.get("spec")}
    assert ("crack", "transplant") in families  # the bank holds crack
    assert all(f != "transplant" for d, f in families if d == "hole")  # and no hole: planned as usual
    assert str(bank_dir) in (out / "anomalyagent-run.json").read_text()


def test_synthesize_refuses_a_folder_that_is_no_bank(tmp_path, capsys):
    root = tmp_path / "d"
    reverse_tree(root, per_defect=1)
    args = ["synthesize", "--data", str(root / "hazelnut" / "train" / "good"), "--category", "hazelnut",
            "--defects", "crack", "--n", "2", "--out", str(tmp_path / "out"), "--no-progress", "--bank", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "index.json" in err and "not a defect bank" in err


def _families(out) -> dict[str, set[str]]:
    by_defect: dict[str, set[str]] = {}
    for line in (out / "manifest.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r.get("spec"):
            by_defect.setdefault(r["defect_type"], set()).add(r["spec"]["family"])
    return by_defect


def test_bank_share_and_structural_plans(tmp_path, bank_dir, capsys):
    """``--bank-share 0``: planned as without a bank; a structural plan (here crack
    redefined as a displaced part) never pastes from the bank; a share outside [0, 1] is
    refused before any sample."""
    root = tmp_path / "d"
    reverse_tree(root, per_defect=1)
    args = ["synthesize", "--data", str(root / "hazelnut" / "train" / "good"), "--category", "hazelnut",
            "--defects", "crack", "--n", "3", "--no-progress", "--product", "none", "--retries", "0",
            "--bank", str(bank_dir)]
    assert main(args + ["--out", str(tmp_path / "zero"), "--bank-share", "0"]) == 0
    assert "transplant" not in _families(tmp_path / "zero")["crack"]
    moved = tmp_path / "moved.yaml"
    moved.write_text("entries:\n  - {category: hazelnut, defect: crack, family: displace, size: [0.3, 0.5]}\n")
    assert main(args + ["--out", str(tmp_path / "moved"), "--knowledge", str(moved)]) == 0
    assert _families(tmp_path / "moved")["crack"] == {"displace"}
    assert main(args + ["--out", str(tmp_path / "bad"), "--bank-share", "1.5"]) == 2
    assert "bank_share must be a number in [0, 1]" in capsys.readouterr().err


def _bank_of_one(tmp_path, category: str, defect: str, patch: np.ndarray, mask: np.ndarray, side: int = 0) -> DefectBank:
    """A bank folder under ``tmp_path`` holding one entry: ``patch`` and its ``mask``."""
    from anomalyagent.bank import BankEntry
    from anomalyagent.images import write_png

    (tmp_path / "b").mkdir()
    write_png(tmp_path / "b" / "p.png", patch)
    write_png(tmp_path / "b" / "p_mask.png", mask)
    entry = BankEntry(category, defect, "b/p.png", "b/p_mask.png", side=side)
    (tmp_path / "index.json").write_text(json.dumps({"version": 1, "entries": [entry.to_dict()]}))
    return DefectBank.load(tmp_path)


def test_a_bank_defect_keeps_its_direction(tmp_path):
    """A pasted bank defect keeps the direction it had in its own image (a vertical
    scratch stays vertical whatever the spec's angle); ``turn`` turns it on request."""
    patch = np.full((80, 40, 3), 120, np.uint8)
    patch[8:72, 18:22] = 230
    mask = np.zeros((80, 40), np.uint8)
    mask[8:72, 18:22] = 255
    bank = _bank_of_one(tmp_path, "steel", "scratches", patch, mask)
    image = np.full((128, 128, 3), 100, np.uint8)

    def direction(**params) -> float:
        spec = spec_for("transplant", center=(0.5, 0.5), size=0.4, intensity=0.8, angle=45.0).replace(
            defect_type="scratches", category="steel", params={"source": "bank", **params})
        angles = []
        for seed in range(6):
            _, alpha = render(image, spec, np.random.default_rng(seed), Scene(bank=bank))
            ys, xs = np.nonzero(alpha > 0.5)
            cov = np.cov(np.stack([xs, ys]).astype(float))
            vx, vy = np.linalg.eigh(cov)[1][:, -1]
            angles.append(np.degrees(np.arctan2(abs(vy), abs(vx))))  # 90: vertical
        return float(np.min(angles))

    assert direction() >= 75.0
    assert direction(turn=90.0) <= 15.0


def test_a_bank_defect_is_pasted_near_its_own_size(tmp_path):
    """A thin real line keeps about its length and width whatever size the spec asks
    (within x0.75-1.33 of its own, relative to its source image's side)."""
    patch = np.full((100, 20, 3), 120, np.uint8)
    patch[5:95, 9:11] = 20  # a 90 px, 2 px wide crack cut from a 200 px image
    mask = np.zeros((100, 20), np.uint8)
    mask[5:95, 9:11] = 255
    bank = _bank_of_one(tmp_path, "road", "crack", patch, mask, side=200)
    image = np.full((200, 200, 3), 120, np.uint8)
    for size, lo, hi in ((0.1, 0.75 * 90, 0.8 * 90), (0.45, 85, 95), (0.9, 1.25 * 90, 1.34 * 90)):
        spec = spec_for("transplant", center=(0.5, 0.5), size=size, intensity=0.8, blend="hard").replace(
            defect_type="crack", category="road", params={"source": "bank", "turn": 0.0})
        edited, alpha = render(image, spec, np.random.default_rng(0), Scene(bank=bank))
        ys, _ = np.nonzero(alpha > 0.5)
        assert lo - 3 <= np.ptp(ys) + 1 <= hi + 3, (size, np.ptp(ys) + 1)
        assert edited.min() < 60  # still dark: not thinned away


def test_a_feathered_bank_crack_keeps_its_darkness(tmp_path):
    """The feather of a pasted bank defect falls outside its real mask: a 4 px wide crack
    pasted with feather edges is as dark along its middle as pasted hard (a symmetric
    blur of the mask left it at about 60 % of its depth), while feather still differs
    from hard just outside it."""
    patch = np.full((100, 24, 3), 160, np.uint8)  # its own surface is lighter than the target
    patch[5:95, 10:14] = 80
    mask = np.zeros((100, 24), np.uint8)
    mask[5:95, 10:14] = 255
    bank = _bank_of_one(tmp_path, "road", "crack", patch, mask, side=200)
    image = np.full((200, 200, 3), 120, np.uint8)
    out = {}
    for blend in ("hard", "feather"):
        spec = spec_for("transplant", center=(0.5, 0.5), size=0.45, intensity=1.0, blend=blend).replace(
            defect_type="crack", category="road", params={"source": "bank", "turn": 0.0})
        out[blend], _ = render(image, spec, np.random.default_rng(0), Scene(bank=bank))
    depth = {b: 120.0 - float(np.percentile(e[..., 1], 0.5)) for b, e in out.items()}
    assert depth["feather"] >= 0.9 * depth["hard"], depth
    assert depth["hard"] > 40  # still dark after harmonisation onto the darker surface
    assert not np.array_equal(out["hard"], out["feather"])


def test_a_tiny_defect_is_cut_at_least_16_px_a_side():
    """A 3 px blowhole near a corner is cut with enough context to be read back
    (read_image refuses images under 16 px); the patch stays inside the image."""
    from anomalyagent.bank import cut_entry

    image = np.full((100, 100, 3), 90, np.uint8)
    mask = np.zeros((100, 100), bool)
    mask[1:4, 96:99] = True
    patch, pmask, _, (y0, y1, x0, x1) = cut_entry(image, mask, None)
    assert patch.shape[:2] == (16, 16) and pmask.sum() == 9
    assert 0 <= y0 < y1 <= 100 and 0 <= x0 < x1 <= 100
    small = np.zeros((12, 40), bool)
    small[5:7, 5:7] = True
    assert cut_entry(np.zeros((12, 40, 3), np.uint8), small, None)[0].shape[:2] == (12, 16)


def test_an_unreadable_bank_entry_is_passed_over(tmp_path, caplog):
    """One entry whose patch cannot be read (an old bank's 14 px crop, a deleted file) is
    skipped with a warning naming it; the other entries of the type are still pasted, and
    a type with no readable entry is a clear error."""
    from anomalyagent.bank import BankEntry
    from anomalyagent.images import write_png

    (tmp_path / "b").mkdir()
    write_png(tmp_path / "b" / "tiny.png", np.zeros((14, 14, 3), np.uint8))
    write_png(tmp_path / "b" / "tiny_mask.png", np.full((14, 14), 255, np.uint8))
    write_png(tmp_path / "b" / "ok.png", np.zeros((20, 20, 3), np.uint8))
    write_png(tmp_path / "b" / "ok_mask.png", np.full((20, 20), 255, np.uint8))
    entries = [BankEntry("tile", "blowhole", "b/tiny.png", "b/tiny_mask.png"),
               BankEntry("tile", "blowhole", "b/ok.png", "b/ok_mask.png"),
               BankEntry("tile", "crack", "b/tiny.png", "b/tiny_mask.png")]
    (tmp_path / "index.json").write_text(json.dumps({"version": 1, "entries": [e.to_dict() for e in entries]}))
    bank = DefectBank.load(tmp_path)
    for seed in range(4):
        patch, _, _ = bank.sample("blowhole", "tile", np.random.default_rng(seed))
        assert patch.shape[:2] == (20, 20)
    assert "tiny.png" in caplog.text
    with pytest.raises(ValueError, match="no readable 'crack' entry"):
        bank.sample("crack", "tile", np.random.default_rng(0))


def test_a_bank_restricts_the_mask_unless_asked(tmp_path):
    """By default an entry's mask keeps only what visibly changed (a coarse band drawn
    around a thin defect shrinks to the defect); ``--mask annotated`` keeps the band as
    drawn. The index says which."""
    from anomalyagent.images import read_mask, write_png

    cat = tmp_path / "data" / "steel"
    rng = np.random.default_rng(0)
    for i in range(3):
        write_png(cat / "train" / "good" / f"{i:03d}.png", (100 + rng.integers(0, 6, (64, 64, 3))).astype(np.uint8))
    for i in range(3):  # a 4 px bright line annotated as a 10 px band on a plain surface
        img = np.full((64, 64, 3), 100, np.uint8)
        img[8:56, 30:34] = 220
        band = np.zeros((64, 64), np.uint8)
        band[6:58, 27:37] = 255
        write_png(cat / "test" / "scratches" / f"{i:03d}.png", img)
        write_png(cat / "ground_truth" / "scratches" / f"{i:03d}_mask.png", band)
    areas = {}
    for how in ("annotated", "changed"):
        out = tmp_path / how
        args = ["bank", "build", "--data", str(cat), "--out", str(out)] + (["--mask", how] if how == "annotated" else [])
        assert main(args) == 0
        index = json.loads((out / "index.json").read_text())
        assert index["mask"] == how
        (entry,) = index["entries"]
        areas[how] = int(read_mask(out / entry["mask"]).sum())
    assert areas["annotated"] == 52 * 10
    assert areas["changed"] < 0.5 * areas["annotated"]


def _band_bank(tmp_path):
    """A bank of one scratch as NEU-style annotators draw it: a 4 px bright line inside a
    16 px band whose other pixels are the plain surface (invisible once pasted)."""
    patch = np.full((100, 40, 3), 120, np.uint8)
    patch[10:90, 18:22] = 230
    band = np.zeros((100, 40), np.uint8)
    band[8:92, 12:28] = 255
    return _bank_of_one(tmp_path, "steel", "scratches", patch, band, side=200)


@pytest.mark.parametrize("texture", ["keep", "grainy"])
def test_a_bank_defect_keeps_its_own_label(tmp_path, texture):
    """A pasted bank defect's alpha covers its own mask as placed (the label it came with),
    not only the line that visibly differs; a texture control applied afterwards keeps it.
    A transplant from a normal image is labelled by what visibly changed, as before."""
    from anomalyagent.render.blend import measure_alpha

    bank = _band_bank(tmp_path)
    image = np.full((200, 200, 3), 120, np.uint8)
    spec = spec_for("transplant", center=(0.5, 0.5), size=0.42, intensity=0.8, blend="hard").replace(
        defect_type="scratches", category="steel", texture=texture, params={"source": "bank", "turn": 0.0})
    edited, alpha = render(image, spec, np.random.default_rng(0), Scene(bank=bank))
    labelled, visible = alpha > 0.5, measure_alpha(image, edited) > 0.5
    ys, xs = np.nonzero(labelled)
    assert 12 <= np.ptp(xs) + 1 <= 22 and 70 <= np.ptp(ys) + 1 <= 95, (np.ptp(xs) + 1, np.ptp(ys) + 1)  # the band, ~0.85x
    assert labelled.sum() >= 2.5 * visible.sum()  # the line alone is about a quarter of the band
    assert labelled[visible].all() if texture == "keep" else labelled[visible].mean() > 0.9


def test_mg_labels_a_bank_paste_with_its_mask(tmp_path):
    """MG's mask of a pasted bank defect is the change plus the defect's own mask; without
    the bank (same plan, material from this image) it is the change alone."""
    from anomalyagent.agent.loop import new_state
    from anomalyagent.records import Task, ToolCall
    from anomalyagent.tools import default_toolbox

    bank = _band_bank(tmp_path)
    tools = default_toolbox()
    image = np.full((200, 200, 3), 120, np.uint8)
    areas = {}
    for name, use in (("bank", bank), ("none", None)):
        state = new_state(Task("x.png", "steel", "scratches", seed=0), image, bank=use)
        state.rng = np.random.default_rng(0)
        tools.execute(ToolCall("PG", {}), state)
        obs = tools.execute(ToolCall("IG", {"instruction": "x", "family": "transplant", "center": [0.5, 0.5],
                                            "size": 0.42, "blend": "hard"}), state)
        assert not obs.error, obs.text
        state.judged, state.judgement = True, type("J", (), {"passed": True})()
        assert not tools.execute(ToolCall("MG", {}), state).error
        areas[name] = int(state.mask.sum())
        if name == "bank":
            assert state.mask[state.alpha >= 0.5].all() and state.mask.sum() > 2.5 * state.change[2].sum()
        else:
            from anomalyagent.change import change_mask

            assert np.array_equal(state.mask, change_mask(state.image, state.edited, hint=state.spec.center))
    assert areas["bank"] > areas["none"]
