"""The product model of one category, built once from its normal images and cached.

``ProductModel.build(category_dir)`` reads ``train/good`` (or a plain folder of normal
images), decides object vs texture, segments every normal image carefully (segment.py,
about 0.5 s an image), finds the parts that recur across the set (parts.py) and fits a
tiny pixel classifier that reproduces those masks. ``locate(image)`` applies it to a new
image in a few ms: object mask plus part masks. The cache is an .npz of plain arrays
(no pickled code) plus a JSON summary, keyed by the image paths, sizes and mtimes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..data import DataError, index_normals
from ..images import read_image
from .features import PixelClassifier, fit_classifier, pixel_features
from .parts import describe, extend_thin_parts, split_parts, texture_parts
from .regions import Region, resolve_region
from .segment import WORK_SIDE, background_bank, bank_reference, is_texture, novelty, object_from_novelty, to_work

log = logging.getLogger(__name__)

VERSION = 1  # bump when the cache format changes (the code fingerprint covers the build code)
BODY_RADIUS = 0.05  # opening radius that separates thin parts from the body, fraction of the side
PRESENCE = 0.5  # a part recurs when found in at least half of the normal images
SAMPLES_PER_IMAGE = 6000  # classifier training pixels drawn per normal image
RECTANGULAR = 0.9  # median body rectangularity (parts.robust_rectangle) above which bodies are snapped
COLOUR = slice(0, 3)
AWAY_Z = 2.0  # unlike_background: lightness distance from the background median, in its own MADs  # feature channels of the pixel's own (sigma 1) colour


class ProductError(ValueError):
    """The product model cannot be built or loaded; the message names the folder or file."""


# The module whose import closure decides what a build produces (and what a cached model means).
CODE_ROOT = "anomalyagent.product.model"


def code_files() -> tuple[Path, ...]:
    """Source files a built model depends on: this module and every ``anomalyagent`` module
    it imports, transitively (lazy imports included): the product package itself, and
    ``images.py`` / ``data.py``, which read and index the normal images it is built from."""
    from ..eval.fingerprint import source_closure  # the closure walker the bench rows use too

    return tuple(source_closure((CODE_ROOT,)))


@lru_cache(maxsize=None)
def code_fingerprint(files: tuple[Path, ...] | None = None) -> str:
    """Hash of the product model's source code (``code_files()`` by default).

    Part of the cache key, so a model cached by older code is rebuilt, never reused, even
    when nobody remembered to bump VERSION. A file that cannot be read hashes as missing.
    Files are named by their path below the ``anomalyagent`` package (two ``__init__.py``
    files do not collide).
    """
    package = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for path in files if files is not None else code_files():
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError:
            data = b"<missing>"
        resolved = path.resolve()
        name = resolved.relative_to(package).as_posix() if resolved.is_relative_to(package) else path.name
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()[:16]


def cache_key(paths: list[Path], kind: str, max_images: int) -> str:
    """Hash of the build inputs: every image path, size and mtime, the settings, the cache
    format version and the fingerprint of the build code."""
    h = hashlib.sha256(f"v{VERSION}|{code_fingerprint()}|{kind}|{max_images}|{WORK_SIDE}".encode())
    for p in sorted(paths):
        st = p.stat()
        h.update(f"|{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def default_cache_dir() -> Path:
    return Path(os.environ.get("ANOMALYAGENT_CACHE", Path.home() / ".cache" / "anomalyagent")) / "product"


def _cache_file(folder: Path, category: str, cache_dir: Path | None) -> Path:
    """In ``cache_dir`` when given, else in the cache folder ($ANOMALYAGENT_CACHE or
    ~/.cache/anomalyagent), named by the category and a hash of the data folder's path:
    never written into the user's data folder, and two datasets with the same category
    name do not share (or overwrite) one cache file."""
    tag = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:10]
    return (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / f"{category}-{tag}.product.npz"


@dataclass
class ProductModel:
    """What a category's normal images say about where the product and its parts are.

    ``kind``: "object" or "texture"; ``radius``: body opening radius in px at the working
    side; ``parts``: recurring parts -> descriptors (presence share, area, count, length,
    width as fractions of the side, elongation); ``appearance``: the normal-appearance model
    (product/appearance.py) once ``fit_appearance`` ran, else None.
    """

    category: str
    kind: str
    radius: int
    classifier: PixelClassifier | None
    parts: dict[str, dict[str, float]] = field(default_factory=dict)
    build_seconds: float = 0.0
    n_images: int = 0
    key: str = ""
    paths: list[str] = field(default_factory=list)
    cached: bool = False  # True when this instance came from the cache
    code: str = field(default_factory=lambda: code_fingerprint())  # fingerprint of the code that built it
    appearance: Any = None
    _memo: "OrderedDict[bytes, tuple]" = field(default_factory=OrderedDict, repr=False, compare=False)

    # ---- building -------------------------------------------------------------------
    @classmethod
    def build(cls, category_dir: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
              category: str | None = None, kind: str = "auto", max_images: int = 40, refresh: bool = False) -> "ProductModel":
        """The model of the category in ``category_dir`` (MVTec category folder or a folder of
        images), from the cache when its key matches, else built and cached."""
        folder = Path(category_dir).expanduser()
        try:
            sets = index_normals(folder, category)
        except DataError as exc:
            raise ProductError(str(exc)) from exc
        if len(sets) != 1:
            raise ProductError(f"{folder}: holds {len(sets)} categories ({', '.join(s.category for s in sets)}); pass one category folder")
        normal = sets[0]
        # Named by the folder that holds the images (train/good), however the category was given.
        images_dir = normal.paths[0].parent if normal.paths else folder
        target = _cache_file(images_dir.resolve(), normal.category, Path(cache_dir) if cache_dir else None)
        key = cache_key(list(normal.paths), kind, max_images)
        if not refresh and target.is_file():
            try:
                model = cls.load(target)
                if model.key == key:
                    return model
                log.info("%s: normal images changed, rebuilding the product model", target)
            except ProductError as exc:
                log.warning("%s; rebuilding", exc)
        model = cls.build_from_paths(list(normal.paths), normal.category, kind=kind, max_images=max_images)
        model.key = key
        try:
            model.save(target)
        except OSError as exc:  # read-only data and cache: keep the model in memory only
            log.warning("could not cache the product model at %s: %s", target, exc)
            return model
        # What a later run loads: built and cached runs must give the same bytes.
        loaded = cls.load(target)
        loaded.cached = False
        return loaded

    @classmethod
    def build_from_paths(cls, paths: list[Path], category: str, kind: str = "auto", max_images: int = 40,
                         seed: int = 0) -> "ProductModel":
        """Build from these normal images (not cached; ``build`` caches)."""
        start = time.perf_counter()
        rng = np.random.default_rng(seed)
        paths = sorted(Path(p) for p in paths)
        if not paths:
            raise ProductError(f"{category}: no normal images to build a product model from")
        if len(paths) > max_images:  # evenly spaced subset: the build stays under a minute
            paths = [paths[int(i)] for i in np.linspace(0, len(paths) - 1, max_images).round()]
        images = []
        for p in paths:
            try:
                images.append(to_work(read_image(p)))
            except ValueError as exc:  # one bad image never kills the build
                log.warning("skipping %s", exc)
        if not images:
            raise ProductError(f"{category}: none of the {len(paths)} normal images could be read")
        radius = max(2, round(BODY_RADIUS * WORK_SIDE))
        if kind == "texture":
            return cls._texture(category, radius, images, paths, start)
        feats = [pixel_features(im) for im in images]
        bank, scale, ref = background_bank(feats, rng)
        novel = [novelty(f, bank, scale, ref) for f in feats]
        fine_ref = bank_reference(bank, rng, COLOUR)
        if kind == "auto" and is_texture(novel):
            return cls._texture(category, radius, images, paths, start)
        masks = [object_from_novelty(im, n, radius, novelty(f, bank, scale, fine_ref, COLOUR))
                 for im, n, f in zip(images, novel, feats)]
        xs, ys = [], []
        for f, m in zip(feats, masks):
            idx = rng.choice(m.size, min(SAMPLES_PER_IMAGE, m.size), replace=False)
            xs.append(f.reshape(-1, f.shape[2])[idx])
            ys.append(m.reshape(-1)[idx])
        clf = fit_classifier(np.concatenate(xs), np.concatenate(ys), rng)
        parts = _recurring([describe(split_parts(m, radius)) for m in masks])
        model = cls(category, "object", radius, clf, parts, 0.0, len(images), paths=[str(p) for p in paths])
        model.fit_appearance(images)
        model.build_seconds = time.perf_counter() - start
        return model

    @classmethod
    def _texture(cls, category: str, radius: int, images: list[np.ndarray], paths: list[Path], start: float) -> "ProductModel":
        model = cls(category, "texture", radius, None, _texture_descriptors(images), 0.0, len(images), paths=[str(p) for p in paths])
        model.fit_appearance(images)
        model.build_seconds = time.perf_counter() - start
        return model

    # ---- using ----------------------------------------------------------------------
    def locate(self, image: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(object mask (H, W) bool, {part name: (H, W) bool}) for a new image of the product.

        Parts include "object", "body", "edge", "centre" and, when found, "lead" (thin
        elongated parts), "hole"; "lead_labels" is an (H, W) int32 map, one label per lead.
        The last few results are remembered (an agent retries episodes on the same image);
        treat the returned masks as read-only.
        """
        digest = hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16)
        digest.update(str(image.shape).encode())
        key = digest.digest()
        if key in self._memo:
            self._memo.move_to_end(key)
            obj, parts = self._memo[key]
            return obj, dict(parts)
        obj, parts = self._locate(image)
        self._memo[key] = (obj, parts)
        while len(self._memo) > 8:
            self._memo.popitem(last=False)
        return obj, dict(parts)

    def _locate(self, image: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        h, w = image.shape[:2]
        if self.kind == "texture" or self.classifier is None:
            parts = texture_parts((h, w))
            return parts["object"], parts
        work = to_work(image)
        feats = pixel_features(work)
        prob = self.classifier.predict(feats)
        parts = split_parts(prob > 0.5, self.radius, rectangular=self.rectangular)
        if not parts or parts["object"].mean() < 0.01:  # nothing found: do not restrict placement
            parts = texture_parts(work.shape[:2])
        keep_recurring_pieces(parts, round(self.parts.get("lead", {}).get("count", 0)))
        thin_to_core(parts)
        if "lead_labels" in parts:
            extend_thin_parts(parts, unlike_background(feats[..., 0], prob))
        if work.shape[:2] != (h, w):
            parts = {k: _resize(v, (h, w)) for k, v in parts.items()}
        return parts["object"], parts

    @property
    def rectangular(self) -> bool:
        """True when the body of the normal images is a rectangle (median rectangularity of
        their bodies >= RECTANGULAR): located bodies are then snapped to a robust rectangle."""
        return self.parts.get("body", {}).get("rectangularity", 0.0) >= RECTANGULAR

    def region(self, location: str, defect_type: str, parts: dict[str, np.ndarray]) -> Region:
        """The Region (regions.py) a defect with this knowledge-base location goes to."""
        return resolve_region(location, defect_type, parts)

    def fit_appearance(self, images: list[np.ndarray] | None = None) -> Any:
        """Fit the normal-appearance model (product/appearance.py, written separately) when
        that module exists; None (and a debug log line) when it does not or fails.
        ``images`` default: the normal images the model was built from."""
        fit = _appearance_api("fit")
        if fit is None:
            return None
        if images is None:
            images = [read_image(p) for p in self.paths if Path(p).is_file()]
        try:
            self.appearance = fit(images)
        except Exception as exc:  # an optional add-on must not break the product model
            log.warning("appearance model could not be fitted: %s", exc)
            self.appearance = None
        return self.appearance

    # ---- persistence ----------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """JSON-ready description (no arrays)."""
        return {"category": self.category, "kind": self.kind, "radius_px": self.radius, "work_side": WORK_SIDE,
                "parts": self.parts, "build_seconds": round(self.build_seconds, 3), "n_images": self.n_images,
                "key": self.key, "version": VERSION, "code": self.code}

    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {**self.summary(), "paths": self.paths}
        if self.appearance is not None and hasattr(self.appearance, "to_dict"):
            try:
                meta["appearance"] = self.appearance.to_dict()
                json.dumps(meta["appearance"])
            except (TypeError, ValueError) as exc:  # not JSON: refit after loading instead
                log.debug("appearance model not cached: %s", exc)
                meta.pop("appearance", None)
        arrays = self.classifier.arrays() if self.classifier is not None else {}
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, path)
        path.with_suffix(".json").write_text(json.dumps(self.summary(), indent=1))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ProductModel":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                clf = PixelClassifier.from_arrays(dict(data)) if "clf_w1" in data.files else None
        except (OSError, ValueError, KeyError) as exc:
            raise ProductError(f"{path}: not a readable product model ({exc})") from exc
        if meta.get("version") != VERSION:
            raise ProductError(f"{path}: product model version {meta.get('version')} != {VERSION}")
        model = cls(meta["category"], meta["kind"], int(meta["radius_px"]), clf, meta.get("parts", {}),
                    float(meta.get("build_seconds", 0.0)), int(meta.get("n_images", 0)), meta.get("key", ""),
                    list(meta.get("paths", [])), cached=True, code=str(meta.get("code", "")))
        if model.code != code_fingerprint():  # build() rebuilds such a model (the key differs)
            log.warning("%s: built by other product-model code (%s, now %s); rebuild it for current masks",
                        path, model.code or "unknown", code_fingerprint())
        restore = _appearance_api("from_dict")
        if "appearance" in meta and restore is not None:
            try:
                model.appearance = restore(meta["appearance"])
            except Exception as exc:  # an optional add-on must not break loading
                log.warning("%s: cached appearance model unreadable (%s); call fit_appearance()", path, exc)
        return model


