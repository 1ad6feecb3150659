"""knowledge/shrinkage.py: measured few-shot ranges weighted against the knowledge range by sample count."""
from __future__ import annotations

import math

import pytest

from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.knowledge.shrinkage import blend_range, measured_weight, shrink_entry


def test_weight_grows_with_the_number_of_masks():
    assert measured_weight(1, 4) == pytest.approx(0.2) and measured_weight(16, 4) == pytest.approx(0.8)
    assert measured_weight(3, 0) == 1.0 and measured_weight(0, 4) == 0.0
    ws = [measured_weight(n, 4) for n in (1, 2, 5, 20, 100)]
    assert ws == sorted(ws) and ws[-1] > 0.95
    for bad in ((-1, 4), (1, -1), (1, math.inf), (1, math.nan)):
        with pytest.raises(ValueError):
            measured_weight(*bad)


def test_blend_range_is_geometric_rounded_outward_and_clipped():
    # halfway between 0.1 and 0.4 on a log scale is 0.2
    assert blend_range((0.4, 0.4), (0.1, 0.1), 0.5, 0.01, (0.01, 1.0)) == [0.2, 0.2]
    assert blend_range((0.3, 0.6), (0.1, 0.2), 1.0, 0.01, (0.01, 1.0)) == [0.3, 0.6]
    assert blend_range((0.3, 0.6), (0.1, 0.2), 0.0, 0.01, (0.01, 1.0)) == [0.1, 0.2]
    lo, hi = blend_range((0.33, 0.77), (0.11, 0.23), 0.3, 0.01, (0.01, 1.0))
    exact = (0.11 ** 0.7 * 0.33 ** 0.3, 0.23 ** 0.7 * 0.77 ** 0.3)
    assert lo <= exact[0] < lo + 0.01 and hi - 0.01 < exact[1] <= hi  # low rounded down, high up
    assert blend_range((0.9, 1.5), (0.9, 1.5), 0.5, 0.01, (0.01, 1.0))[1] == 1.0
    with pytest.raises(ValueError, match="positive"):
        blend_range((0.0, 0.5), (0.1, 0.2), 0.5, 0.01, (0.01, 1.0))
    with pytest.raises(ValueError, match="weight"):
        blend_range((0.1, 0.5), (0.1, 0.2), 1.5, 0.01, (0.01, 1.0))


def test_one_mask_stays_near_the_knowledge_and_many_masks_replace_it():
    prior = KnowledgeBase.default().lookup("hazelnut", "crack").entry  # size (0.2, 0.6), aspect [1, 4], mixed
    measured = {"category": "hazelnut", "defect": "crack", "size": [0.05, 0.1], "color": "darker",
                "priors": {"aspect": [8.0, 20.0]}}
    one = shrink_entry(measured, 1, prior, 4.0)
    many = shrink_entry(measured, 100, prior, 4.0)
    assert "color" not in one and many["color"] == "darker"  # a word: the heavier side decides
    d_one = abs(math.log(one["size"][0] / prior.size[0]))
    d_many = abs(math.log(many["size"][0] / prior.size[0]))
    assert d_one < d_many and abs(many["size"][0] - 0.05) <= 0.01 and one["size"][0] > 0.1
    assert prior.priors["aspect"][1] < one["priors"]["aspect"][1] < many["priors"]["aspect"][1] <= 20.5
    assert shrink_entry(measured, 1, prior, 0.0) == {**measured, "priors": {"aspect": [8.0, 20.0]}}
    assert shrink_entry(measured, 1, None, 4.0) is measured  # no entry of its own: the measurement as is
    KnowledgeBase.load([_write({"entries": [one, many]})])  # both patch the package entry without complaint


def _write(doc) -> str:
    import tempfile
    from pathlib import Path

    import yaml

    path = Path(tempfile.mkdtemp()) / "k.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)
