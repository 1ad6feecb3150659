"""Geometry shared by the families: the spec's frame in pixels, crop boxes, anti-aliased
strokes, irregular blobs and wandering paths.

Everything is relative to the image: a spec's ``size`` is the defect's longest extent as
a fraction of min(H, W), so one spec gives the same-looking defect at 48 px and 1024 px.
Coordinates are (x, y) pixels with y pointing down; angles are counter-clockwise from +x
as the viewer sees them, so the unit vector of angle t is (cos t, -sin t).
Coverage maps are float32 in [0, 1] over a crop box, anti-aliased by supersampling or by
a signed distance, never hard 0/1 steps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..records import DefectSpec


@dataclass(frozen=True)
class Box:
    """Rows y0:y1 and columns x0:x1 of the full image (a crop that holds a defect)."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """(h, w) float32 x and y pixel coordinates of the crop in full-image terms."""
        ys = np.arange(self.y0, self.y1, dtype=np.float32)
        xs = np.arange(self.x0, self.x1, dtype=np.float32)
        return np.meshgrid(xs, ys)


def box_around(shape: tuple[int, ...], x0: float, y0: float, x1: float, y1: float, pad: float = 2.0) -> Box:
    """Crop box covering [x0, x1] x [y0, y1] plus ``pad`` pixels, clipped to the image."""
    h, w = shape[:2]
    bx0 = int(max(0, math.floor(min(x0, x1) - pad)))
    by0 = int(max(0, math.floor(min(y0, y1) - pad)))
    bx1 = int(min(w, math.ceil(max(x0, x1) + pad) + 1))
    by1 = int(min(h, math.ceil(max(y0, y1) + pad) + 1))
    if bx1 <= bx0:
        bx0, bx1 = max(0, min(w - 1, bx0)), max(1, min(w, bx0 + 1))
    if by1 <= by0:
        by0, by1 = max(0, min(h - 1, by0)), max(1, min(h, by0 + 1))
    return Box(by0, by1, bx0, bx1)


@dataclass(frozen=True)
class Frame:
    """A spec placed on an image: centre (px), length and width (px), angle (rad).

    ``unit`` = min(H, W) in pixels; families size their details (feather, rim, grain
    scale) as fractions of it or of ``width`` so nothing is fixed in pixels.
    """

    h: int
    w: int
    cx: float
    cy: float
    length: float
    width: float
    theta: float
    unit: float

    @property
    def axis(self) -> tuple[float, float]:
        return math.cos(self.theta), -math.sin(self.theta)

    @property
    def normal(self) -> tuple[float, float]:
        ux, uy = self.axis
        return -uy, ux

    def box(self, margin: float = 0.0) -> Box:
        """Crop box holding the rotated length x width rectangle plus ``margin`` px."""
        r = 0.5 * self.length + margin
        return box_around((self.h, self.w), self.cx - r, self.cy - r, self.cx + r, self.cy + r, pad=2.0)

    def local(self, box: Box) -> tuple[np.ndarray, np.ndarray]:
        """(h, w) float32 coordinates along (u) and across (v) the defect axis, px from centre."""
        xs, ys = box.grid()
        dx, dy = xs - self.cx, ys - self.cy
        ux, uy = self.axis
        return dx * ux + dy * uy, -dx * uy + dy * ux


def frame(shape: tuple[int, ...], spec: DefectSpec, min_width_px: float = 0.8) -> Frame:
    """Place ``spec`` on an image of ``shape``: fractions -> pixels."""
    h, w = shape[:2]
    unit = float(min(h, w))
    length = max(2.0, float(spec.size) * unit)
    width = max(min_width_px, length / max(1.0, float(spec.aspect)))
    cx = float(np.clip(spec.center[0], 0.0, 1.0)) * (w - 1)
    cy = float(np.clip(spec.center[1], 0.0, 1.0)) * (h - 1)
    return Frame(h, w, cx, cy, length, width, math.radians(float(spec.angle)), unit)


def feather(signed_distance: np.ndarray, width: float) -> np.ndarray:
    """Anti-aliased coverage from a signed distance (px, > 0 inside): a smoothstep ramp
    ``width`` px wide centred on the boundary, so the 0.5 level sits on the outline."""
    t = np.clip(signed_distance / max(0.5, float(width)) + 0.5, 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def blob_distance(
    box: Box, cx: float, cy: float, rx: float, ry: float, theta: float,
    profile: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """(h, w) float32 approximate signed distance (px, > 0 inside) to an ellipse with
    semi-axes ``rx`` (along theta) and ``ry``, whose radius is modulated by a polar
    Fourier ``profile`` (noise.polar_profile) to make the outline irregular."""
    xs, ys = box.grid()
    dx, dy = xs - cx, ys - cy
    c, s = math.cos(theta), -math.sin(theta)
    u = (dx * c + dy * s) / max(rx, 1e-3)
    v = (-dx * s + dy * c) / max(ry, 1e-3)
    rho = np.sqrt(u * u + v * v)
    radius = np.ones_like(rho)
    if profile is not None:
        phi = np.arctan2(v, u)
        for k, a, p in zip(*profile):
            radius += a * np.cos(k * phi + p)
    return ((radius - rho) * min(rx, ry)).astype(np.float32)


def stroke_coverage(box: Box, strokes: list[tuple[np.ndarray, np.ndarray]], supersample: int = 4) -> np.ndarray:
    """(h, w) float32 coverage of polylines with per-vertex widths, anti-aliased.

    ``strokes`` holds (points (N, 2) px in image coordinates, widths (N,) px). Each
    segment is drawn with round caps at ``supersample`` x resolution with the mean width
    of its ends (so widths taper along a stroke), then area-averaged down.
    """
    ss = max(1, int(supersample))
    bh, bw = box.shape
    canvas = np.zeros((bh * ss, bw * ss), np.uint8)
    for points, widths in strokes:
        _draw_stroke(canvas, box, points, widths, ss, 255)
    if ss == 1:
        return canvas.astype(np.float32) / 255.0
    small = cv2.resize(canvas, (bw, bh), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0


def stroke_values(box: Box, strokes: list[tuple[np.ndarray, np.ndarray]], values: list[float],
                  supersample: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Coverage (h, w) float32 of ``strokes`` and the (h, w) float32 value of the stroke
    seen at each pixel (later strokes lie on top), e.g. each thread's own shade.

    One pair of supersampled canvases for all strokes instead of one per stroke.
    """
    ss = max(1, int(supersample))
    bh, bw = box.shape
    cov = np.zeros((bh * ss, bw * ss), np.uint8)
    val = np.zeros((bh * ss, bw * ss), np.float32)
    for (points, widths), value in zip(strokes, values):
        _draw_stroke(cov, box, points, widths, ss, 255)
        _draw_stroke(val, box, points, widths, ss, float(value))
    cov_s = cv2.resize(cov, (bw, bh), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    val_s = cv2.resize(val, (bw, bh), interpolation=cv2.INTER_AREA)
    return cov_s, val_s / np.maximum(cov_s, 1e-3)


def _draw_stroke(canvas: np.ndarray, box: Box, points: np.ndarray, widths: np.ndarray, ss: int, value: float) -> None:
    """Draw one polyline (image px) into a ``ss`` x supersampled crop canvas, in place."""
    if len(points) < 2:
        return
    shift = 4
    scale = ss * (1 << shift)
    p = (np.asarray(points, np.float64) - (box.x0, box.y0) + 0.5) * scale - (1 << shift) * 0.5
    p = np.round(p).astype(np.int64)
    for i in range(len(p) - 1):
        thick = max(1, int(round(0.5 * (float(widths[i]) + float(widths[i + 1])) * ss)))
        cv2.line(canvas, (int(p[i, 0]), int(p[i, 1])), (int(p[i + 1, 0]), int(p[i + 1, 1])), value, thick, cv2.LINE_8, shift)


def wander_path(
    start: tuple[float, float], angle: float, length: float, rng: np.random.Generator,
    step: float, wiggle: float = 0.25, persistence: float = 0.7, pull: float = 0.3,
) -> np.ndarray:
    """(N, 2) float points of a path that meanders from ``start``.

    Each step of ``step`` px turns by a correlated random amount (``wiggle`` rad of
    noise, ``persistence`` of the previous turn kept), and the heading is pulled back
    towards ``angle`` by ``pull`` (0-1) per step so the path keeps its overall direction.
    """
    n = max(2, int(math.ceil(length / max(step, 0.5))) + 1)
    pts = np.empty((n, 2), np.float64)
    pts[0] = start
    heading, turn = angle, 0.0
    for i in range(1, n):
        turn = persistence * turn + rng.normal(0.0, wiggle)
        heading += turn
        heading += pull * (angle - heading)
        pts[i] = pts[i - 1] + step * np.array([math.cos(heading), -math.sin(heading)])
    return pts


def taper(n: int, start: float, end: float, power: float = 1.0) -> np.ndarray:
    """(n,) float widths going from ``start`` to ``end`` px, shaped by ``power``."""
    t = np.linspace(0.0, 1.0, max(1, n)) ** power
    return start + (end - start) * t
