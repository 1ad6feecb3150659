"""The tiny Qwen3-VL: built offline, loads with the real classes, renders tools, sees images."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers")


def test_tiny_vlm_loads_renders_tools_and_generates(tiny_vlm):
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText

    from anomalyagent.models.tiny_vlm import load_vlm_processor

    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm)
    processor = load_vlm_processor(tiny_vlm)
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    tools = [{"type": "function", "function": {"name": "PG", "description": "plan a defect",
                                               "parameters": {"type": "object", "properties": {}}}}]
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "crack on hazelnut"}]}]
    text = processor.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=False)
    assert "<tools>" in text and '"name": "PG"' in text and "<|image_pad|>" in text
    image = Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8))
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    ids = json.loads((tiny_vlm / "tiny_vlm.json").read_text())["special_token_ids"]
    # the image became several image-pad tokens, one per merged 2x2 patch group (64 px / 16 px / 2 = 2x2)
    assert int((inputs["input_ids"] == ids["<|image_pad|>"]).sum()) == 4
    torch.manual_seed(0)
    out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 5 or int(out[0, -1]) == ids["<|im_end|>"]


def test_tiny_vlm_build_is_idempotent(tiny_vlm):
    from anomalyagent.models.tiny_vlm import build_tiny_qwen3_vl

    before = (tiny_vlm / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_qwen3_vl(tiny_vlm) == tiny_vlm
    assert (tiny_vlm / "model.safetensors").stat().st_mtime_ns == before
