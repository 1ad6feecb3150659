"""The agent as a synthesis method: closed-loop episodes, retried with new seeds on failure."""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ..change import change_mask, iou, solid
from ..config import AgentConfig, build_agent
from ..records import Task
from ..render.memo import RenderMemo
from ..usage import Usage, add_usage, usage_dict
from .base import METHODS, MethodResult, NormalPool

if TYPE_CHECKING:
    from ..product import ProductModel

log = logging.getLogger(__name__)

SHARED_MEMO = 32  # entries of the run-long render memo: donors' registration weights (DONOR_SET a category)
DONOR_SET = 16  # normal images per category the editor may draw background plates and donors from


def attempt_seed(seed: int, attempt: int) -> int:
    """Seed of the ``attempt``-th episode for a task (attempt 0 uses the task seed)."""
    return seed if attempt == 0 else int(np.random.SeedSequence([seed, attempt]).generate_state(1)[0] >> 1)


def agent_config(config: AgentConfig | dict[str, Any] | None = None, *, policy: str | None = None,
                 editor: str | None = None, critic: str | None = None, max_turns: int | None = None,
                 retries: int | None = None, learned: bool | None = None,
                 knowledge: tuple[str, ...] | list[str] | None = None, calibration: str | None = None,
                 bank: str | None = None, bank_share: float | None = None) -> AgentConfig:
    """``config`` (or the defaults) with the older keyword arguments applied on top
    (``calibration``: the critic's thresholds, AgentConfig.calibration; ``bank``,
    ``bank_share``: a defect bank folder and the share of tasks pasting from it)."""
    if not isinstance(config, AgentConfig):
        config = AgentConfig.from_dict(config or {})
    config = config.replace(max_turns=max_turns, retries=retries, knowledge=list(knowledge) if knowledge else None,
                            calibration=calibration, bank=bank, bank_share=bank_share)
    if policy is not None and policy != config.policy.name:
        config = dataclasses.replace(config, policy=policy)
    config = config.with_tool("IG", editor if editor != config.tools["IG"].name else None)
    config = config.with_tool("QE", critic if critic != config.tools["QE"].name else None)
    if learned:
        config = config.with_tool("QE", None, learned=True)
    return config


