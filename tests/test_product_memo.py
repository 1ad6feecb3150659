"""The locate memo: packed masks come back with the same values and dtypes, the byte budget
holds, and a located image gives the same masks warm as cold."""
from __future__ import annotations

import numpy as np
import pytest

from anomalyagent.product.memo import LocateMemo, image_key, pack, unpack
from test_product import board_model, board_dir, board_scene, cache_dir  # noqa: F401 (fixtures)


def located(seed: int, shape=(37, 53), labels_max: int = 3) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    obj = rng.random(shape) < 0.4
    parts = {"object": obj, "body": rng.random(shape) < 0.2,
             "lead_labels": rng.integers(0, labels_max + 1, shape).astype(np.int32)}
    return obj, parts


@pytest.mark.parametrize("labels_max", [3, 300, 70000])
def test_pack_unpack_round_trip(labels_max):
    obj, parts = located(0, labels_max=labels_max)
    back_obj, back = unpack(pack((obj, parts))[0])
    assert back_obj is back["object"]  # the object mask is the "object" part, as locate returns it
    assert set(back) == set(parts)
    for name, mask in parts.items():
        assert back[name].dtype == mask.dtype and np.array_equal(back[name], mask)


def test_object_apart_from_parts_round_trips():
    obj, parts = located(1)
    other = ~obj
    back_obj, _ = unpack(pack((other, parts))[0])
    assert np.array_equal(back_obj, other) and back_obj.dtype == bool


def test_memo_recent_tier_then_packed_tier_and_budget():
    memo = LocateMemo(recent=2, budget=3 * pack(located(0))[1])
    keys = [bytes([i]) for i in range(8)]
    for i, key in enumerate(keys):
        assert memo.get(key) is None
        memo.put(key, located(i))
    assert len(memo) == 2 + 3  # 2 as returned, 3 packed within the budget, the 3 oldest dropped
    assert memo.get(keys[0]) is None and memo.get(keys[2]) is None
    recent = memo.get(keys[7])
    assert recent[0] is memo.get(keys[7])[0]  # the recent tier hands out the stored arrays
    obj, parts = memo.get(keys[4])  # from the packed tier: fresh arrays, same values
    ref_obj, ref_parts = located(4)
    assert np.array_equal(obj, ref_obj) and all(np.array_equal(parts[k], v) for k, v in ref_parts.items())
    assert memo.hits == 3 and memo.misses == 8 + 2


def test_image_key_depends_on_bytes_and_shape():
    a = np.zeros((4, 6), np.uint8)
    assert image_key(a) == image_key(a.copy())
    assert image_key(a) != image_key(a.reshape(6, 4))
    b = a.copy()
    b[0, 0] = 1
    assert image_key(a) != image_key(b)


def test_locate_warm_equals_cold(board_model):  # noqa: F811
    from anomalyagent.product.memo import LocateMemo as Memo

    images = [board_scene(200 + i)[0] for i in range(12)]
    cold = [board_model._locate(im) for im in images]
    board_model._memo = Memo(recent=2)  # most hits below come from the packed tier
    for _ in range(2):
        for im, (c_obj, c_parts) in zip(images, cold):
            obj, parts = board_model.locate(im)
            assert np.array_equal(obj, c_obj) and set(parts) == set(c_parts)
            for name, mask in c_parts.items():
                assert parts[name].dtype == mask.dtype and np.array_equal(parts[name], mask)
    assert board_model._memo.hits == 12 and board_model._memo.misses == 12


def test_memo_pickles_with_a_fresh_lock_and_serves_threads():
    import pickle
    from concurrent.futures import ThreadPoolExecutor

    memo = LocateMemo(recent=2)
    for i in range(6):
        memo.put(bytes([i]), located(i))
    copy = pickle.loads(pickle.dumps(memo))
    assert len(copy) == 6 and np.array_equal(copy.get(bytes([5]))[0], located(5)[0])

    def hammer(seed: int) -> int:
        rng = np.random.default_rng(seed)
        for _ in range(300):
            k = bytes([int(rng.integers(0, 6))])
            assert memo.get(k) is not None
        return 1

    with ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(hammer, range(8))) == 8
