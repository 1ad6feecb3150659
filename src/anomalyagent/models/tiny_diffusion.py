"""A tiny, randomly initialised Stable-Diffusion inpainting pipeline saved to disk, built offline.

Why: tests and CPU smoke runs must exercise the real diffusers loading and inpainting
path of the ``diffusers`` IG editor without downloading weights. UNet (9 input channels:
latents, masked-image latents, mask), VAE and CLIP text encoder are built from small
configs; the CLIP tokenizer's vocabulary is the 256 byte-level symbols (no merges), so
nothing is fetched. Its outputs are noise-like: use it to test code, not to make defects.
"""
from __future__ import annotations

import json
from pathlib import Path

INSTALL_HINT = "the tiny inpainting pipeline needs the diffusers extra: pip install 'anomalyagent[diffusers]'"


def _byte_symbols() -> list[str]:
    """GPT-2/CLIP's reversible byte -> unicode table, as the tokenizer's base alphabet."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = keep[:], 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def _write_tokenizer(folder: Path) -> None:
    symbols = _byte_symbols()
    vocab = {s: i for i, s in enumerate(symbols)}
    vocab.update({s + "</w>": len(symbols) + i for i, s in enumerate(symbols)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")


def build_tiny_inpainting(out_dir: Path, seed: int = 0, size: int = 64) -> Path:
    """Build and save the pipeline in ``out_dir`` (loadable with AutoPipelineForInpainting);
    returns ``out_dir``. A folder that already holds one is returned unchanged."""
    out_dir = Path(out_dir)
    if (out_dir / "model_index.json").is_file():
        return out_dir
    try:
        import torch
        from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
        from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    except ImportError as exc:
        raise ImportError(f"{INSTALL_HINT} ({exc})") from None
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=size // 2, in_channels=9, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8)
    vae = AutoencoderKL(block_out_channels=(32, 64), in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), norm_num_groups=8, sample_size=size)
    tok_dir = out_dir / "_tokenizer_src"
    _write_tokenizer(tok_dir)
    tokenizer = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), model_max_length=32)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=32, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False)
    pipe = StableDiffusionInpaintPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                          scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                          requires_safety_checker=False)
    pipe.save_pretrained(out_dir, safe_serialization=True)
    for path in tok_dir.iterdir():
        path.unlink()
    tok_dir.rmdir()
    return out_dir


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m anomalyagent.models.tiny_diffusion OUT_DIR")
    print(build_tiny_inpainting(Path(sys.argv[1])))
