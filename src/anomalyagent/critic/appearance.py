"""Appearance terms: visibility, seam, texture consistency and colour relation.

Each is a pure function of the shared ``Views`` (critic/views.py); luminance and
differences are in CIE L* / delta-E units, grain is the high-pass detail (``highpass``).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from .calibration import DEFAULT
from .term import TermResult, band, ramp
from .views import Views, robust_std

MIN_PIXELS = 6  # fewer measurable pixels than this: the term abstains (value 1)
# A strength term (visibility, abnormality) whose measurement is under this share of its
# calibrated full point advises "too faint". Lower than the usual 0.5: the full point is
# calibrated high, so that the score keeps ranking clear defects, and half of it is still
# a clearly visible defect. Read on the measurement, not on the term's value: the value is
# that share raised to the calibrated power, and the advice must not depend on the power.
FAINT = 0.2
STRENGTH_TIE = 0.01  # the most a strength term gives up to keep ranking above its full point (strength_value)


def defect_contrast(v: Views) -> float:
    """The defect's contrast: 90th percentile of delta-E inside the mask (its peak change,
    robust to single outliers and to a mask somewhat larger than the defect)."""
    return float(np.percentile(v.diff[v.mask], 90))


def visibility_values(contrast: float, cnr: float, cnr_good: float, power: float, replace: float = float("inf"),
                      replace_good: float = 0.0) -> tuple[float, float]:
    """(faint, strong) parts of the visibility term from its raw measurements: contrast in
    delta-E, the contrast-to-noise ratio and the replacement ratio (see ``visibility_term``);
    ``replace_good`` 0 leaves the replacement ratio out."""
    share = min(max(contrast, 0.0) / 8.0, max(cnr, 0.0) / cnr_good)
    if replace_good > 0:
        share = min(share, max(replace, 0.0) / replace_good)
    return strength_value(share, power), ramp(contrast, 100.0, 80.0)


def strength_value(share: float, power: float) -> float:
    """A strength term's value from ``share``, its measurement over its full point:
    min(1, share) ** power, less STRENGTH_TIE * exp(-share).

    Why the small second part: above the full point the plain ramp is flat, so a real
    defect and its faded copy that both clear it tie at 1.0 and the score no longer ranks
    them (hazelnut's print at 20 % contrast still clears every full point). The second
    part keeps the order (a stronger edit always scores a little higher) while changing
    no value by more than STRENGTH_TIE and vanishing once the measurement is a few times
    its full point (0.05 % at 5x), so it gives no real pull towards ever stronger edits."""
    share = max(float(share), 0.0)
    return min(1.0, share) ** power * (1.0 - STRENGTH_TIE * math.exp(-share))


def replacement_ratio(v: Views) -> float:
    """The defect's contrast over the normal region's own spread of lightness under the mask
    (10th to 90th percentile, at least the grain): how much of what was there changed.

    Why: a real defect replaces or hides what was under it (a cut lead leaves board where
    the lead was; a stain covers the grain) by about as much as the region itself varies;
    a faded copy changes it by a fraction (a ghost of the lead over the board), however
    high the contrast of what it fades in. On a flat region the spread is the grain, so
    this adds nothing there to the contrast-to-noise ratio."""
    inside = v.normal[v.mask]
    if inside.size < MIN_PIXELS:
        return float("inf")
    lo, hi = np.percentile(inside, [10, 90])
    return defect_contrast(v) / max(float(hi - lo), v.noise)


def visibility_term(v: Views, cnr_good: float | None = None, power: float | None = None,
                    replace_good: float | None = None) -> TermResult:
    """Contrast of the change against the image's own grain (contrast-to-noise ratio).

    A defect must be visible twice over: in absolute terms (a just-noticeable difference
    is ~2.3 delta-E; full value from 8, i.e. ~3.5 JND) and against the grain (Rose's
    criterion: full value from ``cnr_good`` noise units, calibrated in
    critic/calibration.py; default ``critic.calibration.DEFAULT``); below that the value falls as (measure / full) ** power, so a
    fainter edit always scores lower. With ``replace_good`` > 0 it must also change the
    region by that share of the region's own spread (``replacement_ratio``: a faded
    structural change keeps most of what was there). Too faint (the measurement under FAINT of
    its full point, i.e. value < strength_value(FAINT, power)) advises "increase
    intensity"; absurdly strong (over 80 delta-E: most of the black-to-white range,
    beyond any real defect) fails with "decrease intensity".
    """
    c = defect_contrast(v)
    cnr = c / v.noise
    cnr_good = DEFAULT.visibility_good if cnr_good is None else cnr_good
    power = DEFAULT.strength_power if power is None else power
    replace_good = DEFAULT.replace_good if replace_good is None else replace_good
    replace = replacement_ratio(v)
    faint, strong = visibility_values(c, cnr, cnr_good, power, replace, replace_good)
    result = TermResult("visibility", min(faint, strong), {"contrast": c, "noise": v.noise, "cnr": cnr,
                                                           "replace": min(replace, 1e6)})
    if faint < strength_value(FAINT, power):  # the share under FAINT (strength_value is increasing)
        result.parameter, result.direction = "intensity", "increase"
        if replace_good > 0 and replace / replace_good < min(c / 8.0, cnr / cnr_good):
            result.text = (f"The defect looks see-through: it changes the region by {replace:.0%} of the region's own "
                           "variation, the rest of what was there still shows; increase its intensity (opacity).")
        else:
            result.text = f"The defect is too faint ({cnr:.1f}x the image noise); increase its intensity."
    elif strong < 0.5:
        result.parameter, result.direction = "intensity", "decrease"
        result.text = f"The defect is implausibly strong ({c:.0f} delta-E); decrease its intensity."
    return result


def texture_ratio(v: Views) -> float:
    """Grain inside the defect (away from its boundary) over grain around it (ratio)."""
    inside = v.grain[v.core]
    if inside.size < MIN_PIXELS:
        return 1.0
    return robust_std(inside) / v.noise


def resolution_ratio(v: Views) -> float:
    """Fine-to-medium detail of the defect's own content: robust std of (L - blur 1 px)
    over robust std of (blur 1 px - blur 3 px), inside the core; 1 when unmeasurable.

    Why: anything imaged by the same camera carries detail down to the pixel scale
    (texture or sensor noise: ratio >= ~0.45 on the calibration data); a patch upsampled
    k times has its detail moved k times coarser (ratio ~ 1/k), one blurred or painted
    flat has none. It is relative to the defect's own contrast, so a smooth material
    with real grain passes.
    """
    if int(v.core.sum()) < 20:
        return 1.0
    g1 = cv2.GaussianBlur(v.edited, (0, 0), 1.0)
    g3 = cv2.GaussianBlur(g1, (0, 0), 2.83)  # sqrt(3^2 - 1^2): blur 3 px overall
    medium = robust_std((g1 - g3)[v.core])
    fine = robust_std((v.edited - g1)[v.core])
    if medium < 0.05 and fine < 0.05:
        return 0.0  # perfectly flat: no detail at any scale
    return fine / max(medium, 1e-3)


def texture_term(v: Views, stats=None) -> TermResult:
    """Texture consistency: a patch much smoother than its surroundings (painted, flat),
    much noisier, or lacking pixel-scale detail (upsampled, blurred) fails.

    ``stats``: the product's ProductStats (product/appearance.py); when given, the
    resolution check is relative to the product's own fine detail: full value down to
    2/3 of its normal windows' low (10th percentile) ratio, zero at 1/3 of it - a patch
    enlarged 3x has its detail moved 3x coarser - so a smooth product (a moulded case) is
    not "blurred" for lacking grain and a grainy one (asphalt) is held to its grain.
    Without stats: the generic ramp 0.25-0.45."""
    r = texture_ratio(v)
    res = resolution_ratio(v)
    grain = band(r, 0.15, 0.45, 25.0, 80.0)
    bad, good = 0.25, 0.45
    if stats is not None and float(stats.resolution[0]) > 0.0:
        bad, good = float(stats.resolution[0]) / 3.0, float(stats.resolution[0]) / 1.5
    sharp = ramp(res, bad, good)
    result = TermResult("texture", min(grain, sharp), {"grain_ratio": r, "resolution": res})
    if grain < 0.5:
        result.parameter = "texture"
        if r < 1.0:
            result.direction = "increase"
            result.text = f"The defect is too smooth ({r:.2f}x the surrounding grain); keep or add the surface texture."
        else:
            result.direction = "decrease"
            result.text = f"The defect is too noisy ({r:.1f}x the surrounding grain); reduce its texture."
    elif sharp < 0.5:
        result.parameter, result.direction = "size", "decrease"
        result.text = ("The defect looks blurred or enlarged (it lacks pixel-scale detail); draw it at the "
                       "image's resolution and smaller, not scaled up.")
    return result


def boundary_pairs(lum: np.ndarray, inside: np.ndarray, outside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steps across a boundary, for every 4-neighbour pair p (inside) -> q = p + d (outside).

    Returns (s1, s3): |L(p) - L(q)|, the one-pixel step, and |L(p - d) - L(q + d)|, the
    step over three pixels centred on the same place (L* units, 1-D arrays).
    """
    e = np.pad(lum, 2, mode="edge")
    i, o = np.pad(inside, 2), np.pad(outside, 2)
    h, w = lum.shape
    s1, s3 = [], []
    for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
        def at(a: np.ndarray, k: int) -> np.ndarray:  # a[y + k*dy, x + k*dx] over the unpadded frame
            return a[2 + k * dy: 2 + k * dy + h, 2 + k * dx: 2 + k * dx + w]
        sel = at(i, 0) & at(o, 1)
        s1.append(np.abs(at(e, 0) - at(e, 1))[sel])
        s3.append(np.abs(at(e, -1) - at(e, 2))[sel])
    return np.concatenate(s1), np.concatenate(s3)


