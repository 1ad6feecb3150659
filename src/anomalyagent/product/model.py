"""The product model of one category, built once from its normal images and cached.

``ProductModel.build(category_dir)`` reads ``train/good`` (or a plain folder of normal
images), decides object vs texture, segments every normal image carefully (segment.py,
about 0.5 s an image), finds the parts that recur across the set (parts.py) and fits a
tiny pixel classifier that reproduces those masks. ``locate(image)`` applies it to a new
image in a few ms: object mask plus part masks (cleaned up by cleanup.py). The cache is an
.npz of plain arrays (no pickled code) plus a JSON summary, keyed by the image paths, sizes
and mtimes and the fingerprint of the code (cache.py).
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data import DataError, index_normals
from ..images import read_image
from . import cache
from .cache import VERSION
from .cleanup import keep_recurring_pieces, resize_mask, thin_to_core, unlike_background
from .features import PixelClassifier, fit_classifier, pixel_features
from .leads import attach_roots, extend_thin_parts, thin_pieces
from .memo import LocateMemo, image_key
from .parts import ATTACH_GAP, describe, split_parts, texture_parts
from .regions import Region, resolve_region
from .segment import WORK_SIDE, background_bank, bank_reference, is_texture, novelty, object_from_novelty, to_work

log = logging.getLogger(__name__)

BODY_RADIUS = 0.05  # opening radius that separates thin parts from the body, fraction of the side
PRESENCE = 0.5  # a part recurs when found in at least half of the normal images
SAMPLES_PER_IMAGE = 6000  # classifier training pixels drawn per normal image
RECTANGULAR = 0.9  # median body rectangularity (parts.robust_rectangle) above which bodies are snapped
COLOUR = slice(0, 3)  # feature channels of the pixel's own (sigma 1) colour


class ProductError(ValueError):
    """The product model cannot be built or loaded; the message names the folder or file."""


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
    code: str = field(default_factory=lambda: cache.code_fingerprint())  # fingerprint of the code that built it
    appearance: Any = None
    _memo: LocateMemo = field(default_factory=LocateMemo, repr=False, compare=False)

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
        target = cache.cache_file(images_dir.resolve(), normal.category, Path(cache_dir) if cache_dir else None)
        key = cache.cache_key(list(normal.paths), kind, max_images)
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
        Results are remembered per image (product/memo.py: a synthesis run draws its samples
        from a few dozen normal images, each many times); treat the returned masks as read-only.
        """
        key = image_key(image)
        found = self._memo.get(key)
        if found is None:
            found = self._locate(image)
            for mask in (found[0], *found[1].values()):  # shared by later samples of this image: never written
                mask.flags.writeable = False
            self._memo.put(key, found)
        obj, parts = found
        return obj, dict(parts)

    def _locate(self, image: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        h, w = image.shape[:2]
        if self.kind == "texture" or self.classifier is None:
            parts = texture_parts((h, w))
            return parts["object"], parts
        work = to_work(image)
        feats = pixel_features(work)
        prob = self.classifier.predict(feats)
        away = unlike_background(feats[..., COLOUR], prob)
        parts = split_parts(prob > 0.5, self.radius, rectangular=self.rectangular, guide=feats[..., 0])
        if not parts or parts["object"].mean() < 0.01:  # nothing found: do not restrict placement
            parts = texture_parts(work.shape[:2])
        keep_recurring_pieces(parts, round(self.parts.get("lead", {}).get("count", 0)))
        thin_to_core(parts)
        if "lead_labels" in parts:
            pieces = thin_pieces(parts)  # the lead labels and body, which neither step changes
            attach_roots(parts, ATTACH_GAP * min(work.shape[:2]), pieces=pieces)
            extend_thin_parts(parts, away, pieces=pieces)
        if work.shape[:2] != (h, w):
            parts = {k: resize_mask(v, (h, w)) for k, v in parts.items()}
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
        if model.code != cache.code_fingerprint():  # build() rebuilds such a model (the key differs)
            log.warning("%s: built by other product-model code (%s, now %s); rebuild it for current masks",
                        path, model.code or "unknown", cache.code_fingerprint())
        restore = _appearance_api("from_dict")
        if "appearance" in meta and restore is not None:
            try:
                model.appearance = restore(meta["appearance"])
            except Exception as exc:  # an optional add-on must not break loading
                log.warning("%s: cached appearance model unreadable (%s); call fit_appearance()", path, exc)
        return model


def _appearance_api(name: str) -> Any:
    """``fit`` / ``from_dict`` of product/appearance.py (a module function or a classmethod of
    its AppearanceModel), or None when that module is not installed yet."""
    try:
        from . import appearance as module
    except ImportError:
        log.debug("product.appearance not available; no appearance model")
        return None
    return getattr(module, name, None) or getattr(getattr(module, "AppearanceModel", None), name, None)


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
