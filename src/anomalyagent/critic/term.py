"""The result of one critic term and the soft thresholds that turn a measurement into it.

A term measures one physical property (in stated units), maps it to a value in [0, 1]
(1 = good, 0 = bad) with a soft ramp, and, when the value is low, says which edit
parameter to change and in which direction. Ramps are piecewise linear in the log of the
measurement where the property is a ratio (contrast/noise, grain inside/outside), so a
factor of two counts the same at every scale.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

# Parameters a policy can change (DefectSpec fields or a change of family/location).
PARAMETERS = ("location", "size", "intensity", "blend", "family", "color", "aspect", "texture")
FAIL_BELOW = 0.5  # a term under this value is failing and produces advice


@dataclass
class TermResult:
    """One measured term: ``value`` in [0, 1]; ``measured`` holds the raw numbers (units in
    the term's docstring); ``parameter``/``direction``/``text`` say what to change when the
    value is low (empty when the term has nothing to advise); ``scale``, when > 0, by what
    factor (a size that is four times too small asks for about 4, not one fixed step)."""

    name: str
    value: float
    measured: dict[str, float] = field(default_factory=dict)
    parameter: str = ""
    direction: str = ""
    text: str = ""
    scale: float = 0.0  # advised factor for a size/aspect change (critic/advice.py); 0: the policy's own step

    def __post_init__(self) -> None:
        self.value = float(min(1.0, max(0.0, self.value)))
        if self.parameter and self.parameter not in PARAMETERS:
            raise ValueError(f"{self.name}: parameter {self.parameter!r} must be one of {PARAMETERS}")

    @property
    def failing(self) -> bool:
        return self.value < FAIL_BELOW


def ramp(x: float, bad: float, good: float) -> float:
    """0 at ``bad``, 1 at ``good``, linear between (either order), clipped to [0, 1]."""
    if bad == good:
        return 1.0 if x >= good else 0.0
    t = (x - bad) / (good - bad)
    return float(min(1.0, max(0.0, t)))


def log_ramp(x: float, bad: float, good: float) -> float:
    """``ramp`` on log(x): for ratios, where halving matters as much as doubling."""
    x = max(float(x), 1e-9)
    return ramp(math.log(x), math.log(bad), math.log(good))


def band(x: float, bad_low: float, good_low: float, good_high: float, bad_high: float) -> float:
    """1 inside [good_low, good_high], falling (in log) to 0 at ``bad_low`` and ``bad_high``."""
    return min(log_ramp(x, bad_low, good_low), log_ramp(x, bad_high, good_high))
