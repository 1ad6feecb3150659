"""Reading image folders: the MVTec AD layout (indexed in one place) and plain folders.

The MVTec AD layout (anomalib and the shared dev data read the same)::

    <category>/train/good/*                           normal training images
    <category>/test/good/*                            normal test images
    <category>/test/<defect>/<stem>.*                 anomalous images
    <category>/ground_truth/<defect>/<stem>_mask.png  their masks

``index_mvtec`` is the one function that walks it: it returns one ``MVTecItem`` per
image and raises a ``DataError`` naming the file when an anomaly has no mask. Every
other reader (the evaluation split, the synthetic-pair loader, reverse synthesis, the
normal-image finder of ``synthesize``) builds on it, ``find_categories`` and
``open_folder``. A folder that cannot be read (permissions, a symlink loop, a file
where a folder is expected) is one ``DataError`` naming it, never a traceback.

``index_normals`` also accepts a plain folder of images (the category is the folder's
name unless given): any set of normal photos can be synthesized on.
"""
from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .images import ImageError, is_image_file
from .records import _Record

log = logging.getLogger(__name__)

GOOD = "good"
MASK_SUFFIX = "_mask.png"


class DataError(ImageError):
    """An input folder cannot be used; the message names it and says what was expected.

    A subclass of ImageError (itself a ValueError) so callers that catch bad input as
    either keep working.
    """


@dataclass
class MVTecItem(_Record):
    """One image of an MVTec-layout category.

    ``defect`` is "good" for normal images; ``mask`` is the mask file of an anomaly and ""
    for good images (their mask is all False); ``split`` is "train" or "test".
    """

    image: str
    defect: str
    mask: str = ""
    split: str = "test"

    @property
    def is_anomaly(self) -> bool:
        return self.defect != GOOD


@dataclass(frozen=True)
class NormalSet:
    """The normal images of one category, sorted by path (order is part of determinism)."""

    category: str
    paths: tuple[Path, ...]


def open_folder(path: str | Path, what: str = "folder") -> Path:
    """``path`` made absolute with symlinks resolved; DataError when it is not a readable folder.

    Manifests record absolute source paths, so callers keep the resolved path.
    """
    raw = Path(path).expanduser()
    try:
        root = raw.resolve(strict=True)
    except FileNotFoundError:
        if os.path.lexists(raw):
            raise DataError(f"{raw}: {what} is a broken symbolic link") from None
        raise DataError(f"{raw}: {what} does not exist") from None
    except (RuntimeError, OSError) as exc:  # 3.11 raises RuntimeError on a loop; ELOOP, EACCES otherwise
        reason = "a symbolic link loop" if "loop" in str(exc).lower() or getattr(exc, "errno", None) == errno.ELOOP else str(exc)
        raise DataError(f"{raw}: {what} cannot be opened ({reason})") from None
    if not root.is_dir():
        raise DataError(f"{raw}: is a file; expected a {what} (an MVTec AD category folder, a root holding "
                        f"several, or a folder of images)")
    _entries(root)  # unreadable (no permission) -> DataError now, not later
    return root


def _entries(folder: Path) -> list[Path]:
    """Children of ``folder`` sorted by name; DataError naming it when it cannot be listed."""
    try:
        return sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise DataError(f"{folder}: cannot list folder ({exc.strerror or exc})") from None


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a loop inside the tree reads as "not a folder", the walk goes on
        return False


