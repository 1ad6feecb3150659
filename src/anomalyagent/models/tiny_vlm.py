"""A tiny, randomly initialised Qwen3-VL saved to disk, built offline.

Why: tests and CPU smoke runs must exercise the real loading, chat-template, SFT and GRPO
code paths of a vision-language model without downloading weights. The model is built
from a config (a few thousand parameters per layer), its tokenizer is a byte-level BPE
trained here on the project's own prompt vocabulary (tool schemas, knowledge text), and
the chat template is TRL's ``qwen3_vl`` template, which can render tool calls (the
Qwen2.5-VL template cannot). The image processor is the PIL-based one, so torchvision is
not needed.

Nothing here is meant to be a useful model: its outputs are random. Use it to test code.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

# Special tokens of the Qwen chat format, in the order Qwen reserves them. The ids are
# whatever the trained vocabulary gives; the model config is written with those ids.
SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<think>", "</think>",
    "<tool_response>", "</tool_response>",
]

_INSTALL_HINT = "the tiny Qwen3-VL needs the `mllm` extra: pip install 'anomalyagent[mllm]'"


def _corpus() -> Iterable[str]:
    """Text the tokenizer is trained on: our own prompts, tool names and knowledge text."""
    yield ("You are an industrial anomaly synthesis agent. Call one tool per turn. "
           "PG IG QE KR MG prompt generation image generation quality evaluation knowledge retrieval "
           "mask generation crack scratch hole dent stain cut print missing bent lead case tile "
           "location quality score review pass fail too faint too large move seam texture colour")
    yield '{"name": "IG", "arguments": {"instruction": "draw a thin dark crack", "family": "crack"}}'
    try:
        from ..knowledge import KnowledgeBase

        kb = KnowledgeBase.default()
        for entry in kb.entries():
            yield f"{entry.category} {entry.defect} {getattr(entry, 'description', '')}"
    except Exception:  # noqa: BLE001 - the corpus is a convenience; the tokenizer trains on the rest
        pass
    for i in range(256):
        yield f"{i} {i / 100:.2f} [{i}, {255 - i}]"


def _train_tokenizer(vocab_size: int):
    try:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        from transformers import PreTrainedTokenizerFast
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(_INSTALL_HINT) from exc
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(_corpus()), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token=None, additional_special_tokens=SPECIAL_TOKENS[1:])
    return fast


def build_tiny_qwen3_vl(out_dir: Path, *, vocab_size: int = 1024, hidden_size: int = 64, layers: int = 2,
                        seed: int = 0) -> Path:
    """Build and save a tiny random Qwen3-VL (model, processor, TRL chat template) in ``out_dir``.

    Returns ``out_dir``; load it with ``AutoModelForImageTextToText.from_pretrained`` and
    ``AutoProcessor.from_pretrained``. Re-running on a folder that already holds a model
    returns it unchanged (builds are deterministic for a seed).
    """
    out_dir = Path(out_dir)
    if (out_dir / "config.json").is_file() and (out_dir / "tokenizer.json").is_file():
        return out_dir
    try:
        import torch
        from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
        from trl.chat_template_utils import qwen3_vl_chat_template
    except ImportError as exc:  # pragma: no cover
        raise ImportError(_INSTALL_HINT) from exc

    tokenizer = _train_tokenizer(vocab_size)
    tokenizer.chat_template = qwen3_vl_chat_template
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    head_dim = 16
    config = Qwen3VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
            num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2, head_dim=head_dim,
            max_position_embeddings=4096, tie_word_embeddings=True,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3],
                             "mrope_interleaved": True},
            pad_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
        ),
        vision_config=dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=16,
                           spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=hidden_size,
                           num_position_embeddings=64, deepstack_visual_indexes=[0]),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    # Small images: 64x64 to 256x256 pixels -> 16 to 256 patches of 16 px, merged 2x2.
    image_processor = Qwen2VLImageProcessorPil(patch_size=16, merge_size=2, temporal_patch_size=2,
                                               min_pixels=32 * 32, max_pixels=128 * 128)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    image_processor.save_pretrained(out_dir)
    # AutoProcessor (where torchvision is installed) finds the processor class here.
    cfg_path = out_dir / "preprocessor_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["processor_class"] = "Qwen3VLProcessor"
    cfg_path.write_text(json.dumps(cfg, indent=1))
    (out_dir / "tiny_vlm.json").write_text(json.dumps({"built_by": "anomalyagent.models.tiny_vlm", "seed": seed,
                                                       "special_token_ids": ids}, indent=1))
    return out_dir


def load_vlm_processor(path: str | Path):
    """The processor of a saved Qwen3-VL, with or without torchvision.

    ``AutoProcessor`` needs a video processor, which needs torchvision; without it we build
    an image-only ``Qwen3VLProcessor`` from the saved tokenizer and PIL image processor
    (videos are never used here). Works for the tiny model and for real checkpoints.
    """
    try:
        from transformers import AutoProcessor, AutoTokenizer, Qwen3VLProcessor
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    except ImportError as exc:  # pragma: no cover
        raise ImportError(_INSTALL_HINT) from exc
    try:
        import torchvision  # noqa: F401

        return AutoProcessor.from_pretrained(path)
    except ImportError:
        pass

    class ImageOnlyQwen3VLProcessor(Qwen3VLProcessor):
        def check_argument_for_proper_class(self, argument_name, argument):  # noqa: ANN001
            if argument is None and argument_name == "video_processor":
                return None
            return super().check_argument_for_proper_class(argument_name, argument)

    tokenizer = AutoTokenizer.from_pretrained(path)
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(path)
    return ImageOnlyQwen3VLProcessor(image_processor=image_processor, tokenizer=tokenizer, video_processor=None,
                                     chat_template=tokenizer.chat_template)
