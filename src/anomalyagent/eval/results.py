"""results.json of a benchmark: row identity, what a row records, and which rows a resume keeps.

A row is identified by (category, setting, detector, method, seed). ``setting`` is the
bench setting for methods that read knowledge (the agent), "any" for methods that see
no anomaly in either setting (the baselines: one row serves both tables) and "reserved"
for the oracle (trained on the reserved real third). Every row records the code that made
it (``code``: package version, source fingerprint, git commit; see ``fingerprint.py``) and
its parameters (``params``). A resumed run keeps a row only when both equal the current
ones; otherwise it says why and redoes it. Rows that failed (``error``) are retried.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from ..images import atomic_write_bytes

log = logging.getLogger(__name__)

ORACLE = "oracle"
ANY_SETTING = "any"
RESERVED = "reserved"

RowId = tuple[str, str, str, str, int]


def row_id(row: dict[str, Any]) -> RowId:
    """(category, setting, detector, method, seed); rows written before settings existed read as
    zero-shot U-Net rows (they will not match the current code's fingerprint anyway)."""
    return (row.get("category", ""), row.get("setting", "zero-shot"), row.get("detector", "unet"), row["method"],
            int(row["seed"]))


def stale_reason(row: dict[str, Any], code: dict[str, Any], params: dict[str, Any]) -> str | None:
    """Why a stored row cannot be kept (None when it can)."""
    if row.get("error"):
        return f"it failed before ({row['error']})"
    old = row.get("code") or {}
    if old.get("fingerprint") != code["fingerprint"]:
        return (f"its code changed (fingerprint {old.get('fingerprint', 'none recorded')} -> {code['fingerprint']}, "
                f"version {old.get('version', '?')} -> {code['version']})")
    if row.get("params") != params:
        changed = sorted(k for k in set(params) | set(row.get("params") or {})
                         if (row.get("params") or {}).get(k) != params.get(k))
        return f"its parameters changed ({', '.join(changed)})"
    return None


def _comparable_key(key: Any) -> Any:
    """``key`` with a default ``train.input_norm`` ("none") left out: results written between
    the option's addition and the key's dropping of its default (stop 19) carry it, and
    they were trained exactly as a key without it says."""
    if isinstance(key, dict) and isinstance(key.get("train"), dict) and key["train"].get("input_norm") == "none":
        key = {**key, "train": {k: v for k, v in key["train"].items() if k != "input_norm"}}
    return key


def load_rows(path: Path, key: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of an earlier run with the same run-wide settings (``key``); [] when there is none."""
    if not path.is_file():
        return []
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read earlier results ({exc}); use another --out or delete it") from None
    if not isinstance(stored, dict) or _comparable_key(stored.get("config_key")) != _comparable_key(key):
        raise ValueError(f"{path}: written with other settings ({stored.get('config_key') if isinstance(stored, dict) else stored!r}); "
                         "use another --out or delete it to start over")
    return [r for r in stored.get("rows", []) if isinstance(r, dict) and "method" in r and "seed" in r]


def write_rows(path: Path, config: dict[str, Any], key: dict[str, Any], rows: list[dict[str, Any]],
               counts: dict[str, Any], test_selected: bool) -> None:
    payload = {"config": config, "config_key": key, "test_counts": counts, "test_selected": test_selected,
               "rows": sorted(rows, key=row_id)}
    text = json.dumps(_finite(payload), indent=1, sort_keys=False, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())


def _finite(value: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python, NaN and infinities to None (never "NaN" in the file)."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
