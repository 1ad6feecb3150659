"""A local vision-language model as a chat model (transformers; extra ``mllm``).

Loads ``model`` (a hub id already in the local cache, or a folder) with its processor
and chat template, renders our messages (tool turns and their images included) with the
template and generates one reply. Weights load once per agent (``load_vlm``, shared
through a ModelPool by every backend naming the same model); generation is serialised
with a lock per loaded model, so one copy serves every episode thread of a worker.
Greedy decoding by default (``temperature=0``): same messages, same reply.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..usage import Usage

KEEP_TAGS = ("<think>", "</think>", "<tool_call>", "</tool_call>", "<answer>", "</answer>")
INSTALL_HINT = "the transformers policy needs the mllm extra: pip install 'anomalyagent[mllm]' (and torch)"


def _template_text(chat_template: str) -> str:
    """A template from a .jinja file, or by TRL's name (e.g. "qwen3_vl")."""
    path = Path(chat_template)
    if path.suffix == ".jinja" and path.is_file():
        return path.read_text(encoding="utf-8")
    try:
        import trl
    except ImportError:
        raise ValueError(f"chat_template {chat_template!r}: not a .jinja file, and TRL (for named templates) is missing") from None
    named = Path(trl.__file__).parent / "chat_templates" / f"{chat_template}.jinja"
    if not named.is_file():
        raise ValueError(f"chat_template {chat_template!r}: neither a .jinja file nor one of TRL's templates")
    return named.read_text(encoding="utf-8")


@dataclass
class LoadedVLM:
    """Weights, processor and the lock that serialises generation on them."""

    model: Any
    processor: Any
    device: str
    lock: threading.Lock = field(default_factory=threading.Lock)


def load_vlm(model: str, device: str = "cpu", dtype: str = "float32", chat_template: str | None = None,
             local_files_only: bool = True, trust_remote_code: bool = False) -> LoadedVLM:
    """Load a vision-language model and its processor (once; share the result through a ModelPool)."""
    try:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor
    except ImportError as exc:
        raise ImportError(f"{INSTALL_HINT} ({exc})") from None
    torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype, None)
    if torch_dtype is None or not isinstance(torch_dtype, (str, torch.dtype)):
        raise ValueError(f"dtype {dtype!r}: use float32, bfloat16, float16 or auto")
    try:
        processor = AutoProcessor.from_pretrained(model, local_files_only=local_files_only,
                                                  trust_remote_code=trust_remote_code)
    except ImportError:  # AutoProcessor wants torchvision for the video processor; images suffice here
        from .tiny_vlm import load_vlm_processor

        processor = load_vlm_processor(model)
    if chat_template is not None:
        processor.chat_template = _template_text(chat_template)
    if not getattr(processor, "chat_template", None):
        raise ValueError(f"{model}: the processor has no chat template; pass chat_template (e.g. qwen3_vl)")
    weights = AutoModelForImageTextToText.from_pretrained(
        model, dtype=torch_dtype, local_files_only=local_files_only, trust_remote_code=trust_remote_code).to(device).eval()
    return LoadedVLM(weights, processor, device)


class TransformersChat:
    """``model``: hub id (cached) or local folder; ``device``: "cpu", "cuda", "cuda:1"...;
    ``dtype``: "float32", "bfloat16", "float16" or "auto"; ``max_new_tokens``;
    ``temperature`` (0 = greedy); ``chat_template``: override (a .jinja file or a TRL
    template name) when the processor has none; ``local_files_only``: never download.
    ``pool``: a ModelPool; backends of one agent naming the same model, device, dtype
    and template then share one copy of the weights (the policy, PG and QE, say)."""

    def __init__(self, model: str, device: str = "cpu", dtype: str = "float32", max_new_tokens: int = 512,
                 temperature: float = 0.0, top_p: float = 1.0, chat_template: str | None = None,
                 local_files_only: bool = True, trust_remote_code: bool = False, pool: Any = None) -> None:
        if not isinstance(max_new_tokens, int) or not 1 <= max_new_tokens <= 32_768:
            raise ValueError(f"max_new_tokens must be an integer in [1, 32768], got {max_new_tokens!r}")
        if not isinstance(temperature, (int, float)) or not 0.0 <= float(temperature) <= 5.0:
            raise ValueError(f"temperature must be in [0, 5], got {temperature!r}")
        load = dict(model=str(model), device=device, dtype=dtype, chat_template=chat_template,
                    local_files_only=local_files_only, trust_remote_code=trust_remote_code)
        self.loaded = pool.get(("transformers", load), lambda: load_vlm(**load)) if pool is not None else load_vlm(**load)
        import torch

        self.torch = torch
        self.processor, self.model, self.device = self.loaded.processor, self.loaded.model, device
        self.generation = {"max_new_tokens": max_new_tokens, "do_sample": float(temperature) > 0}
        if float(temperature) > 0:
            self.generation.update(temperature=float(temperature), top_p=float(top_p))
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.tokenizer = tokenizer
        self.strip = [t for t in getattr(tokenizer, "all_special_tokens", []) if t and t not in KEEP_TAGS]

    def _messages(self, messages: list[dict[str, Any]], images: dict[str, np.ndarray]) -> list[dict[str, Any]]:
        from PIL import Image

        out = []
        for message in messages:
            content = []
            for block in message["content"]:
                if block.get("type") == "image":
                    pixels = images[block["image"]]
                    rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
                    content.append({"type": "image", "image": Image.fromarray(np.ascontiguousarray(rgb))})
                else:
                    content.append({"type": "text", "text": block.get("text", "")})
            out.append({"role": message["role"], "content": content})
        return out

    def complete(self, messages: list[dict[str, Any]], images: dict[str, np.ndarray], **_: Any) -> tuple[str, Usage]:
        chat = self._messages(messages, images)
        with self.loaded.lock, self.torch.inference_mode():
            inputs = self.processor.apply_chat_template(chat, tokenize=True, add_generation_prompt=True,
                                                        return_dict=True, return_tensors="pt").to(self.device)
            output = self.model.generate(**inputs, **self.generation)
        prompt = int(inputs["input_ids"].shape[1])
        new = output[0, prompt:]
        text = self.tokenizer.decode(new, skip_special_tokens=False)
        for token in self.strip:  # end-of-turn and padding markers, not our tags
            text = text.replace(token, "")
        return text, Usage(prompt_tokens=prompt, completion_tokens=int(new.shape[0]))
