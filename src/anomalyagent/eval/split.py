"""Split a category's real anomalies as AnomalyDiffusion does.

The MVTec layout is read by ``anomalyagent.data.index_mvtec`` (the one place that walks
it); this module only splits. Per defect type the anomalies are sorted by file name; the
first third is reserved (reverse synthesis, the few-shot setting, the oracle) and the
other two thirds plus every test/good image are the test set that every method is scored
on. "A third" is ``n // 3`` but at least 1 when a type has 2 or more images (hazelnut has
2 per type, and the oracle needs something), and 0 when a type has a single image (it
stays in test).

``EvalItem``, ``GOOD``, ``index_test``, ``train_images`` and ``find_categories`` are
re-exported from ``anomalyagent.data`` for the modules that import them from here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..data import GOOD, MVTecItem, find_categories, index_test, train_images

EvalItem = MVTecItem  # the name the evaluation code and reverse synthesis use

__all__ = ["GOOD", "EvalItem", "Split", "find_categories", "index_test", "reserved_count", "split_category",
           "train_images"]


@dataclass
class Split:
    """The reserved third of the anomalies and the shared test set of one category."""

    category: str
    reserved: list[EvalItem]
    test: list[EvalItem]

    def defects(self) -> list[str]:
        return sorted({it.defect for it in self.reserved + self.test if it.is_anomaly})

    def counts(self) -> dict[str, int]:
        """Number of test images per type (good included); for the report."""
        out: dict[str, int] = {}
        for it in self.test:
            out[it.defect] = out.get(it.defect, 0) + 1
        return dict(sorted(out.items()))


def reserved_count(n: int) -> int:
    """How many of ``n`` anomalies of one type are reserved (see the module docstring)."""
    if n < 2:
        return 0
    return max(1, n // 3)


def split_category(category_dir: str | Path) -> Split:
    """The AnomalyDiffusion split of one category folder."""
    items = index_test(category_dir)
    reserved: list[EvalItem] = []
    test: list[EvalItem] = []
    by_defect: dict[str, list[EvalItem]] = {}
    for it in items:
        by_defect.setdefault(it.defect, []).append(it)
    for defect, group in sorted(by_defect.items()):
        group = sorted(group, key=lambda it: Path(it.image).name)
        if defect == GOOD:
            test.extend(group)
            continue
        k = reserved_count(len(group))
        reserved.extend(group[:k])
        test.extend(group[k:])
    return Split(Path(category_dir).name, reserved, test)
