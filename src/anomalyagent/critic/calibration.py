"""The critic's calibrated thresholds, in one record.

Why a record: the thresholds that decide "too faint" and "acceptable" are fitted on real
defects (benchmarks/bench_critic.py, leave-one-category-out: each category is scored with
values fitted on the reserved first third of the OTHER categories' anomalies only), so
they must be swappable without touching the term code. ``DEFAULT`` is the fit on the
reserved thirds of all five dev categories (see docs/benchmarks.md, critic section, for
the command and the categories); pass ``calibration=`` to ``judge`` to use another.

Units: ``visibility_good`` is a contrast-to-grain ratio (defect delta-E over the robust
std of the surrounding fine detail); ``abnormality_good`` is in units of the product's
normal 99th percentile (product/appearance.py); ``strength_power`` shapes both strength
terms: value = min(1, measure / good) ** power, so a fainter edit always scores lower
(the score keeps ranking over the whole range of real defects) and no real defect is
driven to zero;
``incoherence_good`` is the seam's boundary-step incoherence (critic/appearance.py,
dimensionless); the floors are points out of 5.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..records import _Record


@dataclass
class Calibration(_Record):
    """Thresholds of the critic (module docstring). ``fitted_on``: category names."""

    visibility_good: float = 3.0  # CNR at which visibility is full
    abnormality_good: float = 2.0  # abnormality (normal p99 units) at which that term is full
    strength_power: float = 0.5  # exponent of both strength ramps
    incoherence_good: float = 1.6  # seam: boundary steps this incoherent are still fine (zero at 2x)
    location_floor: float = 2.5  # pass needs location >= this (of 5)
    quality_floor: float = 2.5  # and quality >= this (of 5)
    fitted_on: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (self.visibility_good > 0 and self.abnormality_good > 0 and self.incoherence_good > 0
                and 0 < self.strength_power <= 4):
            raise ValueError(f"calibration: need positive thresholds and 0 < strength_power <= 4, got {self}")
        if not (0 <= self.location_floor <= 5 and 0 <= self.quality_floor <= 5):
            raise ValueError(f"calibration: floors must lie in [0, 5], got {self.location_floor}, {self.quality_floor}")


# benchmarks/bench_critic.py "calibration_all": fitted on the reserved first thirds of
# crackforest, hazelnut, magnetic_tile, neu_seg and transistor (2026-11-30). A category
# outside these five is judged with thresholds that never saw it; for these five, the
# benchmark's per-category numbers use thresholds fitted without them.
DEFAULT = Calibration(visibility_good=24.0, abnormality_good=1.5, strength_power=1.0, incoherence_good=0.8,
                      location_floor=3.5, quality_floor=2.0,
                      fitted_on=["crackforest", "hazelnut", "magnetic_tile", "neu_seg", "transistor"])
