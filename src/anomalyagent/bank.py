"""A local defect bank: real defect patches cut from a user's own anomalies, for the
``transplant`` renderer family.

Why: real defects carry the right material, lighting and grain by construction. A bank
is built on the user's machine from the user's data (``anomalyagent bank build --data
DIR --out BANK``) and is never shipped with the package: the images belong to their
owners and their licences.

Building reuses reverse synthesis (reverse/choose.py): each anomaly's normal
reconstruction tells which pixels the defect changed; the entry keeps the anomaly crop
(the defect plus a context margin), the defect mask and the reconstruction crop. By
default (``mask="changed"``) the mask is the ground truth restricted to where the anomaly
differs visibly from its reconstruction, when that leaves enough. ``mask="annotated"``
keeps the annotation as drawn, since a detector trained on the pastes is scored against
masks drawn that way and annotators differ (the reserved NEU steel scratches are labelled
as bands ~26 px wide at 256 px; restricted, their masks are less than half as wide).
Measured (few-shot bench, 3 seeds, docs/benchmarks.md), "annotated" did not help:
crackforest 23.3 -> 19.0, hazelnut 60.9 -> 53.6, neu_seg 35.9 -> 31.5 px AP (magnetic_tile
7.7 -> 8.6, transistor the same masks).
By default only the reserved first third of each defect type is used (the evaluation
split's few-shot share), so a bank never holds test anomalies.

Layout: ``BANK/index.json`` ({"version": 1, "entries": [BankEntry.to_dict(), ...]}) and
``BANK/<category>/<defect>/<stem>{,_mask,_normal}.png``.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .images import ImageError, read_image, read_mask, write_png

log = logging.getLogger(__name__)

VERSION = 1
_SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


@dataclass
class BankEntry:
    """One defect patch: files relative to the bank folder, the source anomaly's path,
    its bounding box in the source image (y0, y1, x0, x1 px), mask area (px) and the
    source image's shorter side (px; 0: unknown, from an older bank), which tells the
    defect's real size relative to its image."""

    category: str
    defect: str
    image: str
    mask: str
    normal: str = ""
    source: str = ""
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    area: int = 0
    side: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["box"] = list(self.box)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BankEntry":
        d = dict(data)
        d["box"] = tuple(int(v) for v in d.get("box", (0, 0, 0, 0)))
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _safe_relative(root: Path, rel: str) -> Path:
    """``root / rel`` after checking ``rel`` stays inside ``root`` (an index is untrusted)."""
    path = (root / rel).resolve()
    if root.resolve() not in path.parents:
        raise ValueError(f"{root / 'index.json'}: entry path {rel!r} leaves the bank folder")
    return path


