"""Planning a defect: knowledge-base priors -> DefectSpec -> localized edit instruction.

The PG tool samples a spec from the knowledge entry's priors and places it where such a
defect occurs on this image (on the object for object categories; anywhere on textures;
near the object's boundary for edge/rim defects). ``refine`` applies a critic's advice
to a spec, the way the policy does after a failed QE.
"""
from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from .critic.advice import advice_scale
from .knowledge.entry import KnowledgeEntry
from .product.parts import piece_shape
from .product.regions import Region, resolve_region
from .records import COLOR_RELATIONS, DefectSpec
from .render.shapes import frame

EDGE_LOCATIONS = ("edge", "rim", "corner", "lead")


def _uniform(rng: np.random.Generator, bounds: Any, default: float) -> float:
    if bounds is None:
        return default
    if isinstance(bounds, (int, float)):
        return float(bounds)
    lo, hi = float(bounds[0]), float(bounds[1])
    return lo if hi <= lo else float(rng.uniform(lo, hi))


def sample_angle(prior: Any, rng: np.random.Generator) -> float:
    """An angle (degrees) from an entry's ``angle`` prior: "any" (or none) is uniform in
    [0, 180); "axis" is 0 or 90 plus a 2-degree jitter (a scratch or streak along the
    transport direction of a strip or web, which a line camera films along an image axis;
    which axis is not known, so both are drawn); [low, high] is uniform in that range."""
    if prior in (None, "any"):
        return float(rng.uniform(0, 180))
    if prior == "axis":
        return float((90.0 * int(rng.integers(0, 2)) + rng.normal(0.0, 2.0)) % 180.0)
    return _uniform(rng, prior, 0.0)


def angle_is_free(entry: KnowledgeEntry | None) -> bool:
    """Whether ``entry``'s defects may take any orientation (placement may redraw it)."""
    prior = (entry.priors or {}).get("angle", "any") if entry is not None else "any"
    return prior in (None, "any")


