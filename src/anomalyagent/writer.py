"""Writing samples in the MVTec AD layout, with a manifest that makes runs resumable.

    OUT/<category>/test/<defect>/000.png              samples that passed QE
    OUT/<category>/ground_truth/<defect>/000_mask.png
    OUT/failed/<category>/<defect>/000.png            not passed, only with keep_failed
    OUT/failed/<category>/<defect>/000_mask.png       (otherwise dropped: no image files)
    OUT/<category>/train/good, test/good              copies, with ``write_normals`` (--with-normals)
    OUT/trajectories/<category>/<defect>/000.json
    OUT/manifest.jsonl        one Sample per line (``kept`` says test / failed / dropped)
    OUT/report.html           written by ``finalize``

Why failed samples never go to ``test/<defect>``: detectors train on whatever is there;
an unchanged image with an empty mask (``--max-turns 0``) or an edit the critic refused
would teach them wrong labels. Every file is written atomically (temp file + rename)
before its manifest line is appended, so a line always points at complete files.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from .images import atomic_write_bytes, encode_png
from .methods.base import MethodResult
from .records import Sample, Task, json_safe

log = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
SORT_LIMIT = 200_000  # manifests up to this many lines are sorted by task id at the end of a run
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

    def paths(self, task: Task, kept: str = "test") -> dict[str, str]:
        """Relative paths of a task's files (validated names only); ``kept`` is test or failed."""
        cat, defect = safe_name(task.category, "category"), safe_name(task.defect_type, "defect type")
        stem = f"{task.index:03d}"
        if kept == "failed":
            image, mask = f"failed/{cat}/{defect}/{stem}.png", f"failed/{cat}/{defect}/{stem}_mask.png"
        else:
            image, mask = f"{cat}/test/{defect}/{stem}.png", f"{cat}/ground_truth/{defect}/{stem}_mask.png"
        return {"image": image, "mask": mask, "trajectory": f"trajectories/{cat}/{defect}/{stem}.json"}

    def write(self, task: Task, image: np.ndarray, result: MethodResult, seconds: float, method: str,
              keep_failed: bool = False) -> Sample:
        """Write one sample's files and return its manifest record.

        A sample that did not pass QE, or whose mask is empty (no method may label an
        unchanged image as a defect), is written under ``failed/`` when ``keep_failed``,
        else only its trajectory is kept (``kept="dropped"``, no image or mask).
        """
        if result.image.shape != image.shape or result.image.dtype != np.uint8:
            raise RuntimeError(f"{task.task_id}: method {method} returned {result.image.shape} {result.image.dtype}, input was {image.shape}")
        if result.mask.shape != image.shape[:2]:
            raise RuntimeError(f"{task.task_id}: method {method} returned a {result.mask.shape} mask for a {image.shape} image")
        passed = bool(result.passed) and bool(result.mask.any())  # an empty mask is no defect sample
        kept = "test" if passed else ("failed" if keep_failed else "dropped")
        rel = self.paths(task, kept)
        if kept == "dropped":
            rel["image"] = rel["mask"] = ""
        else:
            atomic_write_bytes(self.root / rel["image"], encode_png(result.image))
            atomic_write_bytes(self.root / rel["mask"], encode_png(result.mask.astype(np.uint8) * 255))
        traj = result.trajectory.to_dict() if result.trajectory is not None else {"task": task.to_dict(), "steps": []}
        atomic_write_bytes(self.root / rel["trajectory"], json.dumps(json_safe(traj), indent=1, allow_nan=False).encode())
        score = float(result.score)
        return Sample(
            task_id=task.task_id, category=task.category, defect_type=task.defect_type, source=task.image_path,
            image=rel["image"], mask=rel["mask"], trajectory=rel["trajectory"], seed=task.seed,
            passed=passed, score=round(score, 3) if np.isfinite(score) else 0.0, kept=kept,
            turns=len(result.trajectory.steps) if result.trajectory is not None else 0,
            seconds=_rounded(seconds, 5) or 0.0, method=method,
            spec=json_safe(result.spec.to_dict()) if result.spec is not None else None,
            timings={k: round(v, 5) for k, v in result.timings.items()},
            mask_fraction=round(float(result.mask.mean()), 6),
            attempts=int(result.info.get("attempts", 1)),
            mg_iou=_rounded(result.info.get("mg_iou"), 4),
            on_object=_rounded(result.info.get("on_object"), 4),
            usage=dict(result.info.get("usage", {})),
        )

    def write_normals(self, category: str, train: Iterable[Path], test: Iterable[Path]) -> int:
        """Copies of normal images into train/good and test/good.

        Copies rather than hard or symbolic links: a tool that edits the output category in
        place (augmentation, relabelling) would otherwise edit the user's dataset.

        Makes OUT/<category> a complete MVTec category. A file already there is kept (a
        resume); returns how many files were added.
        """
        cat, added = safe_name(category, "category"), 0
        for split, paths in (("train", train), ("test", test)):
            folder = self.root / cat / split / "good"
            folder.mkdir(parents=True, exist_ok=True)
            for i, src in enumerate(paths):
                src = Path(src)
                try:
                    name = safe_name(src.name, "file name")
                except ValueError:
                    name = f"{i:03d}{src.suffix.lower()}"
                dest = folder / name
                if dest.exists():
                    continue
                tmp = folder / f".{name}.tmp"
                shutil.copyfile(src, tmp)  # a copy, not a link: editing the output must never edit the data
                os.replace(tmp, dest)
                added += 1
        return added

    # -- manifest ---------------------------------------------------------------------
    def read_manifest(self) -> list[dict[str, Any]]:
        """Parsed manifest lines; a torn or damaged line is skipped with a warning."""
        return [record for _, record in self.iter_manifest()]

    def iter_manifest(self, warn: bool = True) -> Iterator[tuple[int, dict[str, Any]]]:
        """(line number, record) of every valid line, read one line at a time (bounded memory)."""
        path = self.root / MANIFEST
        if not path.exists():
            return
        with open(path, encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    Sample.from_dict(record)  # every field present and known
                except (json.JSONDecodeError, TypeError, ValueError, KeyError) as exc:
                    if warn:
                        log.warning("%s:%d: skipping a damaged manifest line (%s); its sample is redone",
                                    path, number, str(exc)[:120])
                    continue
                if not line.endswith("\n"):  # torn last line (killed mid-write): JSON may still parse
                    continue
                yield number, record

    def _done(self, record: dict[str, Any]) -> bool:
        if record.get("kept") == "dropped":  # a failed sample recorded without image files
            return True
        return all(record[k] and (self.root / record[k]).is_file() for k in ("image", "mask"))

    def completed(self) -> set[str]:
        """Task ids already done (line present and files on disk).

        Streams the manifest; when a line is damaged, duplicated or points at missing
        files, the manifest is rewritten with the good lines only (first copy kept).
        """
        path = self.root / MANIFEST
        done: set[str] = set()
        total = good = 0
        if path.exists():
            with open(path, encoding="utf-8", errors="replace") as fh:
                total = sum(1 for line in fh if line.strip())
        for _, record in self.iter_manifest():
            if record["task_id"] not in done and self._done(record):
                done.add(record["task_id"])
                good += 1
        if good != total:
            self._rewrite(self._unique(lambda r: self._done(r)))
        return done

    def _unique(self, keep) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        for _, record in self.iter_manifest(warn=False):
            if record["task_id"] not in seen and keep(record):
                seen.add(record["task_id"])
                yield record

    def append_manifest(self, record: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / MANIFEST, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(json_safe(record), sort_keys=True, allow_nan=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _rewrite(self, records: Iterable[dict[str, Any]], sort: bool = False) -> None:
        """Replace the manifest atomically with ``records`` (streamed to a temp file)."""
        records = sorted(records, key=lambda r: r["task_id"]) if sort else records
        path = self.root / MANIFEST
        tmp = path.with_name(f".{MANIFEST}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(json_safe(r), sort_keys=True, allow_nan=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def finalize(self) -> None:
        """Sort the manifest by task id (up to SORT_LIMIT lines) and write the HTML report.

        Both stream: sorting keeps only (task id, byte offset) pairs and copies lines by
        offset, the report reads one line at a time; larger manifests stay in completion
        order (the task ids make the order recoverable).
        """
        path = self.root / MANIFEST
        if path.exists():
            index, seen, ordered = [], set(), True
            with open(path, "rb") as fh:
                offset = 0
                for raw in fh:
                    try:
                        task_id = json.loads(raw)["task_id"] if raw.endswith(b"\n") else None
                    except (ValueError, KeyError, TypeError):
                        task_id = None
                    if task_id is not None and task_id not in seen:
                        if index and task_id < index[-1][0]:
                            ordered = False
                        seen.add(task_id)
                        index.append((task_id, offset))
                    else:
                        ordered = False
                    offset += len(raw)
                    if len(index) > SORT_LIMIT:
                        break
            if not ordered and len(index) <= SORT_LIMIT:
                index.sort()
                tmp = path.with_name(f".{MANIFEST}.tmp")
                with open(path, "rb") as src, open(tmp, "wb") as dst:
                    for _, offset in index:
                        src.seek(offset)
                        dst.write(src.readline())
                    dst.flush()
                    os.fsync(dst.fileno())
                os.replace(tmp, path)
        from .report import write_report

        write_report(self.root, (Sample.from_dict(r) for _, r in self.iter_manifest(warn=False)))


def _rounded(value: Any, digits: int) -> float | None:
    """``value`` rounded, or None when it is missing or not a finite number."""
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return round(value, digits) if np.isfinite(value) else None
