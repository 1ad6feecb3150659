"""Reading an IG edit instruction back into a DefectSpec, so text alone drives the
procedural editor (the structured IG fields are optional overrides on top).

The instruction is the contract between a policy and the IG tool. ``planning.instruction``
writes it in a regular form ("Add a strong crack (crack) on the lead to the transistor,
centred at (45.0%, 62.5%) of the image (...), about 12% of the shorter image side across,
elongated (length/width 8.0) and oriented at 30 degrees, darker than the surrounding
surface, grainy texture, with hard edges. Make 3 separate instances."), and a language
model may write freer text. ``parse_instruction`` picks out what it finds and leaves
the rest unset; ``apply_instruction`` lays what was found over a base spec (the plan).

Fields read: family (a family name in brackets, else the first defect word of the
keyword table), centre ("(x%, y%)", "at x=0.4, y=0.6", or a named region such as "upper
left"), size ("about N% of the shorter image side"), angle, aspect, intensity (faint /
clearly visible / strong, or "intensity 0.7"), colour relation, texture, blend,
``params.count`` ("3 separate instances", "three cracks"), ``params.part`` ("on the
lead") and a few structural amounts ("rotated by 30 degrees", "bent by 20 degrees",
"shifted by 10%").
"""
from __future__ import annotations

import math
import re
from typing import Any

from ..records import BLEND_MODES, COLOR_RELATIONS, TEXTURES, DefectSpec

# Words that name a family, in the order they are tried (more specific first).
KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("warp", ("bent", "bend", "bending", "warped lead", "kinked")),
    ("displace", ("misplaced", "rotated", "shifted", "flipped", "misaligned", "displaced", "wrong position", "tilted")),
    ("transplant", ("transplant", "foreign material", "pasted", "foreign body")),
    ("missing", ("missing", "broken off", "broken", "chipped", "chip", "break", "gone", "damaged case")),
    ("fray", ("fray", "frayed", "loose thread")),
    ("scratch", ("scratch", "scrape", "abrasion", "scuff")),
    ("crack", ("crack", "fracture", "fissure", "split")),
    ("cut", ("cut", "slit", "gash", "incision")),
    ("hole", ("hole", "puncture", "pinhole", "blowhole", "poke", "pore", "pit")),
    ("dent", ("dent", "depression", "bump", "uneven")),
    ("rust", ("rust", "oxid", "corrosion")),
    ("stain", ("stain", "spot", "smudge", "glue", "oil", "liquid", "contamination", "residue")),
    ("particle", ("particle", "dust", "fiber", "fibre", "hair", "debris", "speck", "metal contamination")),
    ("discoloration", ("discolo", "colour change", "color change", "faded", "tint")),
    ("print", ("print", "marking", "label", "logo", "misprint")),
    ("fold", ("fold", "crease", "wrinkle")),
    ("deform", ("deform", "squeez", "bulge", "warp")),
)

NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "several": 3, "multiple": 3, "a few": 3, "a couple of": 2}

# Named regions -> centre fractions (the inverse of planning._where).
REGIONS = {"upper left": (0.2, 0.2), "upper centre": (0.5, 0.2), "upper right": (0.8, 0.2),
           "middle left": (0.2, 0.5), "middle right": (0.8, 0.5), "lower left": (0.2, 0.8),
           "lower centre": (0.5, 0.8), "lower right": (0.8, 0.8), "centre": (0.5, 0.5), "center": (0.5, 0.5)}

STRENGTH = (("faint", 0.0, 0.3, 0.2), ("subtle", 0.0, 0.3, 0.2), ("clearly visible", 0.3, 0.7, 0.5),
            ("strong", 0.7, 1.0, 0.85), ("severe", 0.7, 1.0, 0.9))

_COLOR = (("darker", "darker"), ("lighter", "lighter"), ("brighter", "lighter"), ("reddish", "reddish"),
          ("brownish", "brownish"), ("hue shift", "hue"), ("both darker and lighter", "mixed"), ("mixed", "mixed"))
_BLEND = (("hard", "hard"), ("sharp", "hard"), ("poisson", "poisson"), ("seamless", "poisson"),
          ("feather", "feather"), ("soft", "feather"))

_NUM = r"(-?\d+(?:\.\d+)?)"
_MAX_TEXT = 4000  # instructions are short; a huge one is cut, never scanned quadratically