class DefectBank:
    """Read-only view of a bank folder; patches are loaded on first use and kept."""

    def __init__(self, root: str | Path, entries: list[BankEntry]) -> None:
        self.root = Path(root)
        self.entries = entries
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._bad: set[int] = set()  # entries that could not be read

    @classmethod
    def load(cls, root: str | Path) -> "DefectBank":
        root = Path(root)
        index = root / "index.json"
        if not index.is_file():
            raise FileNotFoundError(f"{index}: not a defect bank (build one with `anomalyagent bank build`)")
        try:
            data = json.loads(index.read_text())
            entries = [BankEntry.from_dict(e) for e in data["entries"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{index}: damaged bank index ({exc})") from exc
        for e in entries:
            _safe_relative(root, e.image)
            _safe_relative(root, e.mask)
        return cls(root, entries)

    def matching(self, defect: str, category: str = "") -> list[int]:
        """Indices of entries of ``defect`` (same category first; any category otherwise)."""
        same = [i for i, e in enumerate(self.entries) if e.defect == defect and (not category or e.category == category)]
        return same or [i for i, e in enumerate(self.entries) if e.defect == defect]

    def has(self, defect: str, category: str = "") -> bool:
        return bool(self.matching(defect, category))

    def sample(self, defect: str, category: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        """(patch uint8, mask (h, w) bool, source image's shorter side px or 0) of a random
        entry of ``defect``."""
        idx = self.matching(defect, category)
        if not idx:
            raise KeyError(f"defect bank {self.root} has no {defect!r} entries")
        first = int(rng.integers(len(idx)))
        for i in idx[first:] + idx[:first]:  # the drawn entry first; an unreadable one is passed over, once said
            if i in self._bad:
                continue
            if i not in self._cache:
                e = self.entries[i]
                try:
                    self._cache[i] = (read_image(_safe_relative(self.root, e.image)),
                                      read_mask(_safe_relative(self.root, e.mask)))
                except (ImageError, OSError, ValueError) as exc:
                    log.warning("defect bank entry skipped: %s", exc)
                    self._bad.add(i)
                    continue
            patch, mask = self._cache[i]
            return patch.copy(), mask.copy(), int(self.entries[i].side)
        raise ValueError(f"defect bank {self.root}: no readable {defect!r} entry")


MIN_PATCH = 16  # px: images.read_image refuses anything smaller, so no patch is cut smaller


def cut_entry(anomaly: np.ndarray, mask: np.ndarray, normal: np.ndarray | None,
              context: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple[int, int, int, int]]:
    """(patch, patch mask, normal patch, box): the defect's bounding box grown by
    ``context`` x its size on each side (at least 4 px), then to ``MIN_PATCH`` px a side
    where the image allows, clipped to the image."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    pad = max(4, int(context * max(y1 - y0, x1 - x0)))
    y0, y1, x0, x1 = max(0, y0 - pad), min(h, y1 + pad), max(0, x0 - pad), min(w, x1 + pad)
    y0, y1 = _at_least(y0, y1, h)
    x0, x1 = _at_least(x0, x1, w)
    crop = (slice(y0, y1), slice(x0, x1))
    return anomaly[crop], mask[crop], (normal[crop] if normal is not None else None), (int(y0), int(y1), int(x0), int(x1))


def _at_least(lo: int, hi: int, size: int) -> tuple[int, int]:
    """[lo, hi) grown evenly to ``MIN_PATCH`` (or the whole ``size``), kept inside [0, size)."""
    need = min(MIN_PATCH, size) - (hi - lo)
    if need <= 0:
        return lo, hi
    lo = max(0, lo - (need + 1) // 2)
    hi = min(size, lo + min(MIN_PATCH, size))
    return hi - min(MIN_PATCH, size), hi


def changed_part(anomaly: np.ndarray, normal: np.ndarray, mask: np.ndarray, min_keep: float = 0.3) -> np.ndarray:
    """The ground-truth mask restricted to pixels the defect visibly changed (delta-E
    > 3 against the reconstruction, closed by 3 px), when that keeps >= ``min_keep`` of it."""
    from .change import delta_e

    de = delta_e(normal, anomaly) > 3.0
    de = cv2.morphologyEx(de.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8)).astype(bool)
    keep = mask & de
    return keep if keep.sum() >= min_keep * mask.sum() else mask


MASKS = ("changed", "annotated")


def build_bank(data: str | Path, out: str | Path, reserved_only: bool = True, limit: int | None = None,
               methods: tuple[str, ...] = ("telea",), mask: str = "changed") -> dict[str, Any]:
    """Build a bank from every MVTec category under ``data`` into ``out``; returns a
    summary {"entries", "skipped", "categories"}. One unreadable anomaly is skipped with
    a warning naming it; it never stops the build. ``mask``: "annotated" (the ground
    truth as drawn) or "changed" (restricted to the visible change; module docstring)."""
    if mask not in MASKS:
        raise ValueError(f"bank mask {mask!r}: expected one of {', '.join(MASKS)}")
    from .eval.split import find_categories
    from .reverse.batch import select
    from .reverse.choose import candidates

    out = Path(out)
    categories = find_categories(data)
    entries: list[BankEntry] = []
    skipped = 0
    for cat_dir in categories:
        category = cat_dir.name
        picked = select(cat_dir, reserved_only)
        per_defect: dict[str, int] = {}
        for item, _, _ in picked:
            if limit is not None and per_defect.get(item.defect, 0) >= limit:
                continue
            if not (_SAFE.match(category) and _SAFE.match(item.defect)):
                log.warning("%s: unusual category/defect name; skipped", item.image)
                skipped += 1
                continue
            try:
                anomaly = read_image(item.image)
                truth = read_mask(item.mask, anomaly.shape[:2])
            except (ImageError, OSError, ValueError) as exc:
                log.warning("%s: %s; skipped", item.image, exc)
                skipped += 1
                continue
            if truth.sum() < 4:
                log.warning("%s: empty mask; skipped", item.mask)
                skipped += 1
                continue
            kind = "object"
            cands, _ = candidates(anomaly, truth, None, kind, methods=methods)
            normal = cands[0].image if cands else None
            shape = changed_part(anomaly, normal, truth) if normal is not None and mask == "changed" else truth
            patch, pmask, npatch, box = cut_entry(anomaly, shape, normal)
            stem = Path(item.image).stem
            rel = Path(category) / item.defect
            (out / rel).mkdir(parents=True, exist_ok=True)
            write_png(out / rel / f"{stem}.png", patch)
            write_png(out / rel / f"{stem}_mask.png", pmask.astype(np.uint8) * 255)
            normal_rel = ""
            if npatch is not None:
                write_png(out / rel / f"{stem}_normal.png", npatch)
                normal_rel = str(rel / f"{stem}_normal.png")
            entries.append(BankEntry(category, item.defect, str(rel / f"{stem}.png"), str(rel / f"{stem}_mask.png"),
                                     normal_rel, str(item.image), box, int(pmask.sum()), int(min(anomaly.shape[:2]))))
            per_defect[item.defect] = per_defect.get(item.defect, 0) + 1
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.json").write_text(json.dumps({"version": VERSION, "mask": mask,
                                               "entries": [e.to_dict() for e in entries]}, indent=1))
    return {"entries": len(entries), "skipped": skipped, "categories": [c.name for c in categories]}