@METHODS.register("agent")
class AgentMethod:
    """Runs episodes of one agent (built once, here) on each task; up to ``1 + retries`` episodes.

    A sample is "passed" when an episode ended with a passing QE and an MG mask. When no
    episode passes, the best-scored attempt is kept, its mask computed by the same change
    detection as MG, and the sample is marked not passed in the manifest. Options: an
    AgentConfig (or its dict form) as ``config``, and/or the older keyword arguments
    (``policy``, ``editor``, ``critic``, ``max_turns``, ``retries``, ``learned``,
    ``knowledge``, ``calibration``), which override it.
    """

    name = "agent"

    def __init__(self, config: AgentConfig | dict[str, Any] | None = None,
                 product: "str | ProductModel | None" = None, **overrides: Any) -> None:
        self.config = agent_config(config, **overrides)
        if isinstance(product, str):  # recorded in the config (the run record shows it)
            self.config = dataclasses.replace(self.config, product=product)
        self.agent = build_agent(self.config)
        self.max_turns, self.retries = self.config.max_turns, self.config.retries
        # ``product``: None (use the config's ``product``), "none" (foreground estimate only),
        # "auto" (build or load the category's product model from the pool's normal images,
        # cached in the cache folder), a category folder / .npz cache, or a ProductModel
        self.product = product if product is not None else self.config.product
        self._products: dict[str, Any] = {}
        self._products_lock = threading.Lock()  # --concurrency threads share this method: build once
        self._normal_masks: dict[tuple[str, int], np.ndarray] = {}  # (category, pool index) -> object mask
        # what the editor computes from images alone and reuses across samples (render/memo.py:
        # a donor's registration weights); threads share it, so it has a lock
        self._image_memo = RenderMemo(limit=SHARED_MEMO, threadsafe=True)
        self.bank = None
        if self.config.bank:  # a bad folder fails here, before any sample, with the folder named
            from ..bank import DefectBank

            try:
                self.bank = DefectBank.load(self.config.bank)
            except OSError as exc:  # reported like every other bad input (a ValueError naming the file)
                raise ValueError(f"bank: {exc}") from None

    def _product_for(self, category: str, pool: NormalPool):
        if not self.product or self.product == "none":
            return None
        with self._products_lock:
            if category not in self._products:
                self._products[category] = self._load_product(category, pool)
            return self._products[category]

    def _load_product(self, category: str, pool: NormalPool):
        """The category's ProductModel from ``self.product``; None when it cannot be built."""
        from ..product import ProductModel

        source = self.product
        try:
            if isinstance(source, ProductModel):  # a model built by the caller
                return source
            if source == "auto":
                # Cached in the cache folder ($ANOMALYAGENT_CACHE), never in the user's data folder.
                return ProductModel.build(pool.paths[0].parent, category=category) if pool.paths else None
            if str(source).endswith(".npz"):
                return ProductModel.load(source)
            return ProductModel.build(source, category=category)
        except (OSError, ValueError) as exc:  # a model that cannot be built: plan on the foreground estimate
            log.warning("%s: no product model (%s); planning on the foreground estimate", category, exc)
            return None

    def _context(self, task: Task, pool: NormalPool, product: Any) -> dict[str, Any]:
        """What the editor gets besides the image: ``config.normals`` other normal images of
        the category (never the task's own), their object masks from the product model when
        there is one, and the defect bank (for a ``bank_share`` of the tasks, picked by
        the task's seed, so a task's retries agree). The normals come from a fixed set of at most
        DONOR_SET images per category (evenly spaced over the pool), so the masks computed
        for them stay few and are computed once; which ones a task gets follows its seed."""
        bank = self.bank
        if bank is not None and np.random.default_rng([task.seed, 23]).random() >= self.config.bank_share:
            bank = None  # this task is drawn as without a bank (bank_share)
        # memo: registrations and plates the editor reuses across this sample's edits and episodes
        context: dict[str, Any] = {"bank": bank, "memo": RenderMemo(shared=self._image_memo)}
        if self.config.normals <= 0 or not len(pool):
            return context
        step = max(1, len(pool) // DONOR_SET)
        donors = [i for i in range(0, len(pool), step)[:DONOR_SET] if str(pool.paths[i]) != str(task.image_path)]
        order = np.random.default_rng([task.seed, 17]).permutation(len(donors))
        normals, masks = [], []
        for j in order:
            index = donors[int(j)]
            try:
                other = pool.load(index)
            except ValueError:  # an unreadable normal is skipped (the pipeline reports bad inputs)
                continue
            normals.append(other)
            if product is not None:
                key = (task.category, index)
                with self._products_lock:
                    mask = self._normal_masks.get(key)
                if mask is None:
                    mask = product.locate(other)[0]
                    with self._products_lock:
                        self._normal_masks[key] = mask
                masks.append(mask)
            if len(normals) == self.config.normals:
                break
        context.update(normals=tuple(normals), normal_masks=tuple(masks))
        return context

    def synthesize(self, image: np.ndarray, task: Task, rng: np.random.Generator, pool: NormalPool) -> MethodResult:
        best = None
        timings: dict[str, float] = {}
        usage: dict[str, Usage] = {}
        info: dict[str, Any] = {}
        product = self._product_for(task.category, pool)
        context = self._context(task, pool, product)
        for attempt in range(1 + self.retries):
            start = time.perf_counter()
            episode_task = dataclasses.replace(task, seed=attempt_seed(task.seed, attempt))
            episode = self.agent.run(episode_task, image, product=product, **context)
            timings["episodes"] = timings.get("episodes", 0.0) + time.perf_counter() - start
            for key, value in episode.state.timings.items():
                timings[key] = timings.get(key, 0.0) + value
            for key, value in episode.state.usage.items():
                add_usage(usage, key, value)
            info["usage"] = usage_dict(usage)
            state, traj = episode.state, episode.trajectory
            if traj.passed:
                return MethodResult(state.edited, state.mask, True, traj.score, traj, state.spec, timings,
                                    {"attempts": attempt + 1, **info, **self._measure(state.mask, state.alpha, state.foreground)})
            if state.best and (best is None or state.best["score"] > best[0]["score"]):
                best = (state.best, traj, state.foreground)
        if best is None:  # no edit at all (the policy never reached IG): return the input, empty mask
            return MethodResult(image.copy(), np.zeros(image.shape[:2], bool), False, 0.0, traj, None, timings,
                                {"attempts": 1 + self.retries, **info})
        chosen, traj, fg = best
        spec = chosen["spec"]
        mask = change_mask(image, chosen["edited"], hint=spec.center if spec else None)
        from ..critic.judge import moves_material

        if moves_material(spec):  # as MG does (tools/builtin.py)
            mask = solid(mask)
        return MethodResult(chosen["edited"], mask, False, float(chosen["score"]), traj, spec, timings,
                            {"attempts": 1 + self.retries, **info, **self._measure(mask, chosen["alpha"], fg)})

    @staticmethod
    def _measure(mask: np.ndarray, alpha: np.ndarray | None, fg: np.ndarray) -> dict[str, float]:
        """MG IoU vs the exact alpha (when the editor knows it) and the on-object fraction."""
        out = {"on_object": float((mask & fg).sum() / max(1, mask.sum()))}
        if alpha is not None:
            out["mg_iou"] = iou(mask, alpha > 0.5)
        return out
