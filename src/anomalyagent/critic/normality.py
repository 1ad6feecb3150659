"""Terms judged against the product's normal appearance (product/appearance.py).

- ``abnormality_term``: inside the mask the edit must look unlike every normal patch of
  the product (a faded defect looks like the product's own variation and fails "too
  faint"); measured as the 90th percentile of ``NormalAppearance.abnormality`` over the
  mask pixels of the edited image, in units of the normal 99th percentile;
- ``spill_term``: nothing may change outside the mask (an edit that repaints the part
  around the defect, or whose mask misses what it changed).

Both read only the crop around the defect (``Views.box``) plus a context margin for the
features' blurs, so the cost follows the defect's size (a few ms at 256x256).
"""
from __future__ import annotations

import numpy as np

from .appearance import FAINT, strength_value
from .calibration import Calibration
from .term import TermResult, ramp
from .views import Views, grow

CONTEXT = 8  # px of context around the crop for the feature blurs (sigma <= 4 px)
FINE_AREA = 96 * 96  # crops larger than this are evaluated at every other pixel (cost / 4)
SPILL_LEVEL = 12.0  # grey levels: a change this large outside the mask counts as spill


def crop_abnormality(model, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Abnormality (h, w) over ``box`` = (y0, y1, x0, x1) of ``image``, with context."""
    y0, y1, x0, x1 = box
    h, w = image.shape[:2]
    Y0, Y1, X0, X1 = max(0, y0 - CONTEXT), min(h, y1 + CONTEXT), max(0, x0 - CONTEXT), min(w, x1 + CONTEXT)
    stride = 2 if (Y1 - Y0) * (X1 - X0) > FINE_AREA else 1
    a = model.abnormality(np.ascontiguousarray(image[Y0:Y1, X0:X1]), stride=stride, origin=(Y0, X0), frame=(h, w))
    return a[y0 - Y0: y0 - Y0 + (y1 - y0), x0 - X0: x0 - X0 + (x1 - x0)]


def abnormality_value(inside: float, cal: Calibration) -> float:
    """The term's value from its raw measurement (90th percentile abnormality inside)."""
    return strength_value(max(inside, 0.0) / cal.abnormality_good, cal.strength_power)


def abnormality_term(v: Views, model, edited: np.ndarray, cal: Calibration, counted: bool = True) -> TermResult:
    """How abnormal the edited defect is against the product's normal appearance.

    ``counted`` False: the term is measured and reported but marked (``measured["counted"]
    = 0``) so that the judge leaves it out of quality and gives no advice from it. For edits
    that move or remove material (a bent or cut lead, a displaced part) the defect shows
    the product's own materials (board where a lead was, a lead over board): patch by
    patch they look normal, while a faded copy is a mixture of two materials that no
    normal patch has, so the term ranks the fade ABOVE the real defect (transistor's
    reserved cut lead: 0.92 real against 0.95 faded; its test bent and cut leads: 0.55
    and 0.81 real against 0.87 and 1.0 faded). Their strength is read on visibility and
    its replacement ratio instead (critic/appearance.py)."""
    a = crop_abnormality(model, edited, v.box)
    inside = float(np.percentile(a[v.mask], 90))
    ring = float(np.percentile(a[v.ring], 90)) if v.ring.any() else 0.0
    value = abnormality_value(inside, cal)
    result = TermResult("abnormality", value, {"inside": inside, "ring": ring, "counted": float(counted)})
    if counted and value < strength_value(FAINT, cal.strength_power):  # the measurement under FAINT of its full point
        result.parameter, result.direction = "intensity", "increase"
        result.text = (f"The defect is too faint: it is no more unusual than the product's own normal variation "
                       f"({inside:.1f}x its normal spread); increase its intensity.")
    return result


def spill_fraction(normal: np.ndarray, edited: np.ndarray, mask: np.ndarray, margin: int) -> float:
    """Pixels changed by more than SPILL_LEVEL outside the mask grown by ``margin`` px,
    over the mask's area (0 = nothing changed outside)."""
    d = np.abs(edited.astype(np.int16) - normal.astype(np.int16))
    changed = (d.max(axis=2) if d.ndim == 3 else d) > SPILL_LEVEL
    outside = changed & ~grow(mask, margin)
    return float(np.count_nonzero(outside)) / max(1, int(mask.sum()))


def spill_term(normal: np.ndarray, edited: np.ndarray, mask: np.ndarray, margin: int) -> TermResult:
    """Nothing changed outside the mask: full value up to 5 % of the mask's area changed
    outside it, zero from 50 % (a second, unmasked change as large as half the defect)."""
    frac = spill_fraction(normal, edited, mask, margin)
    value = ramp(frac, 0.5, 0.05)
    result = TermResult("spill", value, {"outside": frac})
    if value < 0.5:
        result.parameter, result.direction = "blend", "sharpen"
        result.text = (f"The edit changed the image outside the defect ({frac:.0%} of the defect's area); "
                       "keep the change inside the defect and leave the rest of the part untouched.")
    return result
