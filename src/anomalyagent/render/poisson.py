"""Gradient-domain (Poisson) cloning: the discrete equations of ``cv2.seamlessClone``
solved with a fast sine transform.

Why not call ``cv2.seamlessClone``: its cost is the bounding rectangle of the mask and
its solver is slow for it (measured at 256 px on one core: 10-15 ms for a moved
transistor's 180 x 180 px rectangle, half of a structural family's 20 ms budget). The
equations are small enough to state and solve here, 3-6 times faster, with the same
result up to float rounding (<= 1 grey level on the transistor structural edits,
tests/test_render_poisson.py checks it against OpenCV).

The equations (OpenCV 4's NORMAL_CLONE and MIXED_CLONE, over the rectangle R = the
bounding box of the region, with D the destination and S the source cropped to R):

- guidance field G = grad D + M' (grad S - grad D): the source's gradients inside M',
  the region eroded by 3 px (a 3 x 3 square, 3 times; pixels outside R count as
  outside), the destination's outside it. MIXED_CLONE takes the source's gradient only
  where |Sx - Sy| > |Dx - Dy| (per channel, OpenCV's test), the destination's elsewhere;
- gradients are forward differences, the divergence backward differences, so div G is
  the 5-point Laplacian of D plus div(M' grad (S - D));
- f = D on the border of R, Laplacian(f) = div G inside.

Writing f = D + u, ``u`` is 0 on the border and Laplacian(u) = div(M' grad (S - D)) =: b:
a Dirichlet problem on a rectangle, diagonalised by the type-I discrete sine transform
(eigenvalues 2 cos(pi k / (n + 1)) - 2 per axis). The result is saturated and truncated
to uint8 as OpenCV's is (measured: OpenCV's result is the floor of the solution, not its
rounding). render/blend.py's ``poisson_clone`` widens R by a few px to a length the
transform is fast for (``fast_span``), which moves the fixed border out.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy import fft

ERODE_STEPS = 3  # 3 x 3 erosions of the region before the source's gradients are used (OpenCV's)


def _smooth(n: int) -> bool:
    """True when ``n`` has no prime factor above 7 (a length pocketfft transforms fast)."""
    for p in (2, 3, 5, 7):
        while n % p == 0:
            n //= p
    return n == 1


def fast_span(a0: int, a1: int, size: int) -> tuple[int, int]:
    """[a0, a1) widened within [0, ``size``) to the nearest length L whose sine transform
    is fast (L - 1 with no prime factor above 7; L - 2 interior pixels), half on each
    side where room allows; unchanged when no such L fits. Why: a prime length costs the
    transform up to 8 times more (measured at L = 180: 7.7 ms against 0.9 at L = 181)."""
    n = a1 - a0
    for target in range(n, size + 1):
        if _smooth(target - 1):
            extra = target - n
            lo = min(a0, extra // 2)
            hi = min(size - a1, extra - lo)
            lo = min(a0, extra - hi)
            if lo + hi == extra:
                return a0 - lo, a1 + hi
    return a0, a1


def guidance_mask(region: np.ndarray) -> np.ndarray:
    """M': ``region`` ((h, w) bool, cropped to its rectangle) eroded
    ERODE_STEPS times by a 3 x 3 square, the outside of the rectangle counting as 0; (h, w)
    uint8 0/1."""
    side = 2 * ERODE_STEPS + 1  # n 3 x 3 erosions = one (2n + 1) square erosion
    return cv2.erode(region.astype(np.uint8), np.ones((side, side), np.uint8),
                     borderType=cv2.BORDER_CONSTANT, borderValue=0)


def _forward(a: np.ndarray, axis: int) -> np.ndarray:
    """Forward difference of a (c, h, w) array along ``axis`` (1: rows, 2: columns), one
    element shorter: the last one (OpenCV's reflected border) only feeds the
    rectangle's border, where f is fixed."""
    return a[:, 1:] - a[:, :-1] if axis == 1 else a[:, :, 1:] - a[:, :, :-1]


def solve_dirichlet(rhs: np.ndarray) -> np.ndarray:
    """u with Laplacian(u) = ``rhs`` on each (n, m) plane of a (c, n, m) array and u = 0
    just outside it (5-point Laplacian, unit spacing), by the type-I sine transform;
    float32 like rhs. Channels first: the transforms then run over contiguous rows
    (measured 1.5 times faster than over an (n, m, c) array)."""
    n, m = rhs.shape[1:]
    t = fft.dstn(rhs, type=1, axes=(1, 2), workers=1, overwrite_x=True)
    ey = (2.0 * np.cos(np.pi * np.arange(1, n + 1) / (n + 1)) - 2.0).astype(np.float32)
    ex = (2.0 * np.cos(np.pi * np.arange(1, m + 1) / (m + 1)) - 2.0).astype(np.float32)
    t /= ey[:, None] + ex[None, :]
    return fft.idstn(t, type=1, axes=(1, 2), workers=1, overwrite_x=True)


def clone_rect(dst: np.ndarray, src: np.ndarray, region: np.ndarray, mixed: bool = False) -> np.ndarray:
    """Poisson clone of ``src`` into ``dst`` over their common rectangle; returns the
    solution f ((h, w[, c]) uint8) over the whole rectangle, f = ``dst`` on its border.

    ``dst``/``src``: (h, w) or (h, w, c) uint8 crops, h and w >= 3; ``region``: (h, w)
    bool, the pasted pixels (OpenCV's rectangle is its bounding box; a wider one moves
    the fixed border out). ``mixed``: MIXED_CLONE's gradient choice instead of
    NORMAL_CLONE's.
    """
    h, w = dst.shape[:2]
    c = dst.shape[2] if dst.ndim == 3 else 1
    # Channels first (uint8 copies are cheap): the transforms and numpy then run over
    # contiguous rows. Few and small temporaries: at 256 px the page faults of fresh
    # arrays cost as much as the arithmetic.
    d8 = np.ascontiguousarray(dst.reshape(h, w, c).transpose(2, 0, 1))
    s8 = np.ascontiguousarray(src.reshape(h, w, c).transpose(2, 0, 1))
    e = cv2.subtract(s8.reshape(c * h, w), d8.reshape(c * h, w), dtype=cv2.CV_32F).reshape(c, h, w)  # S - D
    u = solve_dirichlet(_divergence(e, guidance_mask(region), d8 if mixed else None))
    # f = D + u, truncated to uint8 as OpenCV's solver does
    u += d8[:, 1:-1, 1:-1]
    np.clip(u, 0, 255, out=u)
    out = dst.copy()
    out[1:-1, 1:-1] = cv2.merge(list(u.astype(np.uint8))).reshape(out[1:-1, 1:-1].shape)
    return out


def _divergence(e: np.ndarray, mask: np.ndarray, dst: np.ndarray | None = None) -> np.ndarray:
    """div(M' grad E) at the rectangle's interior pixels, (c, h - 2, w - 2) float32
    (contiguous, in ``e``'s memory: ``e`` is spent), for E = S - D ((c, h, w) float32)
    and M' ((h, w) uint8 0/1): forward-difference gradients masked at their first pixel
    (OpenCV's arrayProduct), backward-difference divergence. With ``dst`` ((c, h, w)
    uint8, MIXED_CLONE) a gradient is also masked, per channel, unless OpenCV's test
    |Sx - Sy| > |Dx - Dy| picks the source's."""
    c, h, w = e.shape
    gx, gy = _forward(e, 2), _forward(e, 1)  # grad (S - D): (c, h, w - 1) and (c, h - 1, w)
    if dst is not None:
        d = dst.astype(np.float32)
        dx, dy = _forward(d, 2), _forward(d, 1)
        # Both components are needed at one pixel: compare on the common (h - 1, w - 1) part;
        # the last row / column only feed the border (x) or are not read (y).
        use = np.zeros(e.shape, np.float32)
        use[:, :-1, :-1] = np.abs((gx[:, :-1] + dx[:, :-1]) - (gy[:, :, :-1] + dy[:, :, :-1])) > \
            np.abs(dx[:, :-1] - dy[:, :, :-1])
        use *= mask
        gx *= use[:, :, :-1]
        gy *= use[:, :-1]
    else:
        gx *= mask[:, :-1]
        gy *= mask[:-1]
    rhs = e.reshape(-1)[:c * (h - 2) * (w - 2)].reshape(c, h - 2, w - 2)
    np.subtract(gx[:, 1:-1, 1:], gx[:, 1:-1, :-1], out=rhs)
    rhs += gy[:, 1:, 1:-1]
    rhs -= gy[:, :-1, 1:-1]
    return rhs
