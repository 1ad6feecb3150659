"""The QE critic: measured terms (location, visibility, abnormality against the product's
normal appearance, seam, texture, shape, colour, spill, optional learned realism)
combined into a location + quality score with advice; pass needs a floor on each half.

``judge`` is registered in ``CRITICS`` as "measured" (the default QE backend); its
thresholds are a ``Calibration`` record (``critic.calibration.DEFAULT``), and ``rescore``
applies another calibration to an existing ``Judgement``.
"""
from .calibration import Calibration
from .judge import CRITICS, HARD_FAIL, Judgement, judge, rescore
from .term import PARAMETERS, TermResult

__all__ = ["CRITICS", "Calibration", "HARD_FAIL", "Judgement", "PARAMETERS", "TermResult", "judge", "rescore"]
