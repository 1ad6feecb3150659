"""Seeded synthetic surfaces: fixtures for tests, benchmarks and examples (never real data).

``object_image`` / ``object_rgb``: a brown nut-like part on a dark background;
``texture_image`` / ``texture_gray``: a fine-grained grey surface filling the frame (a
ground tile). All are generated at any size from a seed, so anyone can rebuild them.
``spec_for(family)`` gives a typical DefectSpec per renderer family.
"""
from __future__ import annotations

import cv2
import numpy as np

from .records import DefectSpec


def object_image(rng: np.random.Generator, size: int = 96, gray: bool = False) -> np.ndarray:
    """A textured brown ellipse (a nut-like part) on a dark, slightly noisy background."""
    h = w = size
    img = np.full((h, w, 3), 20, np.float32) + rng.normal(0, 2, (h, w, 3))
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy = w * rng.uniform(0.45, 0.55), h * rng.uniform(0.45, 0.55)
    inside = ((xx - cx) / (0.36 * w)) ** 2 + ((yy - cy) / (0.30 * h)) ** 2 <= 1
    grain = cv2.GaussianBlur(rng.normal(0, 14, (h, w)).astype(np.float32), (0, 0), 1.2)
    shade = 1.0 - 0.35 * (((xx - cx) / w) ** 2 + ((yy - cy) / h) ** 2) * 4
    base = np.array([150, 105, 60], np.float32)
    img[inside] = (base[None] * shade[inside][:, None] + grain[inside][:, None])
    img = np.clip(img, 0, 255).astype(np.uint8)
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if gray else img


def texture_image(rng: np.random.Generator, size: int = 96, gray: bool = True) -> np.ndarray:
    """A fine-grained surface filling the frame (like a magnetic tile or fabric)."""
    noise = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 1.5)
    img = 120 + 18 * noise / max(float(noise.std()), 1e-6)
    img = np.clip(img, 0, 255).astype(np.uint8)
    return img if gray else cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)


# One typical spec per family (what the planner would produce), centred on the object.
TYPICAL = {
    "scratch": dict(size=0.3, aspect=30.0, angle=25.0, intensity=0.6, color="lighter"),
    "crack": dict(size=0.35, aspect=20.0, angle=70.0, intensity=0.7, color="darker"),
    "hole": dict(size=0.08, aspect=1.2, angle=0.0, intensity=0.75, color="darker"),
    "dent": dict(size=0.15, aspect=1.4, angle=10.0, intensity=0.7, color="darker"),
    "stain": dict(size=0.2, aspect=1.5, angle=40.0, intensity=0.5, color="darker"),
    "particle": dict(size=0.06, aspect=1.5, angle=0.0, intensity=0.7, color="darker"),
    "discoloration": dict(size=0.2, aspect=1.4, angle=0.0, intensity=0.5, color="brownish"),
    "missing": dict(size=0.2, aspect=1.5, angle=0.0, intensity=0.7, color="darker"),
    "cut": dict(size=0.25, aspect=8.0, angle=120.0, intensity=0.7, color="darker"),
    "print": dict(size=0.25, aspect=3.0, angle=0.0, intensity=0.8, color="lighter"),
    "fray": dict(size=0.2, aspect=2.0, angle=90.0, intensity=0.7, color="lighter"),
    "rust": dict(size=0.18, aspect=1.3, angle=0.0, intensity=0.7, color="reddish"),
    "fold": dict(size=0.3, aspect=6.0, angle=60.0, intensity=0.6, color="darker"),
    "deform": dict(size=0.25, aspect=1.3, angle=0.0, intensity=0.7, color="darker"),
    "warp": dict(size=0.3, aspect=1.0, angle=0.0, intensity=0.6, color="darker"),
    "displace": dict(size=0.3, aspect=1.0, angle=0.0, intensity=0.6, color="darker"),
    "transplant": dict(size=0.15, aspect=1.5, angle=30.0, intensity=0.6, color="darker"),
    "split": dict(size=0.4, aspect=1.0, angle=70.0, intensity=0.6, color="darker"),
}


