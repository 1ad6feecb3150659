"""The agent as a synthesis method: closed-loop episodes, retried with new seeds on failure."""
from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import numpy as np

from ..agent import POLICIES, run_episode
from ..change import change_mask, iou
from ..knowledge import KnowledgeBase
from ..records import Task
from ..tools import default_toolbox
from .base import METHODS, MethodResult, NormalPool

if TYPE_CHECKING:
    from ..product import ProductModel


def attempt_seed(seed: int, attempt: int) -> int:
    """Seed of the ``attempt``-th episode for a task (attempt 0 uses the task seed)."""
    return seed if attempt == 0 else int(np.random.SeedSequence([seed, attempt]).generate_state(1)[0] >> 1)


@METHODS.register("agent")
class AgentMethod:
    """Runs ``run_episode`` with the named policy and tools; up to ``1 + retries`` episodes.

    A sample is "passed" when an episode ended with a passing QE and an MG mask. When no
    episode passes, the best-scored attempt is kept, its mask computed by the same change
    detection as MG, and the sample is marked not passed in the manifest.
    """

    name = "agent"

    def __init__(self, policy: str = "rule", editor: str = "procedural", critic: str = "measured",
                 max_turns: int = 10, retries: int = 2, learned: bool = False, knowledge: tuple[str, ...] = (),
                 product: "str | ProductModel | None" = None) -> None:
        # ``knowledge``: user YAML/JSON files adding or overriding knowledge-base entries
        self.kb = KnowledgeBase.load(list(knowledge)) if knowledge else KnowledgeBase.default()
        self.tools = default_toolbox(editor=editor, critic=critic, learned=learned, kb=self.kb)
        self.policy_name, self.max_turns, self.retries = policy, max_turns, retries
        # ``product``: None (foreground estimate), "auto" (build/load the category's product
        # model from the pool's normal images, cached on disk), a category folder / .npz cache,
        # or a ProductModel
        self.product, self._products = product, {}

    def _product_for(self, category: str, pool: NormalPool):
        if not self.product:
            return None
        if category not in self._products:
            from ..product import ProductModel

            source = self.product
            if isinstance(source, ProductModel):  # a model built by the caller
                self._products[category] = source
            elif source == "auto":
                self._products[category] = ProductModel.build(pool.paths[0].parent, category=category) if pool.paths else None
            elif str(source).endswith(".npz"):
                self._products[category] = ProductModel.load(source)
            else:
                self._products[category] = ProductModel.build(source, category=category)
        return self._products[category]

    def synthesize(self, image: np.ndarray, task: Task, rng: np.random.Generator, pool: NormalPool) -> MethodResult:
        best = None
        timings: dict[str, float] = {}
        product = self._product_for(task.category, pool)
        for attempt in range(1 + self.retries):
            start = time.perf_counter()
            episode_task = dataclasses.replace(task, seed=attempt_seed(task.seed, attempt))
            # Policies used as methods take (max_turns, kb); scripted replays are for tests.
            policy = POLICIES.create(self.policy_name, max_turns=self.max_turns, kb=self.kb)
            episode = run_episode(episode_task, image, policy, self.tools, self.max_turns, kb=self.kb, product=product)
            timings["episodes"] = timings.get("episodes", 0.0) + time.perf_counter() - start
            for key, value in episode.state.timings.items():
                timings[key] = timings.get(key, 0.0) + value
            state, traj = episode.state, episode.trajectory
            if traj.passed:
                return MethodResult(state.edited, state.mask, True, traj.score, traj, state.spec, timings,
                                    {"attempts": attempt + 1, **self._measure(state.mask, state.alpha, state.foreground)})
            if state.best and (best is None or state.best["score"] > best[0]["score"]):
                best = (state.best, traj, state.foreground)
        if best is None:  # no edit at all (the policy never reached IG): return the input, empty mask
            return MethodResult(image.copy(), np.zeros(image.shape[:2], bool), False, 0.0, traj, None, timings, {"attempts": 1 + self.retries})
        chosen, traj, fg = best
        spec = chosen["spec"]
        mask = change_mask(image, chosen["edited"], hint=spec.center if spec else None)
        return MethodResult(chosen["edited"], mask, False, float(chosen["score"]), traj, spec, timings,
                            {"attempts": 1 + self.retries, **self._measure(mask, chosen["alpha"], fg)})

    @staticmethod
    def _measure(mask: np.ndarray, alpha: np.ndarray | None, fg: np.ndarray) -> dict[str, float]:
        """MG IoU vs the exact alpha (when the editor knows it) and the on-object fraction."""
        out = {"on_object": float((mask & fg).sum() / max(1, mask.sum()))}
        if alpha is not None:
            out["mg_iou"] = iou(mask, alpha > 0.5)
        return out
