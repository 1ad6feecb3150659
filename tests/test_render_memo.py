"""render/memo.py: a sample's edits reuse registrations and plates, with the same bytes."""
from __future__ import annotations

import numpy as np
import pytest

from anomalyagent.records import DefectSpec
from anomalyagent.render import render
from anomalyagent.render.background import background_plate
from anomalyagent.render.memo import RenderMemo, digest
from anomalyagent.render.scene import Scene
from anomalyagent.synthetic import component_scene


def scene_for(seed: int, memo: RenderMemo | None) -> tuple[np.ndarray, Scene]:
    image, masks = component_scene(128, seed, board="perforated")
    others = [component_scene(128, s, board="perforated") for s in (seed + 11, seed + 12)]
    return image, Scene(foreground=masks["object"], parts={"case": masks["case"], "lead": masks["lead"]},
                        normals=tuple(o[0] for o in others), normal_masks=tuple(o[1]["object"] for o in others), memo=memo)


def test_memo_is_bounded_and_keys_by_content():
    memo = RenderMemo(limit=2)
    for i in range(3):
        memo.put((i,), i)
    assert len(memo) == 2 and memo.get((0,)) is None and memo.get((2,)) == 2
    calls = []
    assert memo.get_or_make(("x",), lambda: calls.append(1) or 5) == 5
    assert memo.get_or_make(("x",), lambda: calls.append(1) or 6) == 5 and calls == [1]
    a = np.zeros((4, 4), np.uint8)
    assert digest(a) == digest(a.copy()) != digest(a.astype(bool)) != digest(a.reshape(2, 8))
    with pytest.raises(ValueError):
        RenderMemo(limit=0)


@pytest.mark.parametrize("family,params", [("displace", {"whole": "true"}), ("displace", {"part": "case"}),
                                           ("warp", {"part": "lead"}), ("missing", {"part": "lead", "extent": "tip"})])
def test_edits_with_a_shared_memo_give_the_bytes_of_edits_without(family, params):
    """Several refined edits of one sample (as IG makes them), with and without a memo."""
    memo = RenderMemo()
    image, with_memo = scene_for(0, memo)
    _, without = scene_for(0, None)
    for seed in range(4):
        spec = DefectSpec(family=family, center=(0.5, 0.35 if family == "displace" else 0.75), size=0.3 + 0.1 * seed,
                          intensity=0.4 + 0.1 * seed, angle=30.0 * seed, params=params)
        a = render(image, spec, np.random.default_rng(seed), with_memo)
        b = render(image, spec, np.random.default_rng(seed), without)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]), (family, seed)
    assert memo.hits > 0  # the registrations (and for a whole object, the plate) were reused


def test_plate_is_reused_and_an_inpainted_plate_is_not_stored():
    memo = RenderMemo()
    image, scene = scene_for(1, memo)
    fg = scene.foreground
    hole = np.zeros_like(fg)
    hole[20:40, 20:40] = True
    first = background_plate(image, hole, scene, np.random.default_rng(0))
    stored = len(memo)
    first[0][0, 0] = 0  # a caller changing its plate does not change the stored one
    again = background_plate(image, hole, scene, np.random.default_rng(0))
    plain = background_plate(image, hole, Scene(foreground=fg, normals=scene.normals, normal_masks=scene.normal_masks),
                             np.random.default_rng(0))
    assert again[1] == plain[1] and np.array_equal(again[0], plain[0]) and len(memo) == stored
    # Nothing to copy from (the whole frame is object): inpainting draws noise, so it runs each time.
    everything = np.ones_like(fg)
    bare = Scene(foreground=everything, memo=memo)
    before = len(memo)
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    p1 = background_plate(image, hole, bare, rng_a, avoid=everything)
    p2 = background_plate(image, hole, Scene(foreground=everything), rng_b, avoid=everything)
    assert p1[1] == p2[1] == "inpaint" and np.array_equal(p1[0], p2[0]) and len(memo) == before
    assert rng_a.random() == rng_b.random()  # the same randomness was consumed


def test_a_run_long_shared_memo_keeps_donor_weights_across_samples_with_the_same_bytes():
    """Samples of one run (a new per-sample memo each, one shared memo): the donors'
    registration weights are made once and the edits keep their bytes."""
    import pickle

    shared = RenderMemo(limit=8, threadsafe=True)
    spec = DefectSpec(family="displace", center=(0.5, 0.35), size=0.4, intensity=0.5, params={"part": "case"})
    for sample in range(3):
        image, with_memo = scene_for(sample % 2, RenderMemo(shared=shared))
        _, without = scene_for(sample % 2, None)
        a = render(image, spec, np.random.default_rng(sample), with_memo)
        b = render(image, spec, np.random.default_rng(sample), without)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]), sample
    assert 1 <= len(shared) <= 4 and shared.hits >= 1  # the third sample reused the first one's donors
    copy = pickle.loads(pickle.dumps(shared))
    assert len(copy) == len(shared) and copy.get(next(iter(shared._items))) is not None


def test_digest_of_remembers_an_array_object_and_not_its_id_alone():
    memo = RenderMemo(limit=2)
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert memo.digest_of(a) == digest(a) == memo.digest_of(a) and memo.digest_of(None) == b""
    b = a.copy()
    b[0, 0] = 99
    assert memo.digest_of(b) == digest(b) != digest(a)
    for i in range(20):  # bounded: older entries go, answers stay right
        c = np.full((2, 2), i, np.uint8)
        assert memo.digest_of(c) == digest(c)
    assert len(memo._digests) <= 4 * memo.limit
