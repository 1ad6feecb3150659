"""The whole recipe of the shipped policy: reverse trajectories -> SFT -> GRPO -> weights.

``anomalyagent train policy`` runs this. Data: the reverse-synthesis trajectories of the
categories' RESERVED first third of anomalies (SFT) and their normal training images
(GRPO prompts); no test-split anomaly is read. Output: ``policy.safetensors`` (the
head), ``text_cache.safetensors`` (MiniLM embeddings of the knowledge base's texts and
of the training categories' requests), ``training.json`` (settings and numbers).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..knowledge import KnowledgeBase
from ..policy_net.features import request_text, state_dim, text_key
from ..policy_net.model import PolicyNet
from ..policy_net.policy import Encoders, save_policy
from ..policy_net.space import ActionSpace
from ..rewards import RewardConfig
from ..tools import EDITORS, default_toolbox
from .grpo import GRPOSettings, train_grpo
from .prompts import Prompt, read_prompts
from .sft import demonstration_turns, read_demonstrations, tool_accuracy, train_sft, uses_product

log = logging.getLogger(__name__)
PRODUCT_SHARE = {"auto": 1.0, "mixed": 0.5, "none": 0.0}  # share of prompts and demonstrations with the product model


@dataclass
class PolicyRecipe:
    """Everything that determines the trained policy (defaults: the shipped weights)."""

    data: str
    reverse_dir: str
    categories: tuple[str, ...] | None = None  # None: every category under data
    seed: int = 0
    max_side: int = 160  # images are shrunk to this (episodes and features)
    sft_epochs: int = 60
    sft_lr: float = 2e-3
    imitate: str = "passed"  # which demonstrated edits the IG heads learn (sft.demonstration_turns)
    prompts_per_category: int = 24
    # the ablation's GRPO (minibatches of 64 turns, advantage floor 0.1): docs/training.md
    grpo: GRPOSettings = field(default_factory=GRPOSettings)
    reward: RewardConfig = field(default_factory=RewardConfig)
    hidden: int = 256
    # "auto" (the shipped weights): every GRPO prompt and SFT demonstration reads its
    # category's product model (built from its normal training images, cached), as
    # `synthesize` runs by default; "mixed": half of them (interleaved); "none": no product
    # models (the weights shipped before 2026-11-30 18:00 UTC; docs/training.md).
    product: str = "auto"

    def __post_init__(self) -> None:
        if self.max_side < 32 or self.sft_epochs < 0 or self.prompts_per_category < 1:
            raise ValueError("PolicyRecipe: max_side >= 32, sft_epochs >= 0 and prompts_per_category >= 1 are required")
        if self.product not in PRODUCT_SHARE:
            raise ValueError(f"PolicyRecipe.product must be one of {', '.join(PRODUCT_SHARE)}, got {self.product!r}")

    def to_dict(self) -> dict:
        return {"data": self.data, "reverse_dir": self.reverse_dir, "categories": list(self.categories or []),
                "seed": self.seed, "max_side": self.max_side, "sft_epochs": self.sft_epochs, "sft_lr": self.sft_lr,
                "imitate": self.imitate,
                "prompts_per_category": self.prompts_per_category, "grpo": self.grpo.to_dict(),
                "reward": self.reward.to_dict(), "hidden": self.hidden, "product": self.product}


def new_network(hidden: int = 256, seed: int = 0) -> PolicyNet:
    """An untrained network over the procedural editor's families (seeded)."""
    torch.manual_seed(seed)
    space = ActionSpace(tuple(EDITORS.create("procedural").families()))
    return PolicyNet(space, state_dim(space), hidden=hidden)


def product_models(recipe: PolicyRecipe) -> dict:
    """{category: ProductModel} of the recipe's categories (``product`` "auto"; {} for "none"
    or a category whose model cannot be built, which then plans on the foreground, logged)."""
    if recipe.product == "none":
        return {}
    from ..eval.split import find_categories
    from ..product import ProductError, ProductModel

    out = {}
    for folder in find_categories(recipe.data):
        if recipe.categories and folder.name not in recipe.categories:
            continue
        try:
            out[folder.name] = ProductModel.build(folder)
        except ProductError as exc:
            log.warning("%s: no product model (%s); its episodes plan on the foreground", folder.name, exc)
    return out


