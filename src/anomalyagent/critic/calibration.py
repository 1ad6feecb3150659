"""The critic's calibrated thresholds, in one record.

Why a record: the thresholds that decide "too faint" and "acceptable" are fitted on real
defects (benchmarks/bench_critic.py, leave-one-category-out: each category is scored with
values fitted on the reserved first third of the OTHER categories' anomalies only), so
they must be swappable without touching the term code. ``DEFAULT`` is the fit on the
reserved thirds of all five dev categories (see docs/benchmarks.md, critic section, for
the command and the categories); pass ``calibration=`` to ``judge`` to use another.

The shipped set (``calibrations.json`` beside this module, written by
``benchmarks/bench_critic.py --write-calibrations``, never by hand) holds DEFAULT and,
per dev category C, the thresholds fitted WITHOUT C (``fitted_on`` lists the others).
``resolve_calibration`` picks one by name: ``default``, ``without:<category>`` (for a
category outside the fitted set DEFAULT already never saw it, so it is DEFAULT), or a
JSON file holding one Calibration's fields. The zero-shot bench uses ``without:<the
evaluated category>``: a zero-shot row must not be judged with thresholds fitted on any
of that category's anomalies, not even its reserved third.

Units: ``visibility_good`` is a contrast-to-grain ratio (defect delta-E over the robust
std of the surrounding fine detail); ``abnormality_good`` is in units of the product's
normal 99th percentile (product/appearance.py); ``strength_power`` shapes both strength
terms: value = min(1, measure / good) ** power, so a fainter edit always scores lower
(the score keeps ranking over the whole range of real defects) and no real defect is
driven to zero;
``incoherence_good`` is the seam's boundary-step incoherence (critic/appearance.py,
dimensionless); ``replace_good`` is the visibility's replacement ratio (defect contrast
over the normal region's own spread under the mask, critic/appearance.py), 0 for unused;
``seam_good`` is the excess border sharpness (critic/appearance.py ``seam_measures``,
dimensionless) up to which a texture's seam term is full (objects keep 0.25: their real
defects' borders run along the part's own structural edges); the floors are points out of 5.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..records import _Record

SHIPPED_FILE = "calibrations.json"
MAX_FILE_BYTES = 64_000
CATEGORY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
THRESHOLDS = ("visibility_good", "abnormality_good", "strength_power", "incoherence_good", "location_floor",
              "quality_floor", "replace_good", "seam_good")


@dataclass(frozen=True)
class Calibration(_Record):
    """Thresholds of the critic (module docstring). ``fitted_on``: category names."""

    visibility_good: float = 3.0  # CNR at which visibility is full
    abnormality_good: float = 2.0  # abnormality (normal p99 units) at which that term is full
    strength_power: float = 0.5  # exponent of both strength ramps
    incoherence_good: float = 1.6  # seam: boundary steps this incoherent are still fine (zero at 2x)
    location_floor: float = 2.5  # pass needs location >= this (of 5)
    quality_floor: float = 2.5  # and quality >= this (of 5)
    replace_good: float = 0.0  # replacement ratio at which visibility is full (0: not used)
    seam_good: float = 0.25  # texture seams: excess border sharpness up to which the seam term is full (zero at 0.45)
    fitted_on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in THRESHOLDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"calibration: {name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if not (self.visibility_good > 0 and self.abnormality_good > 0 and self.incoherence_good > 0
                and 0 < self.strength_power <= 4):
            raise ValueError(f"calibration: need positive thresholds and 0 < strength_power <= 4, got {self}")
        if not 0 < self.seam_good < 0.45:
            raise ValueError(f"calibration: seam_good must lie in (0, 0.45) (the seam term is zero at 0.45), "
                             f"got {self.seam_good}")
        if not 0 <= self.replace_good <= 10:
            raise ValueError(f"calibration: replace_good must lie in [0, 10] (0: off), got {self.replace_good}")
        if not (0 <= self.location_floor <= 5 and 0 <= self.quality_floor <= 5):
            raise ValueError(f"calibration: floors must lie in [0, 5], got {self.location_floor}, {self.quality_floor}")
        if isinstance(self.fitted_on, str) or not all(isinstance(c, str) for c in self.fitted_on):
            raise ValueError(f"calibration: fitted_on must be a list of category names, got {self.fitted_on!r}")
        object.__setattr__(self, "fitted_on", tuple(self.fitted_on))

    def to_dict(self) -> dict[str, Any]:
        return {**{name: getattr(self, name) for name in THRESHOLDS}, "fitted_on": list(self.fitted_on)}


@lru_cache(maxsize=1)
def shipped() -> dict[str, Any]:
    """The package's calibration set: {"default": Calibration, "without": {category: Calibration}, ...}
    (read once; the records are frozen, so sharing them is safe)."""
    text = (resources.files(__package__) / SHIPPED_FILE).read_text(encoding="utf-8")
    data = json.loads(text)
    return {**data, "default": Calibration.from_dict(data["default"]),
            "without": {c: Calibration.from_dict(v) for c, v in data.get("without", {}).items()}}


DEFAULT: Calibration = shipped()["default"]


def calibration_names() -> list[str]:
    """The names ``resolve_calibration`` knows without a file: default and without:<category>."""
    return ["default"] + [f"without:{c}" for c in sorted(shipped()["without"])]


def read_calibration(path: str | Path) -> Calibration:
    """One Calibration from a JSON file (its fields, e.g. a ``calibration`` of bench_critic's
    output); a clear error naming the file otherwise."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"{path}: calibration file larger than {MAX_FILE_BYTES} bytes")
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the calibration: {exc.strerror or exc}") from None
    except ValueError as exc:  # not UTF-8, not JSON, NaN or Infinity
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a JSON calibration ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of calibration fields, got {type(data).__name__}")
    try:
        return Calibration.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


def resolve_calibration(choice: "str | Path | Calibration | None") -> Calibration:
    """The Calibration named by ``choice``: None or "default" (DEFAULT); "without:<category>"
    (the shipped fit without that category; DEFAULT for a category DEFAULT was not fitted
    on); a path to a ``.json`` file; or a Calibration itself. Raises ValueError otherwise."""
    if isinstance(choice, Calibration):
        return choice
    if choice is None or str(choice) == "default":
        return DEFAULT
    if not isinstance(choice, (str, Path)):
        raise ValueError(f"calibration must be default, without:<category> or a .json file, got {choice!r}")
    text = str(choice)
    if text.startswith("without:"):
        category = text[len("without:"):]
        if not CATEGORY_NAME.match(category):
            raise ValueError(f"calibration {text!r}: without:<category> needs a category folder name")
        table = shipped()["without"]
        if category in table:
            return table[category]
        if category in DEFAULT.fitted_on:  # would mean a shipped set without that entry
            raise ValueError(f"calibration {text!r}: no shipped fit without {category!r} (have {calibration_names()})")
        return DEFAULT  # DEFAULT never saw this category
    if text.endswith(".json"):
        return read_calibration(text)
    raise ValueError(f"calibration {text!r} must be one of {', '.join(calibration_names())}, without:<category>, "
                     "or a path to a .json file")
