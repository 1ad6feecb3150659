"""TRL training of a vision-language policy (Qwen3-VL): SFT on reverse trajectories, GRPO with our tools.

- ``run_sft``: TRL's SFTTrainer on ``chat.jsonl`` of ``anomalyagent reverse`` (images
  mapped to absolute paths), vision tower frozen (the paper tunes the language model on
  the trajectories; the encoder already sees images well and is the costliest part).
- ``run_grpo``: TRL's GRPOTrainer; prompts are normal training images with a category
  and defect type; ``environment_factory`` = ``SynthesisEnvironment`` (our five tools);
  rewards = ``anomalyagent.rewards.reward_functions`` (R_task, R_ref, R_beh, logged as
  separate columns, weighted by ``reward_weights`` from ``RewardConfig``).

Processors load through ``models.tiny_vlm.load_vlm_processor`` (works without
torchvision); the Qwen3-VL chat template is the one that renders tool calls. Heavy
imports are inside the functions (extra: ``pip install 'anomalyagent[mllm]'``).
"""
from __future__ import annotations

import functools
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..agent.chat import USER_PROMPT, system_prompt
from ..rewards import RewardConfig, reward_functions
from ..tools import default_toolbox
from .environment import SynthesisEnvironment
from .prompts import read_prompts

log = logging.getLogger(__name__)
_INSTALL = "TRL training needs the 'mllm' extra: pip install 'anomalyagent[mllm]'"


def _imports():
    try:
        import datasets  # noqa: F401
        import trl  # noqa: F401
        from transformers import AutoModelForImageTextToText  # noqa: F401
    except ImportError as exc:
        raise ImportError(_INSTALL) from exc


def load_model(model_path, freeze_vision: bool = False):
    """The model at ``model_path`` (float32 on CPU, bfloat16 when CUDA is there), or
    ``model_path`` itself when it is already a model; with ``freeze_vision`` the vision
    tower gets no gradients."""
    import torch
    from transformers import AutoModelForImageTextToText

    if isinstance(model_path, (str, Path)):
        dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
        model = AutoModelForImageTextToText.from_pretrained(str(model_path), dtype=dtype)
    else:
        model = model_path
    if freeze_vision:
        visual = getattr(getattr(model, "model", model), "visual", None)
        if visual is None:
            raise ValueError(f"{model_path}: no vision tower (model.model.visual) to freeze")
        for p in visual.parameters():
            p.requires_grad_(False)
    return model


def _absolute(example: dict[str, Any], root: Path) -> dict[str, Any]:
    """A chat.jsonl row with its image paths made absolute (they are relative to the export folder)."""
    images = [str(root / p) for p in example["images"]]
    messages = []
    for m in example["messages"]:
        content = []
        for block in m["content"]:
            block = dict(block)
            if block.get("path"):
                block["path"] = str(root / block["path"])
            content.append(block)
        messages.append({**m, "content": content})
    return {"images": images, "messages": messages}


