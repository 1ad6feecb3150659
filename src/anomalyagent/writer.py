"""Writing samples in the MVTec AD layout, with a manifest that makes runs resumable.

    OUT/<category>/test/<defect>/000.png
    OUT/<category>/ground_truth/<defect>/000_mask.png
    OUT/trajectories/<category>/<defect>/000.json
    OUT/manifest.jsonl        one Sample per line
    OUT/report.html           written by ``finalize``

Every file is written atomically (temp file + rename) before its manifest line is
appended, so a line always points at complete files.
"""
from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from .images import atomic_write_bytes, encode_png
from .methods.base import MethodResult
from .records import Sample, Task

log = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def safe_name(name: str, what: str = "name") -> str:
    """``name`` if it can be one path component under the output folder, else ValueError.

    Category and defect names become folder names; anything with a separator, a leading
    dot or other characters is refused so that no input can write outside OUT.
    """
    name = str(name).strip()
    if not _SAFE.match(name) or name in (".", ".."):
        raise ValueError(f"invalid {what} {name!r}: use letters, digits, '_', '-', '.' (max 64, no leading dot or '/')")
    return name


class OutputWriter:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def paths(self, task: Task) -> dict[str, str]:
        """Relative paths of a task's files (validated names only)."""
        cat, defect = safe_name(task.category, "category"), safe_name(task.defect_type, "defect type")
        stem = f"{task.index:03d}"
        return {
            "image": f"{cat}/test/{defect}/{stem}.png",
            "mask": f"{cat}/ground_truth/{defect}/{stem}_mask.png",
            "trajectory": f"trajectories/{cat}/{defect}/{stem}.json",
        }

    def write(self, task: Task, image: np.ndarray, result: MethodResult, seconds: float, method: str) -> Sample:
        if result.image.shape != image.shape or result.image.dtype != np.uint8:
            raise RuntimeError(f"{task.task_id}: method {method} returned {result.image.shape} {result.image.dtype}, input was {image.shape}")
        rel = self.paths(task)
        atomic_write_bytes(self.root / rel["image"], encode_png(result.image))
        atomic_write_bytes(self.root / rel["mask"], encode_png(result.mask.astype(np.uint8) * 255))
        traj = result.trajectory.to_dict() if result.trajectory is not None else {"task": task.to_dict(), "steps": []}
        atomic_write_bytes(self.root / rel["trajectory"], json.dumps(traj, indent=1).encode())
        return Sample(
            task_id=task.task_id, category=task.category, defect_type=task.defect_type, source=task.image_path,
            image=rel["image"], mask=rel["mask"], trajectory=rel["trajectory"], seed=task.seed,
            passed=bool(result.passed), score=round(float(result.score), 3),
            turns=len(result.trajectory.steps) if result.trajectory is not None else 0,
            seconds=round(seconds, 5), method=method,
            spec=result.spec.to_dict() if result.spec is not None else None,
            timings={k: round(v, 5) for k, v in result.timings.items()},
            mask_fraction=round(float(result.mask.mean()), 6),
            attempts=int(result.info.get("attempts", 1)),
            mg_iou=round(result.info["mg_iou"], 4) if "mg_iou" in result.info else None,
            on_object=round(result.info["on_object"], 4) if "on_object" in result.info else None,
            usage=dict(result.info.get("usage", {})),
        )

    # -- manifest ---------------------------------------------------------------------
    def read_manifest(self) -> list[dict[str, Any]]:
        """Parsed manifest lines; a torn line (killed mid-write) is ignored."""
        return self._scan()[0]

    def _scan(self) -> tuple[list[dict[str, Any]], bool]:
        """(records, damaged): damaged when a line is torn or the file lacks its last newline."""
        path = self.root / MANIFEST
        if not path.exists():
            return [], False
        text = path.read_text()
        records, damaged = [], bool(text) and not text.endswith("\n")
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                damaged = True
                log.warning("%s:%d: ignoring an incomplete manifest line", path, number)
        return records, damaged

    def completed(self) -> set[str]:
        """Task ids already done (line present and files on disk); rewrites a damaged manifest."""
        records, damaged = self._scan()
        kept: dict[str, dict[str, Any]] = {}
        for r in records:
            if all((self.root / r[k]).is_file() for k in ("image", "mask")):
                kept[r["task_id"]] = r  # a duplicated line keeps its last copy
        if damaged or len(kept) != len(records):
            self._rewrite(list(kept.values()))
        return set(kept)

    def append_manifest(self, record: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / MANIFEST, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _rewrite(self, records: list[dict[str, Any]]) -> None:
        records = sorted(records, key=lambda r: r["task_id"])
        atomic_write_bytes(self.root / MANIFEST, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode())

    def finalize(self) -> None:
        """Sort the manifest by task id and write the HTML report."""
        records = {r["task_id"]: r for r in self.read_manifest()}
        self._rewrite(list(records.values()))
        from .report import write_report

        write_report(self.root, [Sample.from_dict(r) for r in sorted(records.values(), key=lambda r: r["task_id"])])