def run_sft(recipe: PolicyRecipe, encoders: Encoders, kb: KnowledgeBase, products: dict | None = None,
            demos: list | None = None) -> tuple[PolicyNet, dict]:
    net = new_network(recipe.hidden, recipe.seed)
    demos = demos if demos is not None else read_demonstrations(recipe.reverse_dir, recipe.categories, recipe.max_side)
    data = demonstration_turns(demos, net.space, net.state_dim, encoders, kb, imitate=recipe.imitate, products=products,
                               product_share=PRODUCT_SHARE[recipe.product])
    start = time.perf_counter()
    history = train_sft(net, data, epochs=recipe.sft_epochs, lr=recipe.sft_lr, seed=recipe.seed)
    return net, {"trajectories": len(demos), "turns": len(data), "loss_first": history[0] if history else None,
                 "loss_last": history[-1] if history else None, "tool_accuracy_train": tool_accuracy(net, data),
                 "seconds": round(time.perf_counter() - start, 1)}


def grpo_prompts(recipe: PolicyRecipe, rng: np.random.Generator, products: dict | None = None) -> list[Prompt]:
    prompts = read_prompts(recipe.data, recipe.categories, recipe.prompts_per_category, rng, recipe.max_side)
    for i, p in enumerate(prompts):
        p.product = (products or {}).get(p.task.category) if uses_product(i, PRODUCT_SHARE[recipe.product]) else None
    return prompts


def run_grpo(net: PolicyNet, recipe: PolicyRecipe, encoders: Encoders, kb: KnowledgeBase,
             prompts: list[Prompt] | None = None, products: dict | None = None) -> list[dict]:
    rng = np.random.default_rng([recipe.seed, 7])
    prompts = prompts if prompts is not None else grpo_prompts(recipe, rng, products)
    return train_grpo(net, prompts, default_toolbox(kb=kb), recipe.grpo, recipe.reward, encoders, kb, rng)


def text_cache(encoders: Encoders, kb: KnowledgeBase, extra: list[tuple[str, str]] = ()) -> dict[str, np.ndarray]:
    """Embeddings of every knowledge entry's text and request, plus ``extra`` (category, defect) requests."""
    texts = [t for e in kb.entries() for t in (e.text(), request_text(e.category, e.defect))]
    texts += [request_text(c, d) for c, d in extra] + [kb.lookup(c, d).entry.text() for c, d in extra]
    vectors = encoders.text.encode(texts)
    return {text_key(t): v.astype(np.float16) for t, v in zip(texts, vectors)}


def train_policy(recipe: PolicyRecipe, out: str | Path, kb: KnowledgeBase | None = None) -> dict:
    """SFT then GRPO; writes the weights, the text cache and training.json to ``out``."""
    from safetensors.numpy import save_file

    from .prompts import defect_types
    from ..eval.split import find_categories

    kb = kb or KnowledgeBase.default()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    encoders = Encoders()
    start = time.perf_counter()
    # the demonstrations first: a missing reverse set is named before product models are built
    demos = read_demonstrations(recipe.reverse_dir, recipe.categories, recipe.max_side)
    products = product_models(recipe)
    net, sft = run_sft(recipe, encoders, kb, products, demos)
    history = run_grpo(net, recipe, encoders, kb, products=products)
    report = {"recipe": recipe.to_dict(), "sft": sft, "grpo": history, "seconds": round(time.perf_counter() - start, 1)}
    save_policy(net, out / "policy.safetensors", extra={"seed": recipe.seed, "categories": list(recipe.categories or [])})
    pairs = [(d.name, x) for d in find_categories(recipe.data) for x in defect_types(d)]
    save_file(text_cache(encoders, kb, pairs), str(out / "text_cache.safetensors"))
    (out / "training.json").write_text(json.dumps(report, indent=1, sort_keys=True))
    log.info("wrote %s (SFT %d turns, %d GRPO iterations, %.0f s)", out, sft["turns"], len(history), report["seconds"])
    return report
