"""Smooth random fields for irregular boundaries, mottling and warps.

All fields are float32, zero-mean-ish, roughly in [-1, 1], and drawn only from the
``rng`` passed in. They are made by upsampling a coarse random grid with bicubic
interpolation (value noise): much cheaper than Perlin at the sizes we need, and the
``cell`` size (pixels between random control points) sets the feature size directly.
"""
from __future__ import annotations

import cv2
import numpy as np


def value_noise(shape: tuple[int, int], cell: float, rng: np.random.Generator) -> np.ndarray:
    """(h, w) float32 smooth noise with features about ``cell`` pixels across, in ~[-1, 1]."""
    h, w = int(shape[0]), int(shape[1])
    cell = max(1.0, float(cell))
    gh, gw = int(np.ceil(h / cell)) + 3, int(np.ceil(w / cell)) + 3
    grid = rng.uniform(-1.0, 1.0, size=(gh, gw)).astype(np.float32)
    big = cv2.resize(grid, (int(round(gw * cell)), int(round(gh * cell))), interpolation=cv2.INTER_CUBIC)
    oy, ox = int(cell), int(cell)  # skip the first cell: cubic borders are biased
    out = big[oy:oy + h, ox:ox + w]
    if out.shape != (h, w):  # rounding at tiny sizes
        out = cv2.resize(big, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(out, dtype=np.float32)


def fractal_noise(
    shape: tuple[int, int], cell: float, rng: np.random.Generator, octaves: int = 3, gain: float = 0.5
) -> np.ndarray:
    """(h, w) float32 sum of ``octaves`` value-noise layers, each half the cell size, ~[-1, 1]."""
    total = np.zeros(shape, np.float32)
    amp, norm = 1.0, 0.0
    for _ in range(max(1, octaves)):
        total += amp * value_noise(shape, cell, rng)
        norm += amp
        amp *= gain
        cell = max(1.0, cell / 2.0)
    return total / norm


def grain_noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """(h, w) float32 white-ish sensor grain with standard deviation ``sigma`` (grey levels)."""
    return (rng.standard_normal(shape).astype(np.float32) * float(sigma))


def polar_profile(harmonics: int, roughness: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random Fourier radius profile r(phi) = 1 + sum a_k cos(k phi + p_k).

    Returns (k, amplitudes, phases) for ``harmonics`` terms; amplitudes fall as 1/k so
    the outline is irregular but not spiky; ``roughness`` ~0.1-0.4 scales them. The
    caller evaluates the profile at its own angles (see shapes.blob_distance).
    """
    k = np.arange(2, 2 + max(1, harmonics), dtype=np.float32)
    amps = (rng.uniform(0.3, 1.0, size=k.shape) * roughness / k).astype(np.float32)
    phases = rng.uniform(0, 2 * np.pi, size=k.shape).astype(np.float32)
    return k, amps, phases
