"""Writing reverse-synthesis results: images, structured trajectories, chat JSONL.

Layout under OUT (every path in the JSON files is relative to OUT)::

    images/<category>/<defect>/<stem>/normal.png      the chosen reconstruction (episode input)
    images/<category>/<defect>/<stem>/anomaly.png     the real anomaly (last IG observation)
    images/<category>/<defect>/<stem>/mask.png        the real mask (MG observation)
    images/<category>/<defect>/<stem>/n<N>_step<k>.png  rendered earlier attempts
    trajectories.jsonl   (a) one structured trajectory per line, for our own policy
    chat.jsonl           (b) one chat example per line, for multimodal-LLM SFT with TRL
    anomalies.jsonl      one line per real anomaly: reconstruction, critic flag, spec, fit
    summary.json         counts and quartiles (reverse/summary.py)

Chat format (what TRL's ``SFTTrainer`` / ``DataCollatorForVisionLanguageModeling``
reads): ``{"id", "images": [normal], "messages": [...]}``. The messages are
``agent.chat.to_messages`` of the trajectory with one change to image blocks: the
user's normal image is a placeholder ``{"type": "image"}`` filled by TRL from the
``images`` column, and tool-turn images carry their file as ``{"type": "image", "path":
...}``. Why: TRL fills placeholders only outside tool turns, and a dataset column holds
one schema for all content blocks, so an ``image`` key on tool blocks would appear
(as null) on every text block and break placeholder counting; ``path`` is a key the
transformers processor loads images from. Paths are relative to OUT: run training from
OUT, or map them to absolute paths.

Every file is written atomically; the JSONL files are written whole at ``close``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..agent.chat import to_messages
from ..images import atomic_write_bytes, write_png
from ..tools import default_toolbox
from ..writer import safe_name
from .batch import AnomalyResult
from .summary import summarize

log = logging.getLogger(__name__)


def image_dir(category: str, defect: str, stem: str) -> str:
    """Relative folder of one anomaly's images (names validated: no path escapes OUT)."""
    return f"images/{safe_name(category, 'category')}/{safe_name(defect, 'defect type')}/{safe_name(stem, 'file stem')}"


def trl_messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """``to_messages`` output -> (messages, images) in TRL's layout (module docstring)."""
    images: list[str] = []
    out = []
    for message in messages:
        content = []
        for block in message["content"]:
            if block.get("type") == "image":
                if message["role"] == "tool":
                    content.append({"type": "image", "path": block["image"]})
                else:
                    images.append(block["image"])
                    content.append({"type": "image"})
            else:
                content.append(dict(block))
        out.append({"role": message["role"], "content": content})
    return out, images


class Exporter:
    """Collects results one anomaly at a time (images written at once, lines kept)."""

    def __init__(self, out: str | Path, max_turns: int = 10) -> None:
        self.out = Path(out)
        self.max_turns = max_turns
        self.schemas = default_toolbox().schemas()
        self.records: list[dict[str, Any]] = []
        self.trajectory_lines: list[str] = []
        self.chat_lines: list[str] = []

    def add(self, res: AnomalyResult) -> None:
        """Write one anomaly's images and keep its JSON lines; drops its images after."""
        self.records.append(res.to_dict())
        if res.error or res.normal is None:
            return
        try:
            folder = image_dir(res.category, res.defect, res.stem)
        except ValueError as exc:  # a name that cannot be a folder: skip this anomaly, not the batch
            log.warning("%s: skipped: %s", res.image, exc)
            self.records[-1]["error"] = str(exc)
            return
        normal_ref, anomaly_ref, mask_ref = f"{folder}/normal.png", f"{folder}/anomaly.png", f"{folder}/mask.png"
        write_png(self.out / normal_ref, res.normal)
        write_png(self.out / anomaly_ref, res.anomaly)
        write_png(self.out / mask_ref, res.mask.astype(np.uint8) * 255)
        self.records[-1]["files"] = {"normal": normal_ref, "anomaly": anomaly_ref, "mask": mask_ref}
        for built in res.trajectories:
            traj = built.trajectory
            traj.task.image_path = normal_ref
            for step in traj.steps:
                obs = step.observation
                if obs is None or obs.image is None:
                    continue
                if step.index == built.revealed_step:
                    obs.image_ref = anomaly_ref
                elif step.call is not None and step.call.name == "MG":
                    obs.image_ref = mask_ref
                else:
                    obs.image_ref = f"{folder}/n{built.n}_step{step.index}.png"
                    write_png(self.out / obs.image_ref, obs.image)
                obs.image = None  # written; free the memory
            ident = f"{res.category}/{res.defect}/{res.stem}/n{built.n}"
            record = {
                "id": ident, "n": built.n, "kr": built.kr, "flaws": built.flaws, "chain": built.chain,
                "revealed_step": built.revealed_step, "reconstruction": res.method,
                "source": {"image": res.image, "mask": res.mask_path, "reserved": res.reserved},
                "target_spec": res.spec, "trajectory": traj.to_dict(),
            }
            self.trajectory_lines.append(json.dumps(record, sort_keys=True))
            messages, images = trl_messages(to_messages(traj, self.schemas, normal_ref=normal_ref, max_turns=self.max_turns))
            self.chat_lines.append(json.dumps({"id": ident, "images": images, "messages": messages}))
        res.anomaly = res.mask = res.normal = None
        res.trajectories = []

    def close(self) -> dict[str, Any]:
        """Write the JSONL files and summary.json; return the summary."""
        self.out.mkdir(parents=True, exist_ok=True)
        join = lambda lines: ("".join(line + "\n" for line in lines)).encode()
        atomic_write_bytes(self.out / "trajectories.jsonl", join(self.trajectory_lines))
        atomic_write_bytes(self.out / "chat.jsonl", join(self.chat_lines))
        atomic_write_bytes(self.out / "anomalies.jsonl", join(json.dumps(r, sort_keys=True) for r in self.records))
        summary = summarize(self.records)
        atomic_write_bytes(self.out / "summary.json", json.dumps(summary, indent=1, sort_keys=True).encode())
        log.info("wrote %d trajectories from %d anomalies to %s", len(self.trajectory_lines), len(self.records), self.out)
        return summary
