"""Finding the normal images to synthesize on.

Two layouts are accepted:
- MVTec AD: ``<root>/<category>/train/good/*`` (``root`` may be the category folder
  itself, or a folder holding several categories);
- a plain folder of images (the category is the folder's name unless given).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .images import is_image_file


class DataError(ValueError):
    """The input folder cannot be used; the message says why and what was expected."""


@dataclass(frozen=True)
class NormalSet:
    """The normal images of one category, sorted by path (order is part of determinism)."""

    category: str
    paths: tuple[Path, ...]


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_image_file(p))


def index_normals(root: str | Path, category: str | None = None) -> list[NormalSet]:
    """Normal image sets under ``root``; raise DataError when there are none."""
    root = Path(root).expanduser().resolve()  # manifests record absolute source paths
    if not root.exists():
        raise DataError(f"{root}: folder does not exist")
    if not root.is_dir():
        raise DataError(f"{root}: is a file; pass a folder of normal images or an MVTec AD category folder")
    good = root / "train" / "good"
    if good.is_dir():  # a single MVTec category
        sets = [NormalSet(category or root.name, tuple(_images_in(good)))]
    else:
        subcats = sorted(d for d in root.iterdir() if (d / "train" / "good").is_dir())
        if subcats:  # an MVTec root with several categories
            if category is not None:
                subcats = [d for d in subcats if d.name == category]
                if not subcats:
                    raise DataError(f"{root}: no category {category!r} (has {', '.join(d.name for d in root.iterdir() if d.is_dir())})")
            sets = [NormalSet(d.name, tuple(_images_in(d / "train" / "good"))) for d in subcats]
        else:  # a plain folder
            sets = [NormalSet(category or root.name, tuple(_images_in(root)))]
    sets = [s for s in sets if s.paths]
    if not sets:
        raise DataError(
            f"{root}: no normal images found. Expected an MVTec AD layout (<category>/train/good/*.png) "
            f"or a folder of images ({', '.join(('.png', '.jpg', '.bmp', '.tif'))})."
        )
    return sets