def step_sharpness(s1: np.ndarray, s3: np.ndarray) -> float:
    """Share of a step that happens between two adjacent pixels, weighted to strong steps:
    sum(s1 * s3) / sum(s3^2). About 0.3-0.5 for camera edges (the optics spread an edge
    over 2+ pixels), 1 for a binary cut-out pasted after capture."""
    den = float((s3 * s3).sum())
    return float((s1 * s3).sum()) / den if den > 1e-9 else 0.0


def signed_steps(lum: np.ndarray, inside: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """L(p) - L(q) for every 4-neighbour pair p (inside) -> q = p + d (outside), 1-D (L*)."""
    e = np.pad(lum, 1, mode="edge")
    o = np.pad(outside, 1)
    h, w = lum.shape
    out = []
    for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
        def at(a: np.ndarray) -> np.ndarray:  # a[y + dy, x + dx] over the unpadded frame
            return a[1 + dy: 1 + dy + h, 1 + dx: 1 + dx + w]
        sel = inside & at(o)
        out.append((lum - at(e))[sel])
    return np.concatenate(out)


def incoherence(v: Views) -> float:
    """How much the steps across the mask boundary look like a texture cut, not a defect's
    edge: std(d) / rms(natural neighbour steps in the ring) * (1 - |mean(d)| / rms(d)),
    where d are the signed inside-minus-outside steps across the boundary.

    Why: a real defect's border is a consistent step (a crack is darker than the surface
    all along it: |mean| close to rms), and a pasted patch of the surface taken from
    elsewhere meets its surroundings with steps of random sign, larger than neighbouring
    pixels of one continuous texture ever make (std above the natural steps). About
    0.3-1.1 on real defects of textured surfaces, 1-2 and more on CutPaste borders.
    """
    d = signed_steps(v.edited, v.mask, ~v.mask)
    nat = signed_steps(v.edited, v.ring, v.ring)
    if d.size < MIN_PIXELS or nat.size < MIN_PIXELS:
        return 0.0
    rms = float(np.sqrt((d * d).mean()))
    natural = max(float(np.sqrt((nat * nat).mean())), 0.5)
    return float(d.std()) / natural * (1.0 - abs(float(d.mean())) / max(rms, 1e-6))


def seam_measures(v: Views, product_sharpness: float = 0.0) -> dict[str, float]:
    """Sharpness of the mask boundary's steps vs the image's natural edges.

    ``sharpness``: ``step_sharpness`` of the pairs straddling the mask boundary;
    ``natural``: the same over neighbouring pairs inside the surrounding ring;
    ``excess``: (sharpness - natural) / (1 - natural), 0 when the boundary is as soft as
    the image's own edges, 1 when it is a perfect one-pixel step. ``natural`` is at least
    ``product_sharpness`` (the median sharpness of the product's own strongest edges over
    its normal images): a ring without strong edges says little about how sharp the
    product's edges may be.

    Measured on the mask's boundary only: the mask must follow the edit's border (a
    renderer's alpha > 0.5 does; a mask derived from the change can stop short of a
    background-on-background cut line, and then the seam goes unseen). Checking the
    border of "where anything changed" instead was tried and rejected: choosing pixels
    by their difference biases the step statistics on real defects.
    """
    b1, b3 = boundary_pairs(v.edited, v.mask, ~v.mask)
    n1, n3 = boundary_pairs(v.edited, v.ring, v.ring)
    if b1.size < MIN_PIXELS or n1.size < MIN_PIXELS:
        return {"sharpness": 0.0, "natural": 0.0, "excess": 0.0, "incoherence": 0.0}
    sharp, natural = step_sharpness(b1, b3), max(step_sharpness(n1, n3), product_sharpness)
    return {"sharpness": sharp, "natural": natural, "excess": (sharp - natural) / max(1.0 - natural, 0.05),
            "incoherence": incoherence(v)}


SEAM_ZERO = 0.45  # excess border sharpness at which the seam term is zero
SEAM_OBJECT_GOOD = 0.25  # on objects the seam term is full up to this excess


def seam_value(excess: float, incoherent: float, incoherence_good: float, texture: bool = True,
               seam_good: float = SEAM_OBJECT_GOOD) -> float:
    """The seam term's value from its raw measurements (see ``seam_term``); ``seam_good``
    (the excess at which the term is full) applies to textures only."""
    value = ramp(excess, SEAM_ZERO, seam_good if texture else SEAM_OBJECT_GOOD)
    if texture:
        value = min(value, ramp(incoherent, 2.0 * incoherence_good, incoherence_good))
    return value


def seam_term(v: Views, stats=None, incoherence_good: float | None = None, texture: bool = True,
              seam_good: float | None = None) -> TermResult:
    """Seam: a border cut with a binary alpha is sharper than every edge the camera made
    in the same image (zero from an excess sharpness of 0.45; full up to 0.25 on objects,
    whose real defects reach ~0.3 where their border runs along the part's own edges - a
    lead's, a case's - and up to ``seam_good``, calibrated, on textures, whose real
    defects stay under ~0.2 with 90 % under 0.06 on the reserved thirds); on a texture
    (a surface filling the frame), a patch of surface pasted from elsewhere also meets
    its surroundings with incoherent steps (``incoherence``: full value up to
    ``incoherence_good``, calibrated, zero at twice that). Not on objects: there a real
    defect sits on the part's structure (a crack with a pale rim across the shell
    stripes) and its border is incoherent too."""
    incoherence_good = DEFAULT.incoherence_good if incoherence_good is None else incoherence_good
    seam_good = DEFAULT.seam_good if seam_good is None else seam_good
    m = seam_measures(v, float(stats.edge_sharpness[1]) if stats is not None else 0.0)
    m["texture"] = 1.0 if texture else 0.0
    value = seam_value(m["excess"], m["incoherence"], incoherence_good, texture, seam_good)
    result = TermResult("seam", value, m)
    if value < 0.5:
        result.parameter, result.direction = "blend", "soften"
        result.text = ("The defect's border is a visible cut-out line (sharper or more abrupt than the product's "
                       "own edges); blend it softly into the surface (feather).")
    return result


def color_term(v: Views, relation: str | None) -> TermResult:
    """Colour relation: the sign of the lightness change against the knowledge base's
    ``relation`` ("darker"/"lighter"; other relations are not checked here)."""
    signed = v.signed[v.mask]
    shift = float(np.median(signed))
    measured = {"lightness_shift": shift}
    if relation not in ("darker", "lighter"):
        return TermResult("color", 1.0, measured)
    s = shift / v.noise if relation == "lighter" else -shift / v.noise
    value = ramp(s, -1.0, 0.0)
    result = TermResult("color", value, measured)
    if value < 0.5:
        result.parameter, result.direction = "color", relation
        result.text = f"This defect is usually {relation} than the surface; make it {relation}."
    return result
