"""Normal appearance of a product: what its normal images look like, patch by patch.

Why: a critic that only compares an edit with the one normal image it was made from
cannot tell a faint defect from the product's own variation (a hazelnut's stripes, a
tile's grinding streaks). Fitted once per category on ``train/good`` (no anomalies), this
model answers two questions:

- ``abnormality(image)``: (H, W) float32, how unlike any normal patch each pixel's
  neighbourhood is, in units of the normal images' own 99th percentile (1.0 = as odd as
  the oddest 1 % of normal pixels; a real defect is typically several units);
- ``stats``: the product's own lighting, grain and edges (``ProductStats``), so that a
  defect can be judged "in the product's own light and grain" and a seam against the
  sharpness of the product's own edges.

Features (per pixel, fixed pixel scales, so crops from one camera share them; CIE L*a*b*
units before standardising): lightness and colour blurred at sigma 1 px; local standard
deviation of L* at sigma 1.5 and 4 px (grain and texture energy); gradient magnitude of
L* at sigma 1 px averaged at sigma 2; L* at sigma 1 minus L* at sigma 4 (local contrast,
signed). All are rotation invariant (a hazelnut lies at any angle). Each is standardised
by its spread over the normal pixels; the normal patches are summarised by a k-means
codebook (32 centres); abnormality = distance to the nearest centre over the 99th
percentile of that distance on held-out normal images (the codebook is fitted on the
even-indexed images, the quantiles measured on the odd-indexed ones).

When every normal image has the same size (a product photographed in a fixed pose, such
as a transistor on its board), a per-position model is added: per 4 px cell, the mean and
spread of each feature over the normal images (spread widened by a cell of
misregistration). Abnormality is then the larger of the two, each in its own normal-99th-
percentile units: a missing lead shows board, a normal-looking patch in the wrong place,
which only the per-position model can call abnormal.

Saved as a plain ``.npz`` of arrays plus a JSON string (no pickled code):
``save(path)`` / ``NormalAppearance.load(path)``.

The optional ``effnet`` features (EfficientNet-Lite0 block outputs) are not part of this
model yet: the hand-made features keep the critic at a few ms per judgement.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..records import _Record

FEATURES_RGB = ("L", "a", "b", "grain", "texture", "gradient", "contrast")
FEATURES_GRAY = ("L", "grain", "texture", "gradient", "contrast")
CENTRES = 32
SAMPLES_PER_IMAGE = 2000
VERSION = 1
POSITION_CELL = 4  # px per cell of the per-position model
MIN_POSITION_IMAGES = 4  # fewer fit images than this: no per-position model


def _lab(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 L*a*b* of a uint8 RGB image, or (H, W, 1) L* of a grey one."""
    if image.ndim == 2:
        lut = cv2.cvtColor(np.arange(256, dtype=np.uint8).reshape(1, 256, 1).repeat(3, 2), cv2.COLOR_RGB2LAB)[0, :, 0]
        return (lut.astype(np.float32) * (100.0 / 255.0))[image][..., None]
    return cv2.cvtColor(image.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2LAB)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def pixel_features(image: np.ndarray) -> np.ndarray:
    """(H, W, F) float32 raw features of a uint8 (H, W) or (H, W, 3) image (see module doc)."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, 3) uint8, got {image.dtype} {image.shape}")
    lab = _lab(image)
    lum = np.ascontiguousarray(lab[..., 0])
    l1 = _blur(lum, 1.0)
    l4 = _blur(lum, 4.0)
    sq = lum * lum
    grain = np.sqrt(np.maximum(_blur(sq, 1.5) - _blur(lum, 1.5) ** 2, 0.0))
    texture = np.sqrt(np.maximum(_blur(sq, 4.0) - l4 ** 2, 0.0))
    gx = cv2.Sobel(l1, cv2.CV_32F, 1, 0, ksize=3) * 0.125
    gy = cv2.Sobel(l1, cv2.CV_32F, 0, 1, ksize=3) * 0.125
    gradient = _blur(np.sqrt(gx * gx + gy * gy), 2.0)
    maps = [l1]
    if lab.shape[2] == 3:
        maps += [_blur(np.ascontiguousarray(lab[..., 1]), 1.0), _blur(np.ascontiguousarray(lab[..., 2]), 1.0)]
    maps += [grain, texture, gradient, l1 - l4]
    return np.stack(maps, axis=-1).astype(np.float32)


@dataclass
class ProductStats(_Record):
    """The product's own lighting, grain and edges, measured on its normal images.

    ``noise``: median over images of the robust std of fine detail (L* minus its blur at
    sigma 1.5 px), L* units; ``noise_p90``: its 90th percentile over images.
    ``lightness``: 1st, 50th, 99th percentile of L* over all normal pixels.
    ``edge_sharpness``: 10th/50th/90th percentile over images of the step sharpness of
    their strongest edges (share of a step made between two adjacent pixels: ~0.3-0.5 for
    optics, 1 for a binary cut-out; see critic/appearance.py ``step_sharpness``).
    ``resolution``: 10th percentile over images of the 10th percentile over 24 px windows,
    and the median, of the fine-to-medium detail ratio (``window_resolution``).
    """

    noise: float = 0.0
    noise_p90: float = 0.0
    lightness: list[float] = field(default_factory=lambda: [0.0, 50.0, 100.0])
    edge_sharpness: list[float] = field(default_factory=lambda: [0.3, 0.4, 0.5])
    resolution: list[float] = field(default_factory=lambda: [0.45, 0.6])


def _robust_std(values: np.ndarray) -> float:
    if values.size < 2:
        return 0.0
    med = float(np.median(values))
    return 1.4826 * float(np.median(np.abs(values - med)))


def edge_sharpness(lum: np.ndarray, top: float = 0.05) -> float:
    """Step sharpness of the strongest ``top`` share of 3-pixel steps of one L* image:
    sum(s1 * s3) / sum(s3^2) over horizontal and vertical neighbour pairs, where s1 is
    the one-pixel step and s3 the step over three pixels centred on it."""
    s1 = np.concatenate([np.abs(lum[:, 1:-2] - lum[:, 2:-1]).ravel(), np.abs(lum[1:-2] - lum[2:-1]).ravel()])
    s3 = np.concatenate([np.abs(lum[:, :-3] - lum[:, 3:]).ravel(), np.abs(lum[:-3] - lum[3:]).ravel()])
    if s3.size < 16:
        return 0.0
    keep = s3 >= np.quantile(s3, 1.0 - top)
    den = float((s3[keep] ** 2).sum())
    return float((s1[keep] * s3[keep]).sum()) / den if den > 1e-9 else 0.0


def window_resolution(lum: np.ndarray, side: int = 24) -> np.ndarray:
    """Fine-to-medium detail ratio in non-overlapping ``side`` px windows of one L* image:
    robust std of (L - blur 1 px) over robust std of (blur 1 px - blur 3 px), the same
    estimator the critic applies inside a defect (critic/appearance.py resolution_ratio);
    windows with almost no detail (both under 0.05 L*) are skipped."""
    g1 = _blur(lum, 1.0)
    g3 = _blur(g1, 2.83)
    fine, medium = lum - g1, g1 - g3
    h, w = lum.shape
    out = []
    for y in range(0, h - side + 1, side):
        for x in range(0, w - side + 1, side):
            f, m = _robust_std(fine[y:y + side, x:x + side].ravel()), _robust_std(medium[y:y + side, x:x + side].ravel())
            if f >= 0.05 or m >= 0.05:
                out.append(f / max(m, 1e-3))
    return np.asarray(out, np.float64)


def measure_stats(images: Sequence[np.ndarray]) -> ProductStats:
    """``ProductStats`` of a list of normal uint8 images (any sizes, one channel count)."""
    noise, light, sharp, res_lo, res_med = [], [], [], [], []
    for im in images:
        lum = np.ascontiguousarray(_lab(im)[..., 0])
        noise.append(_robust_std((lum - _blur(lum, 1.5)).ravel()))
        light.append(np.percentile(lum, [1, 50, 99]))
        sharp.append(edge_sharpness(lum))
        ratios = window_resolution(lum)
        if ratios.size:
            res_lo.append(float(np.percentile(ratios, 10)))
            res_med.append(float(np.median(ratios)))
    light_arr = np.asarray(light)
    return ProductStats(
        noise=round(float(np.median(noise)), 4), noise_p90=round(float(np.percentile(noise, 90)), 4),
        lightness=[round(float(v), 3) for v in (light_arr[:, 0].min(), np.median(light_arr[:, 1]), light_arr[:, 2].max())],
        edge_sharpness=[round(float(np.percentile(sharp, q)), 4) for q in (10, 50, 90)],
        resolution=[round(float(np.percentile(res_lo, 10)), 4), round(float(np.median(res_med)), 4)] if res_lo
        else [0.45, 0.6],
    )


@dataclass
class NormalAppearance:
    """A fitted normal-appearance model (see the module docstring).

    ``centre`` (F,) and ``scale`` (F,) standardise raw features; ``codebook`` (K, F) holds
    standardised normal patch prototypes; ``quantiles``: 50th/95th/99th percentile of the
    nearest-centre distance on held-out normal pixels; ``channels``: 1 or 3.
    """

    channels: int
    centre: np.ndarray
    scale: np.ndarray
    codebook: np.ndarray
    quantiles: np.ndarray
    stats: ProductStats
    n_images: int = 0
    # Optional per-position model, for products photographed in a fixed pose (all normal
    # images of one size): per POSITION_CELL px cell, the mean and spread of each raw
    # feature over the normal images; None otherwise (see ``fit_positions``).
    frame: tuple[int, int] | None = None
    position_mean: np.ndarray | None = None  # (H / cell, W / cell, F)
    position_std: np.ndarray | None = None  # same shape, spread incl. a 1-cell misregistration
    position_quantiles: np.ndarray | None = None  # (3,) like ``quantiles``, on held-out images

    @property
    def feature_names(self) -> tuple[str, ...]:
        return FEATURES_RGB if self.channels == 3 else FEATURES_GRAY

    def distance(self, image: np.ndarray, stride: int = 1) -> np.ndarray:
        """(H, W) float32 nearest-centre distance (standardised feature units).

        ``stride`` > 1 evaluates every stride-th pixel and upsamples (cost / stride^2)."""
        return self._distance(pixel_features(_channels(image, self.channels)), stride)

    def _distance(self, feats: np.ndarray, stride: int) -> np.ndarray:
        h, w = feats.shape[:2]
        sub = feats[::stride, ::stride] if stride > 1 else feats
        z = (sub.reshape(-1, sub.shape[2]) - self.centre) / self.scale
        # ||z - c||^2 = ||z||^2 - 2 z.c + ||c||^2, minimised over the codebook
        d2 = (z * z).sum(1, keepdims=True) - 2.0 * z @ self.codebook.T + (self.codebook ** 2).sum(1)[None]
        d = np.sqrt(np.maximum(d2.min(1), 0.0)).reshape(sub.shape[:2]).astype(np.float32)
        if stride > 1:
            d = cv2.resize(d, (w, h), interpolation=cv2.INTER_LINEAR)
        return d

    def position_distance(self, image: np.ndarray, origin: tuple[int, int] = (0, 0)) -> np.ndarray | None:
        """(h, w) float32 distance of each pixel's features from the normal ones AT ITS
        POSITION (standardised by the per-position spread), for ``image`` = a crop whose
        top-left lies at ``origin`` in a frame of the model's size; None without a
        position model."""
        if self.position_mean is None or self.position_std is None:
            return None
        return self._position_distance(pixel_features(_channels(image, self.channels)), origin)

    def _position_distance(self, feats: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
        h, w = feats.shape[:2]
        gh, gw = self.position_mean.shape[:2]
        ys = np.clip((np.arange(h) + origin[0]) // POSITION_CELL, 0, gh - 1)
        xs = np.clip((np.arange(w) + origin[1]) // POSITION_CELL, 0, gw - 1)
        mu = self.position_mean[np.ix_(ys, xs)]
        sd = self.position_std[np.ix_(ys, xs)]
        z = (feats - mu) / sd
        return np.sqrt((z * z).sum(axis=2)).astype(np.float32)

    def abnormality(self, image: np.ndarray, stride: int = 1, origin: tuple[int, int] | None = None,
                    frame: tuple[int, int] | None = None) -> np.ndarray:
        """(H, W) float32 >= 0: distance in units of the normal 99th percentile.

        With a position model and ``frame`` (the full image's (H, W)) equal to the model's,
        ``image`` may be a crop at ``origin`` (y, x) of that frame: the result is then the
        larger of the patch-codebook and the per-position abnormality (each in its own
        normal-99th-percentile units). A whole image of the model's size needs neither."""
        feats = pixel_features(_channels(image, self.channels))  # once, for both models
        a = self._distance(feats, stride) / max(float(self.quantiles[2]), 1e-6)
        if frame is None and origin is None:
            frame, origin = image.shape[:2], (0, 0)
        if self.frame is not None and frame is not None and tuple(frame) == tuple(self.frame) \
                and self.position_quantiles is not None and self.position_mean is not None:
            p = self._position_distance(feats, origin or (0, 0))
            a = np.maximum(a, p / max(float(self.position_quantiles[2]), 1e-6))
        return a

    # ---- persistence: arrays in .npz, the rest as a JSON string (no pickle) ----
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        meta = {"version": VERSION, "channels": self.channels, "n_images": self.n_images, "stats": self.stats.to_dict(),
                "frame": list(self.frame) if self.frame is not None else None}
        extra = {}
        if self.position_mean is not None:
            extra = {"position_mean": self.position_mean, "position_std": self.position_std,
                     "position_quantiles": self.position_quantiles}
        with open(path, "wb") as fh:
            np.savez(fh, centre=self.centre, scale=self.scale, codebook=self.codebook, quantiles=self.quantiles,
                     meta=np.array(json.dumps(meta)), **extra)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "NormalAppearance":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = {k: np.asarray(data[k], np.float32) for k in ("centre", "scale", "codebook", "quantiles")}
                position = {k: np.asarray(data[k], np.float32) for k in ("position_mean", "position_std", "position_quantiles")
                            if k in data.files}
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{path}: not a normal-appearance model file ({exc})") from exc
        if meta.get("version") != VERSION:
            raise ValueError(f"{path}: model version {meta.get('version')} is not {VERSION}; rebuild it")
        frame = meta.get("frame")
        model = cls(channels=int(meta["channels"]), stats=ProductStats.from_dict(meta["stats"]),
                    n_images=int(meta.get("n_images", 0)), frame=tuple(int(v) for v in frame) if frame else None,
                    **arrays, **position)
        if position and (len(position) != 3 or model.position_mean.shape != model.position_std.shape
                         or model.position_mean.shape[-1:] != (len(model.feature_names),)
                         or model.position_quantiles.shape != (3,) or model.frame is None
                         or not all(np.isfinite(a).all() for a in position.values())):
            raise ValueError(f"{path}: position arrays have wrong shapes or non-finite values")
        f = len(model.feature_names)
        if model.centre.shape != (f,) or model.scale.shape != (f,) or model.codebook.ndim != 2 \
                or model.codebook.shape[1] != f or model.quantiles.shape != (3,) \
                or not all(np.isfinite(a).all() for a in arrays.values()):
            raise ValueError(f"{path}: arrays have wrong shapes or non-finite values")
        return model


def _channels(image: np.ndarray, channels: int) -> np.ndarray:
    if channels == 1 and image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if channels == 3 and image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return image


def fit_appearance(images: Sequence[np.ndarray], rng: np.random.Generator, centres: int = CENTRES,
                   samples_per_image: int = SAMPLES_PER_IMAGE) -> NormalAppearance:
    """Fit the model on normal uint8 images (any sizes; grey when any image is grey).

    Needs at least 2 images (one to build the codebook, one to measure its quantiles);
    with a single image the same image does both and the quantiles are optimistic.
    """
    images = list(images)
    if not images:
        raise ValueError("fit_appearance needs at least one normal image")
    channels = 1 if any(im.ndim == 2 for im in images) else 3
    images = [_channels(im, channels) for im in images]
    fit_set = images[0::2]
    held_out = images[1::2] or images
    samples = []
    for im in fit_set:
        f = pixel_features(im).reshape(-1, len(FEATURES_RGB if channels == 3 else FEATURES_GRAY))
        take = rng.choice(len(f), size=min(samples_per_image, len(f)), replace=False)
        samples.append(f[take])
    x = np.concatenate(samples)
    centre = np.median(x, axis=0).astype(np.float32)
    scale = np.maximum(x.std(axis=0), 1e-3).astype(np.float32)
    z = ((x - centre) / scale).astype(np.float32)
    k = int(min(centres, len(z)))
    cv2.setRNGSeed(int(rng.integers(2**31 - 1)))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 1e-3)
    _, _, codebook = cv2.kmeans(z, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    model = NormalAppearance(channels, centre, scale, codebook.astype(np.float32), np.ones(3, np.float32),
                             ProductStats(), n_images=len(images))
    dists = np.concatenate([model.distance(im, stride=2).ravel() for im in held_out])
    model.quantiles = np.percentile(dists, [50, 95, 99]).astype(np.float32)
    model.stats = measure_stats(images)
    if len({im.shape for im in images}) == 1 and len(fit_set) >= MIN_POSITION_IMAGES:
        fit_positions(model, fit_set, held_out)
    return model


def fit_positions(model: NormalAppearance, fit_set: list[np.ndarray], held_out: list[np.ndarray]) -> None:
    """Add the per-position model (images of one size, a fixed pose assumed).

    Per POSITION_CELL px cell: the mean of each raw feature over ``fit_set`` and its
    spread, widened by the mean's own variation over the neighbouring cells (a part
    shifted by a cell is not abnormal) and floored at a tenth of the feature's global
    spread. A product that is not posed the same way (a hazelnut at any angle) gets a
    wide spread everywhere, and then the codebook decides."""
    h, w = fit_set[0].shape[:2]
    gh, gw = max(1, h // POSITION_CELL), max(1, w // POSITION_CELL)
    stack = np.stack([cv2.resize(pixel_features(im), (gw, gh), interpolation=cv2.INTER_AREA) for im in fit_set])
    mean = stack.mean(axis=0)
    var = stack.var(axis=0)
    local = np.stack([_blur(np.ascontiguousarray(mean[..., k] ** 2), 1.0) - _blur(np.ascontiguousarray(mean[..., k]), 1.0) ** 2
                      for k in range(mean.shape[2])], axis=-1)
    std = np.sqrt(np.maximum(var + np.maximum(local, 0.0), 0.0) + (0.1 * model.scale) ** 2)
    model.frame, model.position_mean, model.position_std = (h, w), mean.astype(np.float32), std.astype(np.float32)
    dists = np.concatenate([model.position_distance(im).ravel() for im in held_out])
    model.position_quantiles = np.percentile(dists, [50, 95, 99]).astype(np.float32)


def fit(images: Sequence[np.ndarray], rng: np.random.Generator | None = None) -> NormalAppearance:
    """``fit_appearance`` with a fixed default seed: the entry point ProductModel calls
    (``product.appearance.fit(images)``); same images, same model."""
    return fit_appearance(images, rng if rng is not None else np.random.default_rng(0))
