"""Index a category in the MVTec layout and split its real anomalies (AnomalyDiffusion).

Layout read (the README of the shared data describes it)::

    <category>/train/good/*                 normal training images
    <category>/test/good/*                  normal test images
    <category>/test/<defect>/<stem>.*       real anomalies
    <category>/ground_truth/<defect>/<stem>_mask.png

Split: per defect type the anomalies are sorted by file name; the first third is
reserved (reverse synthesis, the few-shot oracle) and the other two thirds plus every
test/good image are the test set that every method is scored on. "A third" is
``n // 3`` but at least 1 when a type has 2 or more images (hazelnut has 2 per type, and
the oracle needs something), and 0 when a type has a single image (it stays in test).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..images import ImageError, is_image_file
from ..records import _Record

GOOD = "good"


@dataclass
class EvalItem(_Record):
    """One real test image: ``mask`` is "" for good images (their mask is all False)."""

    image: str
    defect: str
    mask: str = ""

    @property
    def is_anomaly(self) -> bool:
        return self.defect != GOOD


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


def _images(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if is_image_file(p)), key=lambda p: p.name) if folder.is_dir() else []


def train_images(category_dir: str | Path) -> list[Path]:
    """Normal training images of a category (``train/good``), sorted by name."""
    folder = Path(category_dir) / "train" / GOOD
    paths = _images(folder)
    if not paths:
        raise ImageError(f"{folder}: no normal training images (expected <category>/train/good/*.png|jpg)")
    return paths


def index_test(category_dir: str | Path) -> list[EvalItem]:
    """All test images of a category, anomalies with their masks, sorted by (defect, name).

    Raises ImageError naming the file when an anomaly has no mask, and when the category
    has no anomalies at all (nothing to evaluate).
    """
    root = Path(category_dir)
    test_dir = root / "test"
    if not test_dir.is_dir():
        raise ImageError(f"{test_dir}: missing (expected the MVTec layout <category>/test/<defect>/)")
    items: list[EvalItem] = []
    for defect_dir in sorted(p for p in test_dir.iterdir() if p.is_dir()):
        defect = defect_dir.name
        for path in _images(defect_dir):
            if defect == GOOD:
                items.append(EvalItem(str(path), GOOD))
                continue
            mask = root / "ground_truth" / defect / f"{path.stem}_mask.png"
            if not mask.is_file():
                raise ImageError(f"{path}: anomaly image without a mask (expected {mask})")
            items.append(EvalItem(str(path), defect, str(mask)))
    if not any(it.is_anomaly for it in items):
        raise ImageError(f"{test_dir}: no anomalous images (expected test/<defect>/ folders besides good)")
    return items


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


def find_categories(data: str | Path) -> list[Path]:
    """Category folders under ``data``: ``data`` itself when it has train/good, else its children that do."""
    data = Path(data)
    if (data / "train" / GOOD).is_dir():
        return [data]
    found = sorted(p for p in data.iterdir() if (p / "train" / GOOD).is_dir()) if data.is_dir() else []
    if not found:
        raise ImageError(f"{data}: not an MVTec-layout folder (no train/good in it or in its subfolders)")
    return found
