"""Reverse synthesis, step 4: exported files, and the chat JSONL through TRL's Qwen3-VL template."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from anomalyagent.agent.chat import parse_action
from anomalyagent.images import read_image, read_mask
from anomalyagent.records import Trajectory
from anomalyagent.reverse.batch import ReverseConfig, run_reverse
from anomalyagent.reverse.export import Exporter, trl_messages
from reverse_fixtures import reverse_tree


def _export(data: Path, out: Path, **config) -> dict:
    exporter = Exporter(out)
    for result in run_reverse(data, ReverseConfig(**config)):
        exporter.add(result)
    return exporter.close()


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("reverse")
    data = reverse_tree(root / "data")
    out = root / "out"
    return data, out, _export(data, out, seed=1)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_files_and_references(exported):
    data, out, summary = exported
    records = _lines(out / "trajectories.jsonl")
    anomalies = _lines(out / "anomalies.jsonl")
    assert len(anomalies) == 2 and all(a["reserved"] for a in anomalies)  # one reserved per defect type (3 // 3)
    assert summary["trajectories"] == len(records) >= 2 and summary["anomalies"] == 2
    assert sum(summary["by_n"].values()) == len(records) == summary["with_kr"] + summary["without_kr"]
    assert len({r["id"] for r in records}) == len(records)
    for r in records:
        traj = Trajectory.from_dict(r["trajectory"])
        assert traj.passed and (out / traj.task.image_path).is_file()
        assert r["source"]["reserved"] and Path(r["source"]["image"]).name in ("000.png",)
        refs = [s.observation.image_ref for s in traj.steps if s.observation is not None and s.observation.image_ref]
        assert refs and all((out / ref).is_file() for ref in refs)
        revealed = traj.steps[r["revealed_step"]].observation.image_ref
        assert revealed.endswith("anomaly.png")
        assert np.array_equal(read_image(out / revealed), read_image(r["source"]["image"]))
        mg = traj.steps[-2].observation.image_ref
        assert np.array_equal(read_mask(out / mg), read_mask(r["source"]["mask"]))
    for a in anomalies:
        assert {c["method"] for c in a["candidates"]} >= {"telea", "exemplar"} and a["fit"]["iou"] >= 0.0


def test_same_seed_gives_the_same_bytes(exported, tmp_path):
    data, out, _ = exported
    _export(data, tmp_path / "again", seed=1)
    for name in ("trajectories.jsonl", "chat.jsonl", "anomalies.jsonl"):
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name


def test_trl_messages_moves_images_out_of_the_user_turn():
    messages = [
        {"role": "user", "content": [{"type": "image", "image": "n.png"}, {"type": "text", "text": "hi"}]},
        {"role": "tool", "content": [{"type": "image", "image": "a.png"}, {"type": "text", "text": "[IG] ok"}]},
    ]
    out, images = trl_messages(messages)
    assert images == ["n.png"]
    assert out[0]["content"][0] == {"type": "image"} and out[1]["content"][0] == {"type": "image", "path": "a.png"}


def tiny_qwen3_vl_processor():
    """A Qwen3-VL processor built offline: a byte-level BPE tokenizer trained here on a few
    strings, TRL's qwen3_vl chat template, a small image processor from its config."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor
    from trl.chat_template_utils import qwen3_vl_chat_template

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(['<tool_call>{"name": "IG", "arguments": {"size": 0.25}}</tool_call>',
                             "Create a realistic crack defect on this hazelnut image."], trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")

    class OfflineQwen3VLProcessor(Qwen3VLProcessor):
        # Without torchvision transformers cannot name the video processor's base class;
        # this processor has no video processor, so that one check is skipped.
        def check_argument_for_proper_class(self, argument_name, argument):
            if argument_name == "video_processor" and argument is None:
                return None
            return super().check_argument_for_proper_class(argument_name, argument)

    images = Qwen2VLImageProcessorPil(patch_size=16, temporal_patch_size=2, merge_size=2,
                                      min_pixels=32 * 32, max_pixels=64 * 64)
    return OfflineQwen3VLProcessor(image_processor=images, tokenizer=tokenizer, video_processor=None,
                                   chat_template=qwen3_vl_chat_template)


def test_chat_jsonl_loads_with_datasets_tokenizes_with_qwen3_vl_and_tool_calls_parse_back(exported, monkeypatch, tmp_path):
    datasets = pytest.importorskip("datasets", reason="the chat export test needs `datasets` (extra: mllm)")
    pytest.importorskip("transformers", reason="the chat export test needs `transformers` (extra: mllm)")
    pytest.importorskip("tokenizers", reason="the chat export test needs `tokenizers` (extra: mllm)")
    data_utils = pytest.importorskip("trl.data_utils", reason="the chat export test needs `trl` (extra: mllm)")
    _, out, _ = exported
    processor = tiny_qwen3_vl_processor()
    ds = datasets.load_dataset("json", data_files=str(out / "chat.jsonl"), split="train", cache_dir=str(tmp_path / "hf"))
    expected = {r["id"]: Trajectory.from_dict(r["trajectory"]) for r in _lines(out / "trajectories.jsonl")}
    assert len(ds) == len(expected) > 0
    monkeypatch.chdir(out)  # image paths are relative to the export folder
    for example in ds:
        messages = data_utils.prepare_multimodal_messages(example["messages"], images=example["images"])
        batch = processor.apply_chat_template(messages, tokenize=True, return_dict=True, return_tensors="pt")
        traj = expected[example["id"]]
        n_images = 1 + sum(1 for s in traj.steps if s.observation is not None and s.observation.image_ref)
        assert batch["image_grid_thw"].shape[0] == n_images
        text = processor.tokenizer.decode(batch["input_ids"][0])
        assert text.count("<|vision_start|>") == n_images
        turns = re.findall(r"<\|im_start\|>assistant\n(.*?)<\|im_end\|>", text, re.S)
        actions = [parse_action(t) for t in turns]
        calls = [(a.call.name, a.call.arguments) for a in actions if a.call is not None]
        want = [(s.call.name, s.call.arguments) for s in traj.steps if s.call is not None]
        assert calls == want
        assert actions[-1].answer and actions[-1].answer.startswith("done")
    # and the collator SFTTrainer uses for vision-language data takes a batch of them as they are
    collator = pytest.importorskip("trl.trainer.sft_trainer").DataCollatorForVisionLanguageModeling(processor)
    pair = [dict(ds[0]), dict(ds[len(ds) - 1])]
    batch = collator(pair)
    assert batch["labels"].shape == batch["input_ids"].shape and batch["input_ids"].shape[0] == 2
    assert batch["image_grid_thw"].shape[0] == sum(
        1 + sum(1 for s in expected[e["id"]].steps if s.observation is not None and s.observation.image_ref) for e in pair)