def _finite(value: str, low: float, high: float) -> float | None:
    try:
        x = float(value)
    except ValueError:
        return None
    return min(high, max(low, x)) if math.isfinite(x) else None


def find_family(text: str, families: list[str] | None = None) -> str | None:
    """The family a text names: a registered name in brackets ("(crack)"), else the first
    registered name used as a word before the placement, else the earliest keyword of
    KEYWORDS (ties: the order of KEYWORDS)."""
    low = text.lower()
    known = set(families) if families is not None else {f for f, _ in KEYWORDS}
    for m in re.finditer(r"\(([a-z_]+)\)", low):
        if m.group(1) in known:
            return m.group(1)
    head = low.split(" centred at ")[0].split(" it looks like")[0]
    for m in re.finditer(r"[a-z_]+", head):  # a family named as a word ("add a warp")
        if m.group(0) in known:
            return m.group(0)
    best: tuple[int, int, str] | None = None
    for rank, (family, words) in enumerate(KEYWORDS):
        if family not in known:
            continue
        for word in words:
            m = re.search(r"\b" + re.escape(word), head)
            if m and (best is None or (m.start(), rank) < best[:2]):
                best = (m.start(), rank, family)
    return best[2] if best else None


def parse_instruction(text: str, families: list[str] | None = None) -> dict[str, Any]:
    """The DefectSpec fields an instruction states: {"family", "center", "size", "angle",
    "aspect", "intensity", "color", "texture", "blend", "params": {...}} (only the keys
    found; every number finite and clipped to the spec's valid range)."""
    text = (text or "")[:_MAX_TEXT]
    low = text.lower()
    out: dict[str, Any] = {}
    params: dict[str, Any] = {}
    family = find_family(text, families)
    if family:
        out["family"] = family
    m = re.search(r"\(\s*" + _NUM + r"\s*%\s*,\s*" + _NUM + r"\s*%\s*\)", low)
    if m:
        x, y = _finite(m.group(1), 0, 100), _finite(m.group(2), 0, 100)
        if x is not None and y is not None:
            out["center"] = (round(x / 100.0, 4), round(y / 100.0, 4))
    else:
        m = re.search(r"x\s*=\s*" + _NUM + r"\s*,\s*y\s*=\s*" + _NUM, low)
        if m and _finite(m.group(1), 0, 1) is not None and _finite(m.group(2), 0, 1) is not None:
            out["center"] = (_finite(m.group(1), 0, 1), _finite(m.group(2), 0, 1))
        else:
            for name in sorted(REGIONS, key=len, reverse=True):
                if re.search(r"\b(?:in|at|on|near) the " + name + r"\b", low):
                    out["center"] = REGIONS[name]
                    break
    m = re.search(r"about\s+" + _NUM + r"\s*%\s+of the (?:shorter|smaller)", low) or \
        re.search(r"(?:size|about)\s+" + _NUM + r"\s*%", low)
    if m:
        s = _finite(m.group(1), 0.5, 100.0)
        if s is not None:
            out["size"] = round(s / 100.0, 5)
    m = re.search(r"oriented at\s+" + _NUM + r"\s*deg", low) or re.search(r"angle\s+(?:of\s+)?" + _NUM, low)
    if m and _finite(m.group(1), -360, 360) is not None:
        out["angle"] = _finite(m.group(1), -360, 360)
    m = re.search(r"length\s*/\s*width\s+" + _NUM, low) or re.search(r"aspect(?: ratio)?\s+" + _NUM, low)
    if m and _finite(m.group(1), 1, 60) is not None:
        out["aspect"] = _finite(m.group(1), 1, 60)
    elif "compact" in low or "round" in low:
        out["aspect_band"] = (1.0, 2.5)
    m = re.search(r"intensity\s+" + _NUM, low)
    if m and _finite(m.group(1), 0, 1) is not None:
        out["intensity"] = _finite(m.group(1), 0, 1)
    else:
        for word, lo, hi, mid in STRENGTH:
            if re.search(r"\b" + word + r"\b", low):
                out["intensity_band"] = (lo, hi, mid)
                break
    if "both darker and lighter" in low:
        out["color"] = "mixed"
    else:
        for phrase, relation in _COLOR:
            if re.search(r"\b" + phrase, low) and relation in COLOR_RELATIONS:
                out["color"] = relation
                break
    m = re.search(r"with\s+(\w+)(?:ed)?\s+edges", low) or re.search(r"(\w+)\s+blend", low)
    if m:
        for word, mode in _BLEND:
            if m.group(1).startswith(word) and mode in BLEND_MODES:
                out["blend"] = mode
                break
    for tex in TEXTURES:
        if re.search(r"\b" + tex + r"\b(?:\s+(?:texture|surface|finish))", low):
            out["texture"] = tex
            break
    else:
        if re.search(r"\bkeep(?:ing|s)? (?:the |its )?(?:surface(?:'s)? |own )*texture", low):
            out["texture"] = "keep"
    words = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
    m = re.search(r"\b(\d+|" + words + r")\s+(?:separate\s+)?(?:instances|copies|defects|places)", low) or \
        re.search(r"^\s*add\s+(\d+|" + words + r")\b", low) or \
        re.search(r"\b(\d+|" + words + r")\s+(?:[a-z]+\s+){0,2}?(?!degrees|percent|pixels|times|px)[a-z]+e?s\b", low)
    if m:
        word = m.group(1)
        n = int(word) if word.isdigit() and len(word) <= 3 else NUMBER_WORDS.get(word, 1)
        params["count"] = max(1, min(12, n))
    elif re.match(r"\s*add an? ", low):  # "Add a crack": one instance (a refined plan may drop "3 instances")
        params["count"] = 1
    # "on the lead", "on the right lead of": the part is the last word (qualifiers dropped).
    m = re.search(r"\bon (?:the|its|a|one) ((?:[a-z]+ )?[a-z]+?)(?= to | of | with | at | near | in |,|\.|$)", low)
    if m and m.group(1).split()[-1] not in ("image", "object", "surface", "shorter", "product"):
        params["part"] = m.group(1).split()[-1]
    for key, pattern, lo, hi in (("rotation", r"rotated by\s+" + _NUM + r"\s*deg", -180, 180),
                                 ("bend", r"bent by\s+" + _NUM + r"\s*deg", -90, 90)):
        m = re.search(pattern, low)
        if m and _finite(m.group(1), lo, hi) is not None:
            params[key] = _finite(m.group(1), lo, hi)
    m = re.search(r"shifted by\s+" + _NUM + r"\s*%", low)
    if m and _finite(m.group(1), 0, 40) is not None:
        params["shift"] = _finite(m.group(1), 0, 40) / 100.0
    if params:
        out["params"] = params
    return out