def unlike_background(lightness: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose lightness (H, W) is far from this image's typical
    background (median where prob < 0.1): farther than AWAY_Z median absolute deviations
    of the background pixels themselves (the board's dark gaps and holes count, its plain
    surface does not)."""
    bg = prob[::2, ::2] < 0.1  # every 4th pixel is plenty for a median
    if bg.sum() < 25:
        return np.zeros(prob.shape, bool)
    values = lightness[::2, ::2][bg]
    ref = float(np.median(values))
    mad = float(np.median(np.abs(values - ref))) + 1e-6
    return np.abs(lightness - ref) > AWAY_Z * mad


def thin_to_core(parts: dict[str, np.ndarray]) -> None:
    """Peel one pixel (4-neighbour erosion) off the thin parts in the object mask, in place.

    Why: the classifier's colour features are blurred (sigma 1 px and more), so the
    located outline of a part a few px wide runs about a pixel outside it on each side
    (the lead's dark rim and its shadow on the board); found on the dev half of the hand
    labels (docs/benchmarks.md). Bodies keep their outline, and so does the lead part
    that plans use (the planner keeps to a lead's distinct core anyway; peeling it too
    cost bent_lead plans about 5 points of part hit rate on the labelled images)."""
    lead = parts.get("lead")
    if lead is None or not lead.any():
        return
    core = cv2.erode(lead.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))) > 0
    drop = lead & ~core
    for name in ("object", "edge", "centre"):
        if name in parts:
            parts[name] = parts[name] & ~drop


def keep_recurring_pieces(parts: dict[str, np.ndarray], count: int) -> None:
    """Keep the ``count`` largest thin parts (the number that recurs across the normal set,
    e.g. a transistor's 3 leads); extra thin pieces (a shadow strip beside a lead) leave the
    lead and the object masks. In place; nothing happens when count is 0 or not exceeded."""
    labels = parts.get("lead_labels")
    if labels is None or count <= 0 or labels.max() <= count:
        return
    areas = np.bincount(labels.ravel())[1:]
    keep = 1 + np.argsort(areas)[::-1][:count]
    drop = (labels > 0) & ~np.isin(labels, keep)
    for name in ("object", "lead", "edge", "centre"):
        if name in parts:
            parts[name] = parts[name] & ~drop
    relabel = np.zeros(labels.max() + 1, np.int32)
    relabel[np.sort(keep)] = np.arange(1, len(keep) + 1)
    parts["lead_labels"] = relabel[labels]


def _appearance_api(name: str) -> Any:
    """``fit`` / ``from_dict`` of product/appearance.py (a module function or a classmethod of
    its AppearanceModel), or None when that module is not installed yet."""
    try:
        from . import appearance as module
    except ImportError:
        log.debug("product.appearance not available; no appearance model")
        return None
    return getattr(module, name, None) or getattr(getattr(module, "AppearanceModel", None), name, None)


def _resize(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    if mask.dtype == bool:
        return cv2.resize(mask.astype(np.uint8) * 255, (w, h), interpolation=cv2.INTER_LINEAR) > 127
    return cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)


def _recurring(per_image: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Parts found in at least PRESENCE of the images, with median descriptors."""
    out: dict[str, dict[str, float]] = {}
    names = sorted({n for d in per_image for n in d})
    for name in names:
        found = [d[name] for d in per_image if name in d]
        presence = len(found) / max(1, len(per_image))
        if presence < PRESENCE:
            continue
        out[name] = {"presence": round(presence, 3),
                     **{k: round(float(np.median([f[k] for f in found])), 4) for k in found[0]}}
    return out


def _texture_descriptors(images: list[np.ndarray]) -> dict[str, dict[str, float]]:
    return {name: {"presence": 1.0, **d} for name, d in describe(texture_parts(images[0].shape[:2])).items()}
