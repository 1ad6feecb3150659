"""One TRL SFT step and one GRPO step of a real-size Qwen3-VL-4B configuration, random weights, on a GPU.

Prepared for a GPU machine (never part of the tests; it needs CUDA). It measures what
the training recipe of docs/training.md costs per step at full model size, without
downloading anything: the model is built from a config with random weights (bfloat16),
the tokenizer/processor are the tiny model's (trained locally; token ids stay below the
real vocabulary), and the data are made here: synthetic normal images, rendered
"real" anomalies, ``anomalyagent reverse`` trajectories (SFT) and GRPO prompts whose
rollouts go through our five tools. A random model writes no tool calls, so GRPO
sampling is biased towards one PG call (``--no-bias`` turns that off).

    python benchmarks/gpu_train_step.py --out gpu_train_step.json
    python benchmarks/gpu_train_step.py --config path/to/Qwen3-VL-4B/config.json   # the published config
    python benchmarks/gpu_train_step.py --dry-run --max-completion-length 64        # CPU check, tiny model

Writes seconds and peak GPU memory (torch.cuda.max_memory_allocated) per step, the
configuration and the parameter counts.

The built-in configuration: the text model has Qwen3-4B's published sizes (hidden 2560,
36 layers, 32 heads, 8 KV heads, head_dim 128, MLP 9728, vocabulary 151936, tied
embeddings); the vision tower is 24 x 1024 (MLP 4096, 16 heads, patch 16, deepstack at
5/11/17), projected to 2560. Pass the model's own config.json for exact numbers.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TEXT_4B = dict(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
               num_key_value_heads=8, head_dim=128, vocab_size=151936, max_position_embeddings=262144,
               tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 5000000.0,
                                                          "mrope_section": [24, 20, 20], "mrope_interleaved": True})
VISION_4B = dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16, patch_size=16, spatial_merge_size=2,
                 temporal_patch_size=2, out_hidden_size=2560, num_position_embeddings=2304, deepstack_visual_indexes=[5, 11, 17])


def synthetic_tree(root: Path, size: int = 256, per_defect: int = 2) -> Path:
    """An MVTec-layout hazelnut folder of synthetic scenes with rendered defects and masks."""
    from anomalyagent.foreground import foreground
    from anomalyagent.images import write_png
    from anomalyagent.knowledge import KnowledgeBase
    from anomalyagent.planning import sample_spec
    from anomalyagent.render import render
    from anomalyagent.synthetic import object_image

    rng = np.random.default_rng(0)
    cat = root / "hazelnut"
    kb = KnowledgeBase.default()
    for i in range(6):
        write_png(cat / "train" / "good" / f"{i:03d}.png", object_image(rng, size))
    write_png(cat / "test" / "good" / "000.png", object_image(rng, size))
    for defect in ("crack", "hole"):
        for i in range(per_defect * 3):
            normal = object_image(rng, size)
            spec = sample_spec(kb.lookup("hazelnut", defect).entry, normal, foreground(normal, "object"), rng)
            anomaly, alpha = render(normal, spec.replace(defect_type=defect, category="hazelnut"), rng)
            write_png(cat / "test" / defect / f"{i:03d}.png", anomaly)
            write_png(cat / "ground_truth" / defect / f"{i:03d}_mask.png", (alpha > 0.5).astype(np.uint8) * 255)
    return root


# --dry-run: the same code path on a CPU with a tiny model (checks the script, measures nothing useful).
TEXT_DRY = dict(TEXT_4B, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, head_dim=16, vocab_size=1024,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3], "mrope_interleaved": True})
VISION_DRY = dict(VISION_4B, depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                  num_position_embeddings=64, deepstack_visual_indexes=[0])


def build_model(processor_dir: Path, config_path: str | None, dry_run: bool = False):
    import torch
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    ids = json.loads((processor_dir / "tiny_vlm.json").read_text())["special_token_ids"]
    if config_path:
        config = Qwen3VLConfig.from_pretrained(config_path)
    else:
        text = dict(TEXT_DRY if dry_run else TEXT_4B, pad_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"])
        config = Qwen3VLConfig(text_config=text, vision_config=VISION_DRY if dry_run else VISION_4B, tie_word_embeddings=True,
                               image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                               vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    # The tiny tokenizer's special-token ids must be the ones the model looks for.
    for key, tok in (("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
                     ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>")):
        setattr(config, key, ids[tok])
    torch.manual_seed(0)
    if dry_run:
        model = Qwen3VLForConditionalGeneration(config)
    else:
        with torch.device("cuda"):
            model = Qwen3VLForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    return model, config


def measure(fn):
    """(result, seconds, peak GPU GiB); the memory is None without CUDA (dry runs)."""
    import torch

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = fn()
    if cuda:
        torch.cuda.synchronize()
    peak = round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None
    return result, round(time.perf_counter() - start, 2), peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="gpu_train_step.json")
    ap.add_argument("--config", default=None, help="a Qwen3-VL config.json (default: the built-in 4B-size config)")
    ap.add_argument("--num-generations", type=int, default=4)
    ap.add_argument("--max-completion-length", type=int, default=512)
    ap.add_argument("--no-bias", action="store_true", help="do not bias GRPO sampling towards a PG call")
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument("--dry-run", action="store_true", help="tiny model on the CPU: check the script, no real numbers")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available() and not args.dry_run:
        print("error: this script needs a CUDA GPU (--dry-run checks it on a CPU with a tiny model)", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from anomalyagent.models.tiny_vlm import build_tiny_qwen3_vl, load_vlm_processor
    from anomalyagent.reverse.batch import ReverseConfig, run_reverse
    from anomalyagent.reverse.export import Exporter
    from anomalyagent.train import trl_run

    work = Path(tempfile.mkdtemp(prefix="gpu_train_step_"))
    proc_dir = build_tiny_qwen3_vl(work / "processor")
    processor = load_vlm_processor(proc_dir)
    processor.image_processor.max_pixels = 256 * 256  # 256 patches of 16 px per image, 64 tokens after merging
    data = synthetic_tree(work / "data")
    exporter = Exporter(work / "reverse")
    for result in run_reverse(data, ReverseConfig(seed=0, turns=(1, 2))):
        exporter.add(result)
    summary = exporter.close()

    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (dry run)", "torch": torch.__version__, "python": platform.python_version(),
              "trajectories": summary.get("trajectories"), "args": vars(args)}
    model, config = build_model(proc_dir, args.config, args.dry_run)
    report["parameters"] = sum(p.numel() for p in model.parameters())
    report["parameters_vision"] = sum(p.numel() for p in model.model.visual.parameters())
    report["config"] = {"text": {k: getattr(config.text_config, k) for k in TEXT_4B if k != "rope_parameters"},
                        "vision": {k: getattr(config.vision_config, k) for k in VISION_4B}}
    # Saved to disk: TRL builds GRPO's reference model from the model's path.
    model_dir = work / "model"
    model.save_pretrained(model_dir, safe_serialization=True)
    for f in proc_dir.iterdir():  # tokenizer, chat template, image processor (not the tiny model's weights)
        if f.is_file() and f.name not in ("config.json", "generation_config.json") and not f.name.endswith(".safetensors"):
            shutil.copy(f, model_dir / f.name)
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    common = {"gradient_checkpointing": args.gradient_checkpointing}
    # Seconds include loading the model; TRL's own train_runtime / step_time are kept too.
    sft, report["sft_seconds"], report["sft_peak_gib"] = measure(lambda: trl_run.run_sft(
        model_dir, work / "reverse", work / "sft", max_steps=1, save=False, processor=processor, extra=common))
    report["sft_loss"] = next((h["loss"] for h in sft["history"] if "loss" in h), None)
    report["sft_train_runtime"] = next((h["train_runtime"] for h in sft["history"] if "train_runtime" in h), None)
    extra = dict(common)
    if not args.no_bias:
        tok = processor.tokenizer
        ids = tok('<tool_call>\n{"name": "PG", "arguments": {}}\n</tool_call><|im_end|>', add_special_tokens=False)["input_ids"]
        extra["generation_kwargs"] = {"sequence_bias": [[ids[:k + 1], 50.0 + 10.0 * k] for k in range(len(ids))]}
    grpo, report["grpo_seconds"], report["grpo_peak_gib"] = measure(lambda: trl_run.run_grpo(
        model_dir, data, work / "grpo", prompts_per_category=4, num_generations=args.num_generations,
        max_completion_length=args.max_completion_length, max_steps=1, save=False, processor=processor, extra=extra))
    report["grpo_log"] = grpo["history"][0] if grpo["history"] else {}
    Path(args.out).write_text(json.dumps(report, indent=1, sort_keys=True, default=str))
    print(json.dumps({k: report[k] for k in ("gpu", "parameters", "sft_seconds", "sft_peak_gib", "grpo_seconds", "grpo_peak_gib")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
