"""The QE critic: measured terms (location, visibility, seam, texture, shape, colour,
optional learned realism) combined into a location + quality score with advice.

``judge`` is registered in ``CRITICS`` as "measured" (the default QE backend).
"""
from .judge import CRITICS, HARD_FAIL, Judgement, judge
from .term import PARAMETERS, TermResult

__all__ = ["CRITICS", "HARD_FAIL", "Judgement", "PARAMETERS", "TermResult", "judge"]