def sft_dataset(reverse_dir: str | Path):
    """``chat.jsonl`` as a datasets.Dataset with absolute image paths."""
    import datasets

    root = Path(reverse_dir).resolve()
    path = root / "chat.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (run `anomalyagent reverse --data DATA --out {root}` first)")
    rows = [_absolute(json.loads(line), root) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{path}: no chat examples")
    # Content blocks as JSON values (what datasets' json loader infers): a struct schema
    # would add every key to every block (``"path": None`` on the user's image
    # placeholder), and the processor then tries to load an image from None.
    features = datasets.Features({
        "images": datasets.List(datasets.Value("string")),
        "messages": datasets.List({"role": datasets.Value("string"), "content": datasets.List(datasets.Json())}),
    })
    return datasets.Dataset.from_list(rows, features=features)


def _check_model(model_path) -> None:
    """A model given by path must be a local folder: nothing is downloaded."""
    if isinstance(model_path, (str, Path)) and not (Path(model_path) / "config.json").is_file():
        raise FileNotFoundError(f"{model_path}: not a local model folder (no config.json); "
                                "give a downloaded Qwen3-VL folder with its processor files")


def _history(trainer) -> list[dict[str, Any]]:
    return [{k: v for k, v in h.items() if isinstance(v, (int, float, str))} for h in trainer.state.log_history]


def run_sft(model_path, reverse_dir: str | Path, out: str | Path, max_steps: int = 100, lr: float = 1e-5,
            batch_size: int = 1, seed: int = 0, freeze_vision: bool = True, save: bool = True,
            processor=None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """SFT with TRL; returns the log history (loss per step) and where the model went.
    ``model_path``: a model folder, or a model object (then pass ``processor``)."""
    _imports()
    from trl import SFTConfig, SFTTrainer

    from ..models.tiny_vlm import load_vlm_processor

    _check_model(model_path)
    dataset = sft_dataset(reverse_dir)
    processor = processor or load_vlm_processor(model_path)
    model = load_model(model_path, freeze_vision=freeze_vision)
    config = SFTConfig(output_dir=str(out), max_steps=max_steps, per_device_train_batch_size=batch_size, learning_rate=lr,
                       logging_steps=1, save_strategy="no", report_to=[], seed=seed, max_length=None,
                       bf16=_cuda(), use_cpu=not _cuda(), dataloader_num_workers=0, **(extra or {}))
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=processor)
    trainer.train()
    if save:
        trainer.save_model(str(out))
    return {"steps": trainer.state.global_step, "history": _history(trainer), "out": str(out)}


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def grpo_dataset(data: str | Path, categories, prompts_per_category: int, seed: int, max_side: int, max_turns: int = 10):
    """Start prompts: system prompt + user turn (normal image, request), with the columns
    ``SynthesisEnvironment.reset`` reads."""
    import datasets
    from PIL import Image

    from ..images import to_rgb

    prompts = read_prompts(data, categories, prompts_per_category, np.random.default_rng([seed, 5]), max_side)
    if not prompts:
        raise ValueError(f"{data}: no prompts (no category with train/good images and test/<defect> folders)")
    system = system_prompt(default_toolbox().schemas(), max_turns)
    rows = []
    for p in prompts:
        text = USER_PROMPT.format(defect=p.task.defect_type.replace("_", " "), category=p.task.category.replace("_", " "))
        rows.append({
            "prompt": [{"role": "system", "content": [{"type": "text", "text": system}]},
                       {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}],
            "image": Image.fromarray(to_rgb(p.image)), "image_path": p.task.image_path, "category": p.task.category,
            "defect_type": p.task.defect_type, "seed": p.task.seed, "index": p.task.index,
        })
    return datasets.Dataset.from_list(rows)


def run_grpo(model_path, data: str | Path, out: str | Path, categories=None, prompts_per_category: int = 16,
             num_generations: int = 8, max_completion_length: int = 1024, max_steps: int = 100, lr: float = 1e-6,
             batch_size: int = 1, seed: int = 0, max_side: int = 256, reward: RewardConfig | None = None,
             max_turns: int = 10, beta: float = 0.04, save: bool = True, extra: dict[str, Any] | None = None,
             processor=None) -> dict[str, Any]:
    """GRPO with TRL through our tools; returns the log history (rewards per term, tool calls).
    ``model_path``: a model folder, or a model object (then pass ``processor``); ``extra``:
    more GRPOConfig fields (generation_kwargs, gradient_checkpointing, ...)."""
    _imports()
    from trl import GRPOConfig, GRPOTrainer

    from ..models.tiny_vlm import load_vlm_processor

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    reward = reward or RewardConfig()
    _check_model(model_path)
    dataset = grpo_dataset(data, categories, prompts_per_category, seed, max_side, max_turns)
    processor = processor or load_vlm_processor(model_path)
    model = load_model(model_path)
    config = GRPOConfig(
        output_dir=str(out), max_steps=max_steps, per_device_train_batch_size=batch_size * num_generations,
        num_generations=num_generations, max_completion_length=max_completion_length, learning_rate=lr, beta=beta,
        reward_weights=[reward.task, reward.ref, reward.beh], max_tool_calling_iterations=max_turns,
        logging_steps=1, save_strategy="no", report_to=[], seed=seed, bf16=_cuda(), use_cpu=not _cuda(),
        dataloader_num_workers=0, **(extra or {}),
    )
    factory = functools.partial(SynthesisEnvironment, max_turns=max_turns, max_side=max_side)
    trainer = GRPOTrainer(model=model, reward_funcs=reward_functions(reward), args=config, processing_class=processor,
                          train_dataset=dataset,
                          environment_factory=factory)
    trainer.train()
    if save:
        trainer.save_model(str(out))
    return {"steps": trainer.state.global_step, "history": _history(trainer), "out": str(out)}