def object_rgb(size: int, seed: int = 0) -> np.ndarray:
    """(size, size, 3) uint8: striped brown ellipse on a dark grainy background."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.empty((size, size, 3), np.float32)
    img[:] = (38, 36, 40)
    inside = ((xs - 0.5) / 0.38) ** 2 + ((ys - 0.52) / 0.42) ** 2 < 1.0
    stripes = 0.5 + 0.5 * np.sin(xs * 60.0 + 3.0 * np.sin(ys * 7.0))
    shade = 1.0 - 0.45 * np.clip(xs + ys - 0.6, 0.0, 1.0)
    nut = np.stack([150 + 40 * stripes, 80 + 25 * stripes, 45 + 12 * stripes], axis=2) * shade[:, :, None]
    img[inside] = nut[inside]
    img += rng.normal(0.0, 4.0, size=img.shape)
    img = cv2.GaussianBlur(img, (0, 0), max(0.5, size / 512.0))
    return np.clip(img, 0, 255).astype(np.uint8)


def texture_gray(size: int, seed: int = 1, width: int | None = None) -> np.ndarray:
    """(size, width) uint8: grey surface with vertical grinding streaks and grain."""
    rng = np.random.default_rng(seed)
    width = width or size
    streaks = rng.normal(0.0, 1.0, size=(1, width)).astype(np.float32)
    streaks = cv2.GaussianBlur(streaks, (0, 0), max(0.6, width / 300.0))
    ys = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None]
    img = 95.0 + 25.0 * ys + 10.0 * streaks + rng.normal(0.0, 5.0, size=(size, width))
    return np.clip(img, 0, 255).astype(np.uint8)


def spec_for(family: str, center: tuple[float, float] = (0.45, 0.5), **changes) -> DefectSpec:
    values = dict(TYPICAL.get(family, dict(size=0.2, aspect=2.0, angle=0.0, intensity=0.6, color="darker")))
    values.update(changes)
    return DefectSpec(family=family, defect_type=family, category="fixture", center=center, **values)


def component_scene(size: int = 256, seed: int = 0, board: str = "perforated") -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A transistor-like part on a board: ((size, size, 3) uint8, masks).

    A dark rounded case in the upper middle with three light metal leads running down
    from it, on a copper-coloured board that is ``perforated`` (a grid of dark holes and
    vertical tracks) or ``plain`` (grain only). ``masks`` holds (H, W) bool "object"
    (case + leads), "case" and "lead" (all three leads) so structural edits can be
    tested against known parts.
    """
    rng = np.random.default_rng(seed)
    s = float(size)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    img = np.empty((size, size, 3), np.float32)
    img[:] = (196, 132, 104)
    if board == "perforated":
        pitch = s / 7.0
        for k in range(8):
            x = (k + 0.5) * pitch
            img[np.abs(xs - x) < 0.018 * s] = (70, 45, 38)
        gx = (xs / pitch) % 1.0 - 0.5
        gy = (ys / pitch) % 1.0 - 0.5
        holes = np.hypot(gx, gy) * pitch < 0.3 * pitch
        img[holes] = (25, 20, 20)
    img += rng.normal(0.0, 5.0, size=img.shape)
    case = (np.abs(xs - 0.5 * s) < 0.2 * s) & (ys > 0.12 * s) & (ys < 0.52 * s)
    case &= ~((ys < 0.16 * s) & (np.abs(np.abs(xs - 0.5 * s) - 0.2 * s) < 0.02 * s))
    shade = 1.0 - 0.6 * np.abs(xs - 0.5 * s) / (0.2 * s)
    body = np.stack([38 + 25 * shade, 36 + 25 * shade, 40 + 28 * shade], axis=2)
    img[case] = body[case] + rng.normal(0.0, 3.0, size=(int(case.sum()), 3))
    lead = np.zeros((size, size), bool)
    for dx in (-0.12, 0.0, 0.12):
        lead |= (np.abs(xs - (0.5 + dx) * s) < 0.018 * s) & (ys >= 0.52 * s) & (ys < 0.88 * s)
    metal = 170 + 60 * np.cos((xs % (0.036 * s)) / (0.036 * s) * np.pi * 2)[..., None] * 0.3
    img[lead] = np.repeat(metal[lead], 3, axis=1) * np.array([1.0, 1.0, 1.05]) + rng.normal(0.0, 4.0, (int(lead.sum()), 3))
    img = cv2.GaussianBlur(img, (0, 0), max(0.5, s / 400.0))
    masks = {"object": case | lead, "case": case, "lead": lead}
    return np.clip(img, 0, 255).astype(np.uint8), masks
