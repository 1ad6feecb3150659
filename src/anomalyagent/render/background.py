"""What is behind a part that moves or goes: the background plate of a structural edit.

Why: moving, bending or removing a part is only believable when the place it leaves shows
the real background (the board, the tray) with its own texture, not a black hole. The
background comes, in order of preference, from (1) another normal image of the category
registered to this one by phase correlation, where that image shows background over the
whole hole; (2) this image's own background, copied from the offset whose surroundings
match the hole's surroundings best (a periodic board, a tray: the copy lands in phase);
(2b) for a hole too big for one offset, tile by tile along the background's own lattice
(autocorrelation peaks) when it repeats, else tile by tile by matching, with the
surroundings' lighting; (3) OpenCV inpainting with re-inserted grain, as a last resort.

Masks are (H, W) bool; images (H, W) or (H, W, 3) uint8.
"""
from __future__ import annotations

from itertools import pairwise

import cv2
import numpy as np

from .memo import digest
from .morph import close_disc
from .scene import Scene, distinct_object, gray
from .shading import as_float


def _nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of an (H, W) mask: the same (ys, xs), in the same (row-major) order,
    from its flat indices split by the width (numpy's 2-D nonzero took ~5x as long)."""
    if mask.ndim != 2 or mask.shape[1] == 0:
        return np.nonzero(mask)
    ys, xs = np.divmod(np.flatnonzero(mask), mask.shape[1])
    return ys, xs


def _prep(image: np.ndarray, fg: np.ndarray | None) -> np.ndarray:
    """(H, W) float32 grey ``image`` for registration, its object weighted out (``_register``)."""
    g = np.float32(gray(image))
    if fg is None or not distinct_object(fg):
        return g - float(g.mean())
    g = g - float(g[~fg].mean())
    keep = ~cv2.dilate(fg.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    return g * cv2.GaussianBlur(keep.astype(np.float32), (0, 0), 4.0)


def _register(src: np.ndarray, dst: np.ndarray, src_fg: np.ndarray | None = None,
              dst_fg: np.ndarray | None = None, dst_prep: np.ndarray | None = None,
              src_prep: np.ndarray | None = None) -> tuple[float, float, float]:
    """(dx, dy, response): translation that maps ``src``'s background onto ``dst``'s by
    phase correlation. Object pixels are weighted out with a soft (blurred) weight: a
    constant fill would leave sharp edges that align the objects instead. ``dst_prep``,
    ``src_prep``: ``_prep(dst, dst_fg)``, ``_prep(src, src_fg)`` when the caller has them."""
    target = dst_prep if dst_prep is not None else _prep(dst, dst_fg)
    (dx, dy), resp = cv2.phaseCorrelate(src_prep if src_prep is not None else _prep(src, src_fg), target)
    return float(dx), float(dy), float(resp)


def _from_normals(image: np.ndarray, hole: np.ndarray, scene: Scene,
                  digests: tuple[bytes, ...] = ()) -> np.ndarray | None:
    """The hole's pixels from a registered normal image whose object does not cover it.

    ``digests``: (image, foreground, normals..., normal masks...) digests (render/memo.py)
    when the caller has them for the scene's memo."""
    if scene is None or not scene.normals:
        return None
    from ..foreground import foreground

    h, w = image.shape[:2]
    own_fg = scene.foreground if scene.foreground is not None and scene.foreground.shape == (h, w) else None
    own_prep = None
    memo = getattr(scene, "memo", None)
    shared = getattr(memo, "shared", None)  # results that recur across samples (render/memo.py)
    n = len(scene.normals)
    if memo is not None and len(digests) != 2 + n + len(scene.normal_masks):
        digests = (memo.digest_of(image), memo.digest_of(scene.foreground), *(memo.digest_of(o) for o in scene.normals),
                   *(memo.digest_of(m) for m in scene.normal_masks))
    own_key = (digests[0], digest(own_fg) if own_fg is not scene.foreground else digests[1]) if memo is not None else ()
    hole_n = np.count_nonzero(hole) if hole.dtype == bool else 0  # 0: the share by mean (another mask type)
    for i, other in enumerate(scene.normals):
        if other.shape[:2] != (h, w):
            other = cv2.resize(other, (w, h), interpolation=cv2.INTER_AREA)
        if other.ndim != image.ndim:
            other = cv2.cvtColor(other, cv2.COLOR_GRAY2RGB) if image.ndim == 3 else gray(other)
        given = scene.normal_masks[i] if i < len(scene.normal_masks) else None
        if given is not None and given.shape != (h, w):
            given = cv2.resize(given.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        other_key = b""
        if memo is not None:  # the digest of the image as registered (resized or converted when it had to be)
            other_key = digests[2 + i] if other is scene.normals[i] else digest(other)
        if given is not None:
            ofg = given
        elif memo is not None:
            ofg = memo.get_or_make(("foreground", other_key), lambda other=other: foreground(other))
        else:
            ofg = foreground(other)
        if not distinct_object(ofg):
            continue

        mask_key = b""
        if memo is not None:
            mask_key = digests[2 + n + i] if given is not None and given is scene.normal_masks[i] else digest(ofg)

        # (this loop's image, mask and keys bound as defaults: the memo may call it later in the loop)
        def register(other=other, ofg=ofg, other_key=other_key, mask_key=mask_key) -> tuple[float, float, float]:
            nonlocal own_prep
            if own_prep is None:  # this image's side of every registration: once
                own_prep = _prep(image, own_fg)
            src_prep = None
            if shared is not None:  # a normal image is drawn as a donor by many samples: its side once a run
                src_prep = shared.get_or_make(("prep", other_key, mask_key), lambda: _prep(other, ofg))
            return _register(other, image, ofg, own_fg, dst_prep=own_prep, src_prep=src_prep)

        # No normal image is skipped before this, even when its object covers the hole where
        # it stands (a whole object's hole: the normals' objects then cover it after the shift
        # too, ~1 ms each at 256 px): the shift has no bound a cheap test could use (a normal
        # shot 50-60 px away gives the plate; OpenCV's sub-pixel centroid can even leave the
        # frame), tests/test_render_background.py.
        # The shift depends on the two images and their object masks, not on the hole:
        # one phase correlation per normal image and sample, however many edits it has.
        if memo is not None:
            dx, dy, _ = memo.get_or_make(("register", *own_key, other_key, mask_key), register)
        else:
            dx, dy, _ = register()
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        moved_fg = _moved_mask(ofg, m, (w, h))
        # (the share by a count: the float64 count / n that moved_fg[hole].mean() gives)
        cover = np.count_nonzero(moved_fg & hole) / hole_n if hole_n else float(moved_fg[hole].mean())
        if cover >= 0.02:  # its object would show in the hole (most are)
            continue
        moved = cv2.warpAffine(other, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        # Accept the registration only where it visibly holds: around the hole the other
        # image's background must match ours better than our background varies.
        ring = cv2.dilate(hole.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & ~hole & ~moved_fg
        if own_fg is not None and distinct_object(own_fg):
            ring &= ~own_fg
        if ring.sum() < 20:
            continue
        ours, theirs = as_float(image)[ring], as_float(moved)[ring]
        if float(np.abs(ours - theirs).mean()) < 0.5 * float(ours.std()) + 2.0:
            return moved
    return None


def _moved_mask(mask: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: ``cv2.warpAffine(mask as uint8, m, size, INTER_NEAREST) > 0`` for a
    translation ``m`` = [[1, 0, dx], [0, 1, dy]] (float32) and ``size`` = (W, H), outside
    pixels 0.

    Nearest interpolation takes the source pixel nearest to (x - dx, y - dy): a whole-pixel
    shift by (round(dx), round(dy)) wherever the shift's fractions are not within 1/64 of
    one half (OpenCV rounds each pixel's float32 source coordinate, exact to 2**-11 px below
    2**13 px), copied here as a window (~0.05 ms less per normal image). Near a half
    (OpenCV 5 rounds exact halves to even, pixel by pixel: a 3.5 px shift moves some pixels
    by 3, others by 4), for shifts of a frame or more, or frames of 8192 px or more:
    OpenCV's own warp."""
    w, h = size
    dx, dy = float(m[0, 2]), float(m[1, 2])
    if (abs(dx - np.floor(dx) - 0.5) <= 1 / 64 or abs(dy - np.floor(dy) - 0.5) <= 1 / 64
            or not (abs(dx) < w and abs(dy) < h) or max(h, w) >= 8192 or mask.shape != (h, w)):
        return cv2.warpAffine(mask.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST) > 0
    sx, sy = int(np.floor(dx + 0.5)), int(np.floor(dy + 0.5))
    mask = mask if mask.dtype == bool else mask.astype(np.uint8) > 0  # what the warp's input and > 0 keep
    out = np.zeros((h, w), bool)
    out[max(0, sy):h + min(0, sy), max(0, sx):w + min(0, sx)] = mask[max(0, -sy):h - max(0, sy), max(0, -sx):w - max(0, sx)]
    return out


def _shifted(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``image`` whose pixel (x, y) shows the input's (x + dx, y + dy) (reflected at the border)."""
    h, w = image.shape[:2]
    # The same bytes as cv2.warpAffine by [[1, 0, -dx], [0, 1, -dy]] with BORDER_REFLECT (an
    # integer shift only copies pixels), without the per-pixel interpolation: a border of
    # reflected pixels, then a window of it (~0.4 ms less at 256x256).
    left, right, top, bottom = max(0, -dx), max(0, dx), max(0, -dy), max(0, dy)
    padded = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_REFLECT)
    return np.ascontiguousarray(padded[top + dy:top + dy + h, left + dx:left + dx + w])


def _pixel_items(image: np.ndarray) -> np.ndarray:
    """(H * W,) array of ``image``'s pixels, one item each (a pixel's c values as one
    c-byte item): a view of a C-contiguous (H, W) or (H, W, c) uint8 image (a copy of
    another). Copying pixels by flat index through it moves the same bytes as through
    ``image.reshape(H * W, c)``, 4x faster (numpy copies one item, not a row of c)."""
    if image.ndim == 2:
        return image.reshape(-1)
    return np.ascontiguousarray(image).view(np.dtype((np.void, image.shape[2] * image.itemsize))).reshape(-1)


def _offset_ok(hole: np.ndarray, avoid: np.ndarray, dx: int, dy: int, coords=None) -> bool:
    """The hole shifted by (dx, dy) lies inside the image and off ``avoid``. ``coords``:
    the hole's (ys, xs) when already known."""
    ys, xs = coords if coords is not None else _nonzero(hole)
    h, w = hole.shape
    if ys.min() + dy < 0 or xs.min() + dx < 0 or ys.max() + dy >= h or xs.max() + dx >= w:
        return False
    return float(avoid[ys + dy, xs + dx].mean()) <= 0.02


def _count_table(avoid: np.ndarray) -> np.ndarray:
    """(H + 1, W + 1) int32 ``cv2.integral`` of ``avoid``'s nonzero pixels (``_offset_test``)."""
    return cv2.integral((avoid if avoid.dtype == bool else avoid != 0).view(np.uint8))


def _offset_test(coords: tuple[np.ndarray, np.ndarray], avoid: np.ndarray, table: np.ndarray | None = None):
    """``ok(dx, dy)``: ``_offset_ok(hole, avoid, dx, dy, coords=coords)``, the same answer, for
    trying many offsets on one tile: its bounds and flat pixel indices are found once, and
    the share is a count over a flat gather (the float64 count / n that ``mean`` gives).

    ``table``: ``_count_table(avoid)`` when the caller has it. The tile's
    pixels lie in its bounding box, so the box moved by the offset holds at least as many
    avoided pixels as the moved tile: at most 2 % of n there accepts the offset without a
    gather, and a tile that fills its box (n = the box's area: the same pixels) is decided
    by the box's count alone. The same answers (the count / n of a subset is no larger)."""
    ys, xs = coords
    h, w = avoid.shape
    y_lo, y_hi, x_lo, x_hi = int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())
    flat = ys.astype(np.intp) * w + xs
    cells = np.ascontiguousarray(avoid).ravel()
    n = flat.size
    full = n == (y_hi - y_lo + 1) * (x_hi - x_lo + 1)

    def ok(dx: int, dy: int) -> bool:
        if y_lo + dy < 0 or x_lo + dx < 0 or y_hi + dy >= h or x_hi + dx >= w:
            return False
        if table is not None:
            top, bottom, left, right = y_lo + dy, y_hi + dy + 1, x_lo + dx, x_hi + dx + 1
            boxed = int(table[bottom, right]) - int(table[top, right]) - int(table[bottom, left]) + int(table[top, left])
            if full or boxed / n <= 0.02:
                return boxed / n <= 0.02
        return np.count_nonzero(cells[flat + (dy * w + dx)]) / n <= 0.02

    return ok


def _square_distance(window: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(h, w) ``((window - ref) ** 2).sum(axis=2)`` for (h, w, c) ``window`` and (c,) ``ref``,
    with its bits (the channels' squares added in the same order), channel plane by plane:
    numpy's broadcast over c = 3 and its reduction over that axis cost ten times this."""
    out = None
    for c in range(window.shape[2]):
        d = window[:, :, c] - ref[c]
        d *= d
        if out is None:
            out = d
        else:
            out += d
    return out


def _from_self(image: np.ndarray, hole: np.ndarray, avoid: np.ndarray | None,
               with_offset: bool = False, coords: tuple[np.ndarray, np.ndarray] | None = None,
               offset_only: bool = False):
    """The hole's pixels copied from this image at the offset whose ring of surroundings
    matches the hole's own ring best (masked SSD by cv2.matchTemplate), penalised when
    the copied area's mean colour differs from the ring's (it would carry another part),
    and never taken from ``avoid`` (the object/part) or the hole itself.

    ``coords``: the hole's (ys, xs) when the caller has them; ``offset_only``: return the
    offset (dx, dy) alone, not the shifted image (``_from_self_tiles`` copies one tile)."""
    h, w = image.shape[:2]
    ys, xs = coords if coords is not None else _nonzero(hole)
    if len(ys) == 0:
        return None
    hy0, hy1, hx0, hx1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    span = max(hy1 - hy0, hx1 - hx0)
    ring_w = int(np.clip(0.25 * span, 3, 16))
    y0, y1 = max(0, hy0 - ring_w), min(h, hy1 + ring_w)
    x0, x1 = max(0, hx0 - ring_w), min(w, hx1 + ring_w)
    th, tw = y1 - y0, x1 - x0
    if th >= h - 2 or tw >= w - 2:
        return None
    # Downsample for speed on large images: the offset is found at <= 128 px.
    scale = min(1.0, 128.0 / max(h, w))
    # The downsampled image's size; the image itself is made only once an offset may be
    # allowed (below): most large holes find every offset forbidden.
    sh, sw = (max(8, round(h * scale)), max(8, round(w * scale))) if scale < 1 else (h, w)
    hole_c = hole[y0:y1, x0:x1]
    ring = cv2.dilate(hole_c.astype(np.uint8), np.ones((2 * ring_w + 1,) * 2, np.uint8)).astype(bool) & ~hole_c
    if avoid is not None:
        ring &= ~avoid[y0:y1, x0:x1]
    if ring.sum() < 8:
        ring = ~hole_c
    sy0, sx0 = int(y0 * scale), int(x0 * scale)
    sth, stw = max(2, round(th * scale)), max(2, round(tw * scale))
    if scale < 1:
        ring_s = cv2.resize(ring.astype(np.uint8), (stw, sth), interpolation=cv2.INTER_NEAREST)
        # Any covered share keeps a hole pixel: a thin hole must not vanish when shrunk.
        hole_s = (cv2.resize(hole_c.astype(np.float32), (stw, sth), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    else:
        ring_s, hole_s = ring.astype(np.uint8), hole_c.astype(np.uint8)
    sth, stw = min(sth, sh - sy0), min(stw, sw - sx0)
    ring_s, hole_s = ring_s[:sth, :stw], hole_s[:sth, :stw]
    tth, ttw = len(range(sh)[sy0:sy0 + sth]), len(range(sw)[sx0:sx0 + stw])  # the template's (rows, columns)
    if tth >= sh or ttw >= sw or ring_s.sum() < 4:
        return None
    hy, hx = np.flatnonzero(hole_s.any(axis=1)), np.flatnonzero(hole_s.any(axis=0))
    if len(hy) == 0:
        return None
    by0, by1, bx0, bx1 = int(hy[0]), int(hy[-1]) + 1, int(hx[0]), int(hx[-1]) + 1
    kh, kw = by1 - by0, bx1 - bx0
    oh, ow = sh - tth + 1, sw - ttw + 1  # matchTemplate's result
    # Forbidden offsets: the copied area would overlap the hole, the part, or the object.
    # Found first: when every offset is forbidden (a whole object's hole on a small frame,
    # most large holes) the answer is None whatever the match, which is then not computed.
    bad = np.zeros((oh, ow), bool)
    near = max(2, round(0.6 * span * scale))
    oy, ox = sy0, sx0
    bad[max(0, oy - near):oy + near + 1, max(0, ox - near):ox + near + 1] = True
    if avoid is not None and avoid.any():
        av = cv2.resize(avoid.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1 else avoid.astype(np.float32)
        share = cv2.blur(av, (kw, kh), anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)[by0:by0 + oh, bx0:bx0 + ow]
        bad |= share > 0.02
    if bad.all():
        return None
    f = as_float(image)
    img_s = cv2.resize(f, (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1 else f
    img_s = img_s[:, :, None] if img_s.ndim == 2 else img_s
    templ = np.ascontiguousarray(img_s[sy0:sy0 + sth, sx0:sx0 + stw])
    m = np.repeat(ring_s[:, :, None], templ.shape[2], axis=2).astype(np.float32) if templ.shape[2] > 1 else ring_s.astype(np.float32)
    src = np.ascontiguousarray(img_s if img_s.shape[2] > 1 else img_s[:, :, 0])
    tpl = templ if templ.shape[2] > 1 else templ[:, :, 0]
    ssd = cv2.matchTemplate(src, tpl, cv2.TM_SQDIFF, mask=m) / max(1.0, float(ring_s.sum()) * templ.shape[2])
    # Mean colour of what the hole would receive from each offset vs the ring's mean, and
    # how much of the object/part it would carry: box means over the hole's bounding box
    # (an integral-image blur, not a masked correlation per channel: a few times faster).
    ring_mean = templ[ring_s.astype(bool)].mean(axis=0)
    means = cv2.blur(img_s, (kw, kh), anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    means = means[:, :, None] if means.ndim == 2 else means
    window = means[by0:by0 + oh, bx0:bx0 + ow]
    if window.shape[:2] != ssd.shape:
        return None
    diff = _square_distance(window, ring_mean)
    score = ssd + 0.5 * diff
    score = np.where(bad | ~np.isfinite(score), np.inf, score)
    if not np.isfinite(score).any():
        return None
    by, bx = np.unravel_index(int(np.argmin(score)), score.shape)
    dy, dx = round((by - sy0) / scale), round((bx - sx0) / scale)
    if offset_only:
        return dx, dy
    plate = _shifted(image, dx, dy)
    return (plate, (dx, dy)) if with_offset else plate


def _inpaint(image: np.ndarray, hole: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Telea inpainting of ``hole`` with the surroundings' grain re-inserted."""
    filled = cv2.inpaint(image, hole.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)
    ring = cv2.dilate(hole.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool) & ~hole
    ff = as_float(image)
    resid = ff - cv2.GaussianBlur(ff, (0, 0), 1.5).reshape(ff.shape)
    sd = float(np.std(resid[ring])) if ring.any() else 2.0
    noise = rng.normal(0.0, max(0.5, sd), hole.shape).astype(np.float32)
    out = as_float(filled) + (cv2.GaussianBlur(noise, (0, 0), 0.7) * hole)[:, :, None]
    out = np.clip(out, 0, 255).astype(np.uint8)
    return out[:, :, 0] if image.ndim == 2 else out


def background_plate(image: np.ndarray, hole: np.ndarray, scene: Scene | None, rng: np.random.Generator,
                     avoid: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """(plate, source): an image like ``image`` whose pixels under ``hole`` ((H, W) bool)
    show what is behind the removed part; ``source`` is "normal", "self" or "inpaint".

    ``avoid`` ((H, W) bool) marks pixels that are not background (the object, the part);
    by default the scene's foreground when it marks an object, plus the hole.
    """
    if not hole.any():
        return image.copy(), "none"
    fg = scene.foreground if scene is not None else None
    if avoid is None:
        avoid = fg.copy() if distinct_object(fg) else np.zeros(hole.shape, bool)
    avoid = avoid | hole
    memo = getattr(scene, "memo", None)
    if memo is None:
        return _make_plate(image, hole, scene, rng, avoid)
    # Same image, hole, avoid and scene: same plate (a part moved as a whole leaves the same
    # hole in every refined edit of a sample). Inpainted plates draw noise: never stored.
    # (the scene's arrays are the same objects in every edit of a sample: hashed once, digest_of)
    digests = (memo.digest_of(image), memo.digest_of(fg), *(memo.digest_of(n) for n in scene.normals),
               *(memo.digest_of(m) for m in scene.normal_masks))
    key = ("plate", digest(hole), digest(avoid), *digests)
    hit = memo.get(key)
    if hit is not None:
        return hit[0].copy(), hit[1]
    plate, source = _make_plate(image, hole, scene, rng, avoid, digests)
    if source != "inpaint":
        memo.put(key, (plate.copy(), source))
    return plate, source


def _make_plate(image: np.ndarray, hole: np.ndarray, scene: Scene | None, rng: np.random.Generator,
                avoid: np.ndarray, digests: tuple[bytes, ...] = ()) -> tuple[np.ndarray, str]:
    """``background_plate`` without the memo (``avoid`` already includes the hole)."""
    plate = _from_normals(image, hole, scene, digests)
    if plate is not None:
        return plate, "normal"
    coords = _nonzero(hole)  # the hole's (ys, xs), listed once for every step below
    plate = _from_self(image, hole, avoid, coords=coords)
    if plate is not None:
        return plate, "self"
    plate = _from_lattice(image, hole, avoid, coords=coords)
    if plate is not None:
        return _match_lighting(image, plate, hole, avoid, coords=coords), "self-lattice"
    plate = _from_self_tiles(image, hole, avoid, coords=coords)
    if plate is not None:
        return _match_lighting(image, plate, hole, avoid, coords=coords), "self-tiles"
    return _inpaint(image, hole, rng), "inpaint"


LIGHT_STEP = 2  # px: the lighting field is smoothed on a grid this much coarser (see _match_lighting)


def _match_lighting(image: np.ndarray, plate: np.ndarray, hole: np.ndarray, avoid: np.ndarray,
                    coords: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``plate`` with its slow brightness inside ``hole`` matched to the surroundings'.

    Tiles copied from farther away carry other lighting (a lamp's falloff, the part's
    own shadow on the board): the background's brightness around the hole (its bright
    envelope, so dark holes do not count as shade) is carried into it by normalised
    convolution (background pixels only) and divided by the same estimate of the copied
    pixels; one gain per channel and pixel, in [0.75, 1.33].

    Speed: everything runs on the hole's bounding box grown by what a hole pixel depends
    on (the blur's kernel radius plus twice the closing's). The envelope (a closing) is
    taken at full resolution; the normalised convolution (a Gaussian of sigma ~15 px at
    256 px, four blurs that were 70 % of a whole-object displace) runs on a LIGHT_STEP
    coarser grid (area-averaged numerator and weight, sigma / LIGHT_STEP) and the gain is
    interpolated back: 2-2.5x faster. Not the same bytes as the full-resolution blur:
    on 60 real transistor plates (whole object and body holes) 3 % of the hole's pixels
    differ, mean |difference| 0.03 grey levels, 99th percentile 1
    (tests/test_render_background.py bounds it against the full-frame computation).
    ``coords``: the hole's (ys, xs) when the caller has them."""
    h, w = hole.shape
    sigma = max(3.0, 0.06 * min(h, w))
    keep_full = ~(avoid | hole)
    if np.count_nonzero(keep_full) < 16:
        return plate
    ksize = max(3, int(0.08 * min(h, w)) | 1)
    ys, xs = coords if coords is not None else _nonzero(hole)
    # OpenCV's float Gaussian kernel: ksize = round(sigma * 8 + 1) | 1, radius ksize // 2.
    margin = (round(sigma * 8 + 1) | 1) // 2 + 2 * (ksize // 2) + 2
    y0, y1 = max(0, int(ys.min()) - margin), min(h, int(ys.max()) + 1 + margin)
    x0, x1 = max(0, int(xs.min()) - margin), min(w, int(xs.max()) + 1 + margin)
    box = (slice(y0, y1), slice(x0, x1))
    img_c, plate_c, hole_c = image[box], plate[box], hole[box]
    bh, bw = hole_c.shape
    small = (max(1, -(-bw // LIGHT_STEP)), max(1, -(-bh // LIGHT_STEP)))  # (width, height) of the coarse grid
    keep = keep_full[box].astype(np.float32)
    inside = hole_c.astype(np.float32)

    def smooth(a: np.ndarray, wgt: np.ndarray) -> np.ndarray:
        """(sh, sw, c) normalised convolution of ``a`` (bh, bw, c) weighted by ``wgt`` (bh, bw)."""
        num = cv2.GaussianBlur(cv2.resize(_weighted(a, wgt), small, interpolation=cv2.INTER_AREA), (0, 0), sigma / LIGHT_STEP)
        den = cv2.GaussianBlur(cv2.resize(wgt, small, interpolation=cv2.INTER_AREA), (0, 0), sigma / LIGHT_STEP)
        return num.reshape(small[1], small[0], -1) / np.maximum(den, 1e-3)[:, :, None]

    # Compare the bright envelope (a closing wider than the board's holes and tracks), so
    # how many dark features a neighbourhood holds does not read as lighting.
    # (a closing by a disc of ksize px: render/morph.py's union of rectangles, same values)
    fe = as_float(close_disc(np.ascontiguousarray(img_c), ksize))
    pe = _closed_inside(plate_c, hole_c, ksize)
    ratio = (smooth(fe, keep) + 4.0) / (smooth(pe, inside) + 4.0)
    # The gain counts only inside the hole: clipped and applied on the hole's own bounding
    # box (elementwise, so the same values; the box's hole pixels in the same order).
    inner = (slice(int(ys.min()) - y0, int(ys.max()) + 1 - y0), slice(int(xs.min()) - x0, int(xs.max()) + 1 - x0))
    gain = np.clip(cv2.resize(ratio, (bw, bh), interpolation=cv2.INTER_LINEAR).reshape(bh, bw, -1)[inner], 0.75, 1.33)
    p, in_hole = as_float(plate_c[inner]), hole_c[inner]
    lit = cv2.multiply(p, gain) if p.shape[2] > 1 else cv2.multiply(np.ascontiguousarray(p[:, :, 0]), np.ascontiguousarray(gain[:, :, 0]))
    np.rint(lit, out=lit)  # np.round's values (half to even), then clipped: elementwise, before the hole's pixels are picked
    np.clip(lit, 0, 255, out=lit)
    out = plate.copy()
    # The hole's pixels of the window take the lit values: a masked copy, the same bytes as
    # picking them (window[in_hole] = lit[in_hole]) without gathering rows of c values.
    window = out[box][inner]
    np.copyto(window, lit.astype(np.uint8), where=in_hole if window.ndim == 2 else in_hole[:, :, None])
    return out


def _weighted(a: np.ndarray, wgt: np.ndarray) -> np.ndarray:
    """(h, w, c) or (h, w) float32 ``a * wgt[:, :, None]`` for (h, w, c) ``a`` and (h, w)
    ``wgt``: the same products (one float32 multiplication per element) by OpenCV against
    the weight repeated per channel; numpy's broadcast over c = 3 took 4 times as long."""
    c = a.shape[2]
    if c == 1:
        return cv2.multiply(np.ascontiguousarray(a[:, :, 0]), wgt)
    return cv2.multiply(a, cv2.merge([wgt] * c))


def _closed_inside(plate_c: np.ndarray, hole_c: np.ndarray, ksize: int) -> np.ndarray:
    """(bh, bw, c) float32: ``as_float(close_disc(plate_c, ksize))`` on the bounding box of
    ``hole_c`` grown by 2 * (ksize // 2) px, 0 beyond it.

    Why: the lighting match weighs the plate's envelope by the hole (0 outside it), so only
    its hole pixels count, and a closing's value at a pixel depends only on the pixels
    within 2 * (ksize // 2) of it (a dilation, then an erosion, each of that half-width;
    OpenCV's border ignores what lies outside): closing the hole's bounding box grown by
    that much gives the same values there, exactly (grey-level maxima and minima). Outside
    the hole the product with the weight is 0 either way (the envelope is finite, >= 0)."""
    bh, bw = hole_c.shape
    r = 2 * (ksize // 2)
    rows, cols = np.flatnonzero(hole_c.any(axis=1)), np.flatnonzero(hole_c.any(axis=0))
    y0, y1 = max(0, int(rows[0]) - r), min(bh, int(rows[-1]) + 1 + r)
    x0, x1 = max(0, int(cols[0]) - r), min(bw, int(cols[-1]) + 1 + r)
    closed = as_float(close_disc(np.ascontiguousarray(plate_c[y0:y1, x0:x1]), ksize))
    out = np.zeros((bh, bw, closed.shape[2]), np.float32)
    out[y0:y1, x0:x1] = closed
    return out


def lattice_offsets(image: np.ndarray, avoid: np.ndarray, limit: int = 24) -> list[tuple[int, int]]:
    """Offsets (dx, dy) px under which the background repeats (a perforated board, a
    tiled tray), strongest first; empty when it does not.

    The background-weighted image's autocorrelation, divided by the weight's own (so a
    masked object does not bias it), has peaks at the lattice vectors; peaks above half
    the zero-shift value count. Computed at <= 256 px.
    """
    h, w = avoid.shape
    scale = min(1.0, 256.0 / max(h, w))
    g = np.float32(gray(image))
    keep = (~avoid).astype(np.float32)
    if scale < 1:
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        g, keep = cv2.resize(g, size, interpolation=cv2.INTER_AREA), cv2.resize(keep, size, interpolation=cv2.INTER_AREA)
    if keep.sum() < 0.2 * keep.size:
        return []
    g = np.ascontiguousarray((g - float((g * keep).sum() / keep.sum())) * keep, np.float32)

    def autocorr(a: np.ndarray) -> np.ndarray:
        # float32 OpenCV DFT in its packed real format (CCS): 5x the full complex spectrum
        # (which was ~3x numpy's float64 FFT). Not the same bits: the autocorrelation is
        # symmetric (v and -v peak equally) and float noise ordered such pairs, so in 64 of
        # 600 real scenes a pair's order flipped; the set of offsets stayed the same, and 600
        # of 600 structural renders on 40 transistor images kept their bytes (docs/benchmarks.md).
        f = cv2.dft(a)
        return cv2.idft(cv2.mulSpectrums(f, f, 0, conjB=True), flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)

    ac, overlap = autocorr(g), autocorr(np.ascontiguousarray(keep, np.float32))
    norm = ac / np.maximum(overlap, 0.25 * float(overlap.max()))
    norm = np.fft.fftshift(norm)
    cy, cx = norm.shape[0] // 2, norm.shape[1] // 2
    zero = float(norm[cy, cx])
    if zero <= 1e-6:
        return []
    peaks = (norm == cv2.dilate(norm.astype(np.float32), np.ones((5, 5), np.uint8))) & (norm > 0.5 * zero)
    yy, xx = _nonzero(peaks)
    d = np.hypot(yy - cy, xx - cx)
    sel = d > 4
    order = np.argsort(-norm[yy[sel], xx[sel]])[:limit]
    return [(round((xx[sel][i] - cx) / scale), round((yy[sel][i] - cy) / scale)) for i in order]


def _from_lattice(image: np.ndarray, hole: np.ndarray, avoid: np.ndarray,
                  coords: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray | None:
    """Fill ``hole`` tile by tile, each from the shortest valid lattice vector (sums of
    two vectors allowed), so a periodic background continues in phase. ``coords``: the
    hole's (ys, xs) when the caller has them."""
    vecs = lattice_offsets(image, avoid)
    if not vecs:
        return None
    cands = set(vecs)
    for a in vecs[:8]:
        for b in vecs[:8]:
            cands.add((a[0] + b[0], a[1] + b[1]))
    cands.discard((0, 0))
    ordered = sorted(cands, key=lambda o: o[0] ** 2 + o[1] ** 2)
    h, w = hole.shape
    t = max(12, int(min(h, w) / 5))
    ys, xs = coords if coords is not None else _nonzero(hole)
    blocked = avoid | hole
    current = image.copy()
    tile_of = (ys - ys.min()) // t * 10_000 + (xs - xs.min()) // t
    # Tiles in increasing key order (np.unique's), each tile's pixels in the hole's own
    # (row-major) order: one stable sort and a split, not a comparison of every hole
    # pixel per tile. Pixels are copied by flat index (the same pixels as [ys, xs]).
    order = np.argsort(tile_of, kind="stable")
    ys_t, xs_t = ys[order], xs[order]
    starts = np.flatnonzero(np.diff(tile_of[order])) + 1
    flat = ys_t.astype(np.intp) * w + xs_t
    dst, src = _pixel_items(current), _pixel_items(image)
    table = _count_table(blocked)  # most offsets decided without a gather
    # Each tile's slice of the sorted lists (np.split's pieces, without its per-piece overhead).
    bounds = [0, *starts.tolist(), len(flat)]
    for lo, hi in pairwise(bounds):
        ty, tx, at = ys_t[lo:hi], xs_t[lo:hi], flat[lo:hi]
        fits = _offset_test((ty, tx), blocked, table)
        off = next((o for o in ordered if fits(*o)), None)
        if off is None:
            return None
        dst[at] = src[at + (off[1] * w + off[0])]
    return current


def _from_self_tiles(image: np.ndarray, hole: np.ndarray, avoid: np.ndarray,
                     coords: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray | None:
    """``_from_self`` tile by tile for a hole too big for one offset (a whole case): tiles
    of ~1/5 of min(H, W) are filled from the outside in, each matched on its ring of
    known (or already filled) pixels; None when a tile finds no source.

    Each tile's pixels are listed from its own box (the same pixels in the same order as
    from the frame) and copied straight from their source when it lies in the frame (what
    ``_shifted`` would give there): same bytes, ~0.8 ms less per tile. ``coords``: the
    hole's (ys, xs) when the caller has them."""
    h, w = hole.shape
    t = max(12, int(min(h, w) / 5))
    ys, xs = coords if coords is not None else _nonzero(hole)
    depth = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
    tiles = []
    for y in range(int(ys.min()), int(ys.max()) + 1, t):
        for x in range(int(xs.min()), int(xs.max()) + 1, t):
            inner = hole[y:y + t, x:x + t]
            if inner.any():
                sel = np.zeros_like(hole)
                sel[y:y + t, x:x + t] = inner
                tiles.append((float(depth[y:y + t, x:x + t][inner].mean()), sel, (y, x)))
    if len(tiles) > 36:
        return None
    current = image.copy()
    items = _pixel_items(current)  # a view: pixels copied by flat index (the same bytes as by (ys, xs))
    remaining = hole.copy()
    offsets: list[tuple[int, int]] = []
    for _, sel, (y, x) in sorted(tiles, key=lambda item: item[0]):
        remaining &= ~sel
        blocked = avoid | remaining
        ty, tx = _nonzero(sel[y:y + t, x:x + t])
        at = (ty + y, tx + x)
        # Reuse an offset that already worked when it fits this tile too: a periodic
        # board then continues in phase across tiles instead of a patchwork. (The tile's
        # source lies inside the frame, so a plain copy is what _shifted would give.)
        fits = _offset_test(at, blocked)
        reuse = next((o for o in offsets if fits(*o)), None)
        flat = at[0].astype(np.intp) * w + at[1]
        if reuse is not None:
            items[flat] = items[flat + (reuse[1] * w + reuse[0])]
            continue
        found = _from_self(current, sel, blocked, coords=at, offset_only=True)
        if found is None:
            return None
        dx, dy = found
        offsets.append((dx, dy))
        sy, sx = at[0] + dy, at[1] + dx
        if sy.min() >= 0 and sx.min() >= 0 and sy.max() < h and sx.max() < w:
            items[flat] = items[flat + (dy * w + dx)]
        else:  # a source beyond the frame: the reflected border, as _shifted makes it
            current[at] = _shifted(current, dx, dy)[at]
    return current