def images_in(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name; [] when it is not a folder."""
    return [p for p in _entries(folder) if is_image_file(p)] if _is_dir(folder) else []


def is_category(folder: Path) -> bool:
    """True when ``folder`` has the MVTec ``train/good`` folder."""
    return _is_dir(folder / "train" / GOOD)


def find_categories(data: str | Path) -> list[Path]:
    """Category folders under ``data``: ``data`` itself when it has train/good, else its children that do.

    Paths keep the spelling given (a category reached through a symbolic link keeps the
    link's name); ``open_folder`` only checks that ``data`` can be read.
    """
    open_folder(data, "data folder")
    root = Path(data).expanduser()
    if is_category(root):
        return [root]
    found = [p for p in _entries(root) if is_category(p)]
    if not found:
        raise DataError(f"{data}: not an MVTec-layout folder (no train/good in it or in its subfolders)")
    return found


def mask_path(category_dir: Path, defect: str, image: Path) -> Path:
    """Where the layout keeps the mask of ``image`` (``ground_truth/<defect>/<stem>_mask.png``)."""
    return category_dir / "ground_truth" / defect / f"{image.stem}{MASK_SUFFIX}"


def index_mvtec(category_dir: str | Path, missing_mask: Literal["raise", "skip"] = "raise") -> list[MVTecItem]:
    """Every image of one category: train/good first, then test by (defect, file name).

    An anomaly without its mask raises DataError naming the image and the expected mask
    (``missing_mask="raise"``, what an evaluation needs) or is left out with a warning
    (``"skip"``: one bad file never stops a batch that can do without it). Missing
    ``train`` or ``test`` folders give no items of that split; callers say what they need.
    """
    root = Path(category_dir)
    items = [MVTecItem(str(p), GOOD, "", "train") for p in images_in(root / "train" / GOOD)]
    test_dir = root / "test"
    for defect_dir in (p for p in (_entries(test_dir) if _is_dir(test_dir) else []) if _is_dir(p)):
        defect = defect_dir.name
        for path in images_in(defect_dir):
            if defect == GOOD:
                items.append(MVTecItem(str(path), GOOD, "", "test"))
                continue
            mask = mask_path(root, defect, path)
            if not mask.is_file():
                message = f"{path}: anomaly without a mask (expected {mask})"
                if missing_mask == "raise":
                    raise DataError(message)
                log.warning("%s; skipped", message)
                continue
            items.append(MVTecItem(str(path), defect, str(mask), "test"))
    return items


def index_test(category_dir: str | Path, missing_mask: Literal["raise", "skip"] = "raise") -> list[MVTecItem]:
    """The test images of a category (``index_mvtec``'s test split).

    DataError when there is no ``test`` folder or no anomaly in it (nothing to evaluate).
    """
    test_dir = Path(category_dir) / "test"
    if not _is_dir(test_dir):
        raise DataError(f"{test_dir}: missing (expected the MVTec layout <category>/test/<defect>/)")
    items = [it for it in index_mvtec(category_dir, missing_mask) if it.split == "test"]
    if not any(it.is_anomaly for it in items):
        raise DataError(f"{test_dir}: no anomalous images (expected test/<defect>/ folders besides good)")
    return items


def train_images(category_dir: str | Path) -> list[Path]:
    """Normal training images of a category (``train/good``), sorted by name."""
    folder = Path(category_dir) / "train" / GOOD
    paths = images_in(folder)
    if not paths:
        raise DataError(f"{folder}: no normal training images (expected <category>/train/good/*.png|jpg)")
    return paths


def index_normals(root: str | Path, category: str | None = None) -> list[NormalSet]:
    """Normal image sets under ``root``; raise DataError when there are none.

    ``root`` may be an MVTec category, an MVTec root of several categories (``category``
    picks one), or a plain folder of images.
    """
    root = open_folder(root, "data folder")
    if is_category(root):  # a single MVTec category
        sets = [NormalSet(category or root.name, tuple(images_in(root / "train" / GOOD)))]
    else:
        subcats = [d for d in _entries(root) if is_category(d)]
        if subcats:  # an MVTec root with several categories
            if category is not None:
                subcats = [d for d in subcats if d.name == category]
                if not subcats:
                    raise DataError(f"{root}: no category {category!r} "
                                    f"(has {', '.join(d.name for d in _entries(root) if _is_dir(d))})")
            sets = [NormalSet(d.name, tuple(images_in(d / "train" / GOOD))) for d in subcats]
        else:  # a plain folder
            sets = [NormalSet(category or root.name, tuple(images_in(root)))]
    sets = [s for s in sets if s.paths]
    if not sets:
        raise DataError(
            f"{root}: no normal images found. Expected an MVTec AD layout (<category>/train/good/*.png) "
            f"or a folder of images ({', '.join(('.png', '.jpg', '.bmp', '.tif'))})."
        )
    return sets
