"""The critic's calibrated thresholds, in one record.

Why a record: the thresholds that decide "too faint" and "acceptable" are fitted on real
defects (benchmarks/bench_critic.py, leave-one-category-out: each category is scored with
values fitted on the reserved first third of the OTHER categories' anomalies only), so
they must be swappable without touching the term code. ``DEFAULT`` is the fit on the
reserved thirds of all five dev categories (see docs/benchmarks.md, critic section, for
the command and the categories); pass ``calibration=`` to ``judge`` to use another.

Units: ``visibility_good`` is a contrast-to-grain ratio (defect delta-E over the robust
std of the surrounding fine detail); ``abnormality_bad``/``abnormality_good`` are in
units of the product's normal 99th percentile (product/appearance.py);
``incoherence_good`` is the seam's boundary-step incoherence (critic/appearance.py,
dimensionless); the floors are points out of 5.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..records import _Record


@dataclass
class Calibration(_Record):
    """Thresholds of the critic (module docstring). ``fitted_on``: category names."""

    visibility_good: float = 3.0  # CNR at which visibility is full (zero at a third of it)
    abnormality_bad: float = 0.8  # defect no odder than this vs the normal model: fails
    abnormality_good: float = 2.0  # full value from here
    incoherence_good: float = 1.6  # seam: boundary steps this incoherent are still fine (zero at 2x)
    location_floor: float = 2.5  # pass needs location >= this (of 5)
    quality_floor: float = 2.5  # and quality >= this (of 5)
    fitted_on: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (self.visibility_good > 0 and 0 < self.abnormality_bad < self.abnormality_good
                and self.incoherence_good > 0):
            raise ValueError(f"calibration: need visibility_good > 0 and 0 < abnormality_bad < abnormality_good, got {self}")
        if not (0 <= self.location_floor <= 5 and 0 <= self.quality_floor <= 5):
            raise ValueError(f"calibration: floors must lie in [0, 5], got {self.location_floor}, {self.quality_floor}")


DEFAULT = Calibration()