def placement_region(fg: np.ndarray, location: str, size: float) -> np.ndarray:
    """(H, W) bool: where a defect centre may go.

    ``size`` is the defect's extent as a fraction of min(H, W). Surface defects keep
    their centre 0.45 of their size inside the object (a third when that leaves no room);
    edge/rim defects sit in a band along the object's boundary (the image border for
    textures).
    """
    h, w = fg.shape
    side = min(h, w)
    dist = cv2.distanceTransform(np.pad(fg, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    if location in EDGE_LOCATIONS:
        band = (dist > 0.01 * side) & (dist < max(0.06 * side, 0.35 * size * side))
        if band.sum() > 0.002 * h * w:
            return band
    # Keep the whole defect on the part when it fits (its half-extent inside), else a third.
    for reach in (0.45, 1.0 / 3.0):
        inner = dist > max(1.0, reach * size * side)
        if inner.sum() > 0.002 * h * w:
            return inner
    return fg if fg.any() else np.ones_like(fg)


def sample_center(region: np.ndarray, rng: np.random.Generator,
                  coords: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[float, float]:
    """A uniformly drawn point of ``region`` as (x, y) fractions. ``coords``: the region's
    ``np.nonzero`` when the caller draws several times from it."""
    ys, xs = coords if coords is not None else np.nonzero(region)
    i = int(rng.integers(len(ys)))
    h, w = region.shape
    return (round(float(xs[i]) / max(w - 1, 1), 4), round(float(ys[i]) / max(h - 1, 1), 4))


def sample_spec(entry: KnowledgeEntry, image: np.ndarray, fg: np.ndarray, rng: np.random.Generator,
                parts: dict[str, np.ndarray] | None = None) -> DefectSpec:
    """A DefectSpec drawn from ``entry``'s priors and placed on ``fg`` ((H, W) bool).

    With ``parts`` (a product model's ``locate`` output) the defect goes on the part its
    knowledge names, sized relative to that part (see ``place_on_part``); without, the
    draw is exactly what it always was (same seed, same spec).
    """
    priors = entry.priors or {}
    lo, hi = entry.size
    size = float(math.exp(rng.uniform(math.log(lo), math.log(max(hi, lo)))))  # log-uniform
    angle = sample_angle(priors.get("angle", "any"), rng)
    spec = DefectSpec(
        family=entry.family,
        defect_type=entry.defect,
        category=entry.category,
        center=sample_center(placement_region(fg, entry.location, size), rng),
        size=round(size, 4),
        angle=round(angle, 1),
        aspect=round(max(1.0, _uniform(rng, priors.get("aspect"), 1.0)), 3),
        intensity=round(min(1.0, max(0.05, _uniform(rng, priors.get("intensity"), 0.6))), 3),
        color=str(priors.get("color", entry.color)),
        texture=str(priors.get("texture", "keep")),
        blend=str(priors.get("blend", "feather")),
        params={k: (_uniform(rng, v, 0.0) if isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v) else v)
                for k, v in dict(priors.get("params", {})).items()},
    )
    if parts:
        region = resolve_region(entry.location, entry.defect, parts)
        spec = place_on_part(spec, region, rng, free_angle=angle_is_free(entry), image=image)
    return spec.replace(instruction=instruction(spec, entry))


def footprint(spec: DefectSpec, shape: tuple[int, ...]) -> np.ndarray:
    """(H, W) bool: the ellipse a spec plans (length = size x min(H, W), width = length / aspect)."""
    f = frame(shape, spec)
    mask = np.zeros(shape[:2], np.uint8)
    axes = (max(1, round(8 * f.length / 2)), max(1, round(8 * f.width / 2)))
    cv2.ellipse(mask, (round(8 * f.cx), round(8 * f.cy)), axes, -math.degrees(f.theta), 0, 360, 1, -1, cv2.LINE_8, 3)
    return mask > 0


def footprint_box(spec: DefectSpec, shape: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, int]]:
    """(crop (h, w) bool, (y0, x0) of the crop in the frame): ``footprint`` drawn in the
    ellipse's own box, the frame's pixels outside it being False. The same ellipse shifted by
    whole pixels (8 units of its 3-bit fixed point), so the same pixels (tests compare 20 000
    random specs); a placement tries a dozen centres, and a full frame each was most of it."""
    f = frame(shape, spec)
    h, w = shape[:2]
    axes = (max(1, round(8 * f.length / 2)), max(1, round(8 * f.width / 2)))
    cx8, cy8 = round(8 * f.cx), round(8 * f.cy)
    reach = (max(axes) + 7) // 8 + 2
    x0, y0 = max(0, cx8 // 8 - reach), max(0, cy8 // 8 - reach)
    x1, y1 = min(w, cx8 // 8 + reach + 1), min(h, cy8 // 8 + reach + 1)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0), bool), (0, 0)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.ellipse(mask, (cx8 - 8 * x0, cy8 - 8 * y0), axes, -math.degrees(f.theta), 0, 360, 1, -1, cv2.LINE_8, 3)
    return mask > 0, (y0, x0)


def on_part_fraction(spec: DefectSpec, part: np.ndarray) -> float:
    """Share (0-1) of the spec's footprint lying on the (H, W) bool ``part``."""
    fp, (y0, x0) = footprint_box(spec, part.shape)
    n = int(np.count_nonzero(fp))
    return 0.0 if n == 0 else float(np.count_nonzero(part[y0:y0 + fp.shape[0], x0:x0 + fp.shape[1]][fp])) / n


def _orientation(piece: np.ndarray, center_px: tuple[float, float], radius: float,
                 coords: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Direction (DefectSpec degrees, CCW from +x, y down) of ``piece`` near ``center_px``
    (``coords``: the piece's ``np.nonzero``, when known)."""
    ys, xs = coords if coords is not None else np.nonzero(piece)
    near = (xs - center_px[0]) ** 2 + (ys - center_px[1]) ** 2 <= max(radius, 3.0) ** 2
    if near.sum() >= 3:
        xs, ys = xs[near], ys[near]
    if len(xs) < 3:
        return 0.0
    cov = np.cov(np.stack([xs, ys]).astype(np.float64))
    vals, vecs = np.linalg.eigh(cov)
    dx, dy = vecs[:, int(np.argmax(vals))]
    return float(math.degrees(math.atan2(-dy, dx)) % 180.0)


def distinct_core(piece: np.ndarray, image: np.ndarray) -> np.ndarray:
    """The half of a thin ``piece`` whose colour differs most from the ring of background around
    it: the metal of a lead, not the shadow its mask may carry along one side."""
    p8 = piece.astype(np.uint8)
    ring = (cv2.dilate(p8, np.ones((11, 11), np.uint8)) > 0) & ~(cv2.dilate(p8, np.ones((5, 5), np.uint8)) > 0)
    if not ring.any() or image.shape[:2] != piece.shape:
        return piece
    pixels = image.reshape(*piece.shape, -1).astype(np.float32)
    background = np.median(pixels[ring], axis=0)
    contrast = np.linalg.norm(pixels[piece] - background, axis=1)
    core = np.zeros_like(piece)
    core[piece] = contrast >= np.median(contrast)
    return core if core.sum() >= 3 else piece


def place_on_part(spec: DefectSpec, region: Region, rng: np.random.Generator, tries: int = 12,
                  free_angle: bool = True, image: np.ndarray | None = None) -> DefectSpec:
    """Put ``spec`` on ``region``'s part: size at most 0.9 of the part's length; on a thin part
    (a lead) one piece is chosen, the defect runs along it and is no wider than it. Up to
    ``tries`` centres (and angles, when the prior allows any) are drawn and the one whose
    footprint lies most on the part is kept. ``params["part"]`` names the part."""
    h, w = region.part.shape
    side = float(min(h, w))
    piece, allowed = region.part, region.mask
    if region.thin and region.labels is not None:
        ids = np.unique(region.labels[region.part & (region.labels > 0)])
        if len(ids):
            piece = region.labels == ids[int(rng.integers(len(ids)))]
            allowed = piece
    if not piece.any():
        piece = allowed = region.part if region.part.any() else np.ones((h, w), bool)
    length, width, _ = piece_shape(piece)
    # a thin part is usually bent: keep to a shorter, straighter stretch of it
    size = max(0.01, min(spec.size, (0.6 if region.thin else 0.9) * length / side))
    aspect = spec.aspect
    if region.thin:
        core = distinct_core(piece, image) if image is not None else piece
        dist = cv2.distanceTransform(np.pad(core.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
        ridge = dist >= 0.5 * float(dist.max())
        allowed = ridge if ridge.any() else core
        aspect = min(40.0, max(aspect, size * side / max(1.0, 0.6 * width)))
    elif not allowed.any():
        allowed = piece
    target = region.part
    if region.thin:  # judge against the piece's distinct core: its outline may carry a shadow
        target = core
    best: tuple[float, DefectSpec] | None = None
    allowed_at = np.nonzero(allowed)  # drawn from up to ``tries`` times
    core_at = np.nonzero(core) if region.thin else None
    for _ in range(max(1, tries)):
        center = sample_center(allowed, rng, allowed_at)
        angle = spec.angle
        if region.thin:
            angle = _orientation(core, (center[0] * (w - 1), center[1] * (h - 1)), 0.5 * size * side, core_at)
        elif free_angle:
            angle = float(rng.uniform(0, 180))
        cand = spec.replace(center=center, size=round(size, 4), aspect=round(aspect, 3), angle=round(angle, 1))
        frac = on_part_fraction(cand, target)
        if best is None or frac > best[0]:
            best = (frac, cand)
        if frac >= 0.9:
            break
    assert best is not None
    extra = {"part": region.name, **({"part_note": region.note} if region.note else {})}
    return best[1].replace(params={**best[1].params, **extra})


def _where(center: tuple[float, float]) -> str:
    x, y = center
    vertical = "upper" if y < 0.4 else "lower" if y > 0.6 else "middle"
    horizontal = "left" if x < 0.4 else "right" if x > 0.6 else "centre"
    return "centre" if (vertical, horizontal) == ("middle", "centre") else f"{vertical} {horizontal}"


_COLOR_PHRASE = {
    "darker": "darker than the surrounding surface",
    "lighter": "lighter than the surrounding surface",
    "hue": "with a hue shift from the surrounding surface",
    "reddish": "reddish against the surrounding surface",
    "brownish": "brownish against the surrounding surface",
    "mixed": "with both darker and lighter parts",
}


def _strength(intensity: float) -> str:
    return "faint" if intensity < 0.3 else "clearly visible" if intensity < 0.7 else "strong"


def _percent(fraction: float) -> str:
    """A fraction as a percentage with two significant digits (12%, 1.2%, 0.55%)."""
    p = 100.0 * fraction
    return f"{p:.0f}%" if p >= 9.95 else f"{p:.1f}%" if p >= 0.995 else f"{p:.2f}%"


def instruction(spec: DefectSpec, entry: KnowledgeEntry | None = None) -> str:
    """The localized edit instruction for ``spec``: where, how big, what it looks like.

    Written so that ``render.instruction.parse_instruction`` reads the family, centre,
    size, angle, aspect, colour, texture, blend, count and part back (co-owned with the
    renderers: change both together; tests/test_render_instruction.py checks it)."""
    name = spec.defect_type.replace("_", " ") or spec.family
    family = f" ({spec.family})" if spec.family and spec.family != name else ""
    part = str(spec.params.get("part", "") or "").replace("_", " ")
    on = f" on the {part}" if part else ""
    target = spec.category.replace("_", " ") or "the surface"
    shape = (f"elongated (length/width {spec.aspect:.1f}) and oriented at {spec.angle:.0f} degrees"
             if spec.aspect >= 2.5 else "compact")
    texture = f", {spec.texture} texture" if spec.texture and spec.texture != "keep" else ", keeping the surface texture"
    count = spec.params.get("count", 1)
    try:
        count = int(count)
    except (TypeError, ValueError):
        count = 1
    several = f" Make {count} separate instances." if count > 1 else ""
    looks = f" It looks like: {entry.shape.rstrip('.')}; edges {entry.edges.rstrip('.')}." if entry else ""
    return (
        f"Add a {_strength(spec.intensity)} {name}{family}{on} to the {target}, centred at "
        f"({100 * spec.center[0]:.1f}%, {100 * spec.center[1]:.1f}%) of the image ({_where(spec.center)}), about "
        f"{_percent(spec.size)} of the shorter image side across, {shape}, {_COLOR_PHRASE.get(spec.color, spec.color)}"
        f"{texture}, with {spec.blend} edges.{several}{looks}"
    )


# How one piece of advice changes a spec: (parameter, direction) -> update.
_SIZE_STEP = 1.5
_BLEND_SOFTNESS = ("hard", "feather", "poisson")  # "soften" moves right, "sharpen" left
_INTENSITY_STEP = 0.2
# Surface finish from least to most grain: "increase" texture moves right, "decrease" left.
_TEXTURE_GRAIN = ("smooth", "glossy", "keep", "fibrous", "grainy")


def _step_intensity(value: float, direction: str) -> float:
    """One intensity step: up by half the distance to 1 (at least 0.2), down to 60 %
    (at least 0.2 less), within [0.1, 1]. Measured (benchmarks/bench_advice.py): a fixed
    0.2 step left faint defects faint. Most remaining "increase intensity" failures (26 %
    improved) were edits too wide for change detection, not too faint; the critic now
    advises those to shrink (critic/advice.py), and the intensity advice that is left
    improves its term in 100 % (hazelnut, magnetic_tile)."""
    if direction == "increase":
        new = max(value + _INTENSITY_STEP, 1.0 - 0.5 * (1.0 - value))
    else:
        new = min(value - _INTENSITY_STEP, 0.6 * value)
    return round(min(1.0, max(0.1, new)), 3)


# Families whose defect shows what lies behind the part where it leaves the part (a piece
# broken off at the edge shows the background, whatever ``color`` says).
REVEALING_FAMILIES = ("missing",)


def _drowned_relation(spec: DefectSpec, fg: np.ndarray, rng: np.random.Generator) -> DefectSpec:
    """The step for a colour advice whose relation ``spec.color`` already names: the colour
    is drawn but something else in the look outweighs it. For a revealing family that is
    the background showing where the piece leaves the part: place it inside the part
    (``placement_region`` keeps the piece on it), where the fracture surface in the named
    relation shows. For a drawn defect it is its relief shading (a groove's dark wall, a
    gap's shadow), which grows faster with intensity than the colour does: one intensity
    step down. Measured (benchmarks/bench_advice.py): a step up, the former rule, improved
    the colour term in 5 % of such cases; a lighter metal_nut scratch's median lightness
    change goes from +8 to -1 delta-E between intensity 0.3 and 1.0."""
    if spec.family in REVEALING_FAMILIES and not fg.all():
        return spec.replace(center=sample_center(placement_region(fg, "surface", spec.size), rng))
    return spec.replace(intensity=_step_intensity(spec.intensity, "decrease"))


def _bounded_size(size: float, factor: float, entry: KnowledgeEntry | None) -> float:
    """``size`` times ``factor``, kept within the knowledge entry's size range: the spec's
    size is the defect's extent and the range is that of real defects, so a refinement
    never leaves it (growing stops at its upper end, shrinking at its lower end; a size
    already beyond that end stays). A critic's ``scale`` is measured on the rendered mask,
    which can be smaller than the spec says (a faint or thin defect), so without the
    bound one refinement could quadruple a size past anything real."""
    new = size * factor
    if entry is None or not entry.size:
        return new
    lo, hi = float(entry.size[0]), float(entry.size[1])
    return min(new, max(hi, size)) if factor > 1.0 else max(new, min(lo, size))


def _step_texture(texture: str, direction: str) -> str:
    """One step of surface finish along _TEXTURE_GRAIN that really changes the grain:
    "increase" from a finish that removes it (smooth, glossy) goes to the first that adds
    some (fibrous), "decrease" from one that adds it (grainy, fibrous) to the surface's
    own (keep). Measured (benchmarks/bench_advice.py): smooth -> glossy (glossy is smooth
    plus a highlight) and smooth -> keep improved a texture term lacking grain or
    pixel-scale detail in 75 % of cases, smooth -> fibrous in 100 %; grainy -> fibrous
    improved an incoherent seam in 29 %."""
    i = _TEXTURE_GRAIN.index(texture) if texture in _TEXTURE_GRAIN else _TEXTURE_GRAIN.index("keep")
    keep = _TEXTURE_GRAIN.index("keep")
    if direction == "smooth":  # no grain at all (a seam whose steps follow the grain: critic/advice.py)
        return "smooth"
    if direction == "increase":
        return _TEXTURE_GRAIN[min(max(i + 1, keep + 1), len(_TEXTURE_GRAIN) - 1)]
    return _TEXTURE_GRAIN[max(min(i - 1, keep), 0)]


def refine(
    spec: DefectSpec,
    advice: list[dict[str, Any]],
    entry: KnowledgeEntry | None,
    fg: np.ndarray,
    rng: np.random.Generator,
    parts: dict[str, np.ndarray] | None = None,
) -> DefectSpec:
    """Apply a critic's advice (``{"parameter", "direction", ...}`` items) to ``spec``.

    A spec planned on a part (``params["part"]``) is moved only along that part: with
    ``parts`` it is placed again on it; without, its centre stays (the foreground ``fg``
    knows no parts, and moving would take the defect off the part its knowledge names).
    """
    out = spec
    for item in advice:
        parameter, direction = item.get("parameter", ""), item.get("direction", "")
        if parameter == "location" and spec.params.get("part") and entry is not None:
            if parts:
                region = resolve_region(entry.location, entry.defect, parts)
                out = place_on_part(out, region, rng, free_angle=angle_is_free(entry))
        elif parameter == "location":
            # "move_to_edge" names the region; "move_onto_object" keeps the entry's own.
            location = direction[len("move_to_"):] if direction.startswith("move_to_") else (entry.location if entry else "surface")
            out = out.replace(center=sample_center(placement_region(fg, location, out.size), rng))
        elif parameter == "size":
            factor = advice_scale(item) or (_SIZE_STEP if direction == "increase" else 1.0 / _SIZE_STEP)
            out = out.replace(size=round(min(0.9, max(0.01, _bounded_size(out.size, factor, entry))), 4))
        elif parameter == "intensity":
            out = out.replace(intensity=_step_intensity(out.intensity, direction))
        elif parameter == "aspect":
            factor = 1.5 if direction == "increase" else 1 / 1.5
            out = out.replace(aspect=round(min(40.0, max(1.0, out.aspect * factor)), 3))
        elif parameter == "blend":
            order = _BLEND_SOFTNESS if direction != "sharpen" else _BLEND_SOFTNESS[::-1]
            i = order.index(out.blend) if out.blend in order else 0
            out = out.replace(blend=order[min(i + 1, len(order) - 1)])
        elif parameter == "family" and entry is not None:
            out = out.replace(family=entry.family)
        elif parameter == "texture":
            out = out.replace(texture=_step_texture(out.texture, direction))
        elif parameter == "color":
            # the critic names the relation to use; otherwise follow the knowledge base
            relation = direction if direction in COLOR_RELATIONS else (entry.color if entry else out.color)
            if relation == out.color:
                out = _drowned_relation(out, fg, rng)
            out = out.replace(color=relation)
    return out.replace(instruction=instruction(out, entry))