def apply_instruction(spec: DefectSpec, text: str, families: list[str] | None = None) -> DefectSpec:
    """``spec`` with every field the instruction states replaced (and ``instruction`` set).

    A strength word ("strong") or shape word ("compact") only moves the value when the
    base lies outside that word's band, so a plan's exact intensity survives its own
    description. Params found are merged over the base's params.
    """
    found = parse_instruction(text, families)
    changes: dict[str, Any] = {k: v for k, v in found.items() if k in ("family", "center", "size", "angle", "aspect",
                                                                      "intensity", "color", "texture", "blend")}
    # A value the text states only to its printed precision keeps the base's exact value.
    if "center" in changes and max(abs(a - b) for a, b in zip(changes["center"], spec.center)) <= 0.0006:
        del changes["center"]
    if "size" in changes and abs(changes["size"] - spec.size) <= 0.051 * spec.size + 1e-6:
        del changes["size"]
    for key, tol in (("angle", 0.51), ("aspect", 0.051), ("intensity", 0.0051)):
        if key in changes and abs(changes[key] - getattr(spec, key)) <= tol:
            del changes[key]
    band = found.get("intensity_band")
    if band and "intensity" not in changes and not (band[0] <= spec.intensity <= band[1]):
        changes["intensity"] = band[2]
    aspect_band = found.get("aspect_band")
    if aspect_band and "aspect" not in changes and spec.aspect >= 2.5:
        changes["aspect"] = 1.5
    params = dict(found.get("params", {}))
    if params.get("count") == 1 and "count" not in spec.params:
        del params["count"]  # one instance is the default: leave the plan's params as they are
    if params:
        changes["params"] = {**spec.params, **params}
    return spec.replace(**changes, instruction=text)
