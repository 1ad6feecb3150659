"""Model-backed PG and QE backends: ``llm`` planner and ``mllm`` judge (the paper's setup).

Both talk to a chat model (models/chat.py: ``backend: openai`` with base_url/model, or
``backend: transformers`` with a local model), and both treat its reply as untrusted:

- ``llm`` (PG): the placement (centre, size, angle...) still comes from the knowledge
  priors on the foreground, so the edit stays on the object; the model writes the
  localized instruction from the task, that placement and the knowledge-base entry.
  The reply is stripped of ``<think>``, cut to ``max_chars`` and must not be empty.
- ``mllm`` (QE): the model sees the normal and the edited image and returns JSON
  ``{"location": 0-5, "quality": 0-5, "review": "..."}``; the first JSON object in the
  reply is read, numbers must be finite (NaN/inf refused) and are clamped to [0, 5];
  the edit passes when location + quality > 5 (the paper's rule).

A backend failure or an unusable reply is a ``CallError``: the policy sees an error
observation and may call again. Tokens go to ``state.usage[tool]``.
"""
from __future__ import annotations

import json
import math
from typing import Any

from ..models.chat import CHAT_MODELS
from ..models.openai_api import ModelError
from ..planning import instruction, sample_spec
from ..usage import Usage, add_usage
from . import model_editors  # noqa: F401  (registers the diffusers and openai editors)
from .backends import JUDGES, PLANNERS
from .base import CallError

PG_PROMPT = """You write image-editing instructions for synthesizing industrial defects.
Object: {category}. Defect: {defect}.
Placement (keep it): {draft}
Knowledge about this defect: {knowledge}
Write ONE instruction (at most 80 words) for an image editor: where the defect is, how big, its shape, \
colour and edges, so it looks physically real. Reply with the instruction only."""

QE_PROMPT = """You are a strict industrial visual inspector. The first image is a normal {category}; the \
second is the same image after an edit that should add a '{defect}' defect as instructed: "{instruction}".
Score location rationality (0-5: is the defect where such a defect really occurs, on the object?) and \
visual quality (0-5: does it look like a real {defect}, seamless, right size, colour and texture?).
Reply with JSON only: {{"location": <0-5>, "quality": <0-5>, "review": "<what is wrong and how to fix it>"}}"""


def _chat(backend: str, options: dict[str, Any], pool: Any = None):
    if backend not in CHAT_MODELS:
        raise ValueError(f"backend must be one of {', '.join(CHAT_MODELS.names())}, got {backend!r}")
    return CHAT_MODELS.create(backend, pool=pool, **options)


def _ask(model: Any, state: Any, tool: str, content: list[dict[str, Any]], images: dict[str, Any]) -> str:
    """One user turn to ``model``; tokens counted under ``tool``; failures become CallError."""
    try:
        text, usage = model.complete([{"role": "user", "content": content}], images)
    except ModelError as exc:
        raise CallError(f"{tool} backend failed: {exc}") from None
    add_usage(state.usage, tool, Usage(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens))
    close = text.find("</think>")  # reasoning is not the answer
    if close >= 0:
        text = text[close + len("</think>"):]
    elif text.lstrip().startswith("<think>"):
        raise CallError(f"{tool} backend reply unusable: its <think> is never closed (raise max_tokens?)")
    return text.strip()


class LLMPlanner:
    """PG with a language model writing the instruction (placement from the priors)."""

    def __init__(self, backend: str = "openai", max_chars: int = 1200, pool: Any = None, **options: Any) -> None:
        self.model = _chat(backend, options, pool)
        self.max_chars = int(max_chars)

    def __call__(self, entry, image, foreground, rng):
        return sample_spec(entry, image, foreground, rng)

    def write_instruction(self, spec, entry, state) -> str:
        draft = instruction(spec, None)
        knowledge = entry.text() if entry is not None else "(none)"
        task = state.task
        prompt = PG_PROMPT.format(category=task.category.replace("_", " "), defect=task.defect_type.replace("_", " "),
                                  draft=draft, knowledge=knowledge)
        text = _ask(self.model, state, "PG", [{"type": "text", "text": prompt}], {})
        text = " ".join(text.split())[: self.max_chars]
        if not text:
            raise CallError("PG backend returned an empty instruction")
        return text


@PLANNERS.register("llm")
def llm_planner(pool: Any = None, **options: Any) -> LLMPlanner:
    """Options: backend ("openai" or "transformers"), max_chars, and the backend's own options."""
    return LLMPlanner(pool=pool, **options)


def read_scores(text: str) -> tuple[float, float, str]:
    """(location, quality, review) from a judge's reply, or ValueError saying why not."""
    decoder = json.JSONDecoder(parse_constant=lambda name: (_ for _ in ()).throw(ValueError(f"{name} is not a score")))
    start = text.find("{")
    tries = 0
    while start >= 0 and tries < 20:  # bounded: a reply full of braces cannot make this slow
        tries += 1
        try:
            data, _ = decoder.raw_decode(text[start:start + 20_000])
        except ValueError as exc:
            if "is not a score" in str(exc):
                raise
            start = text.find("{", start + 1)
            continue
        if isinstance(data, dict) and "location" in data and "quality" in data:
            scores = []
            for key in ("location", "quality"):
                value = data[key]
                if isinstance(value, str):
                    try:
                        value = float(value.strip().split("/")[0])
                    except ValueError:
                        raise ValueError(f"{key} {value!r} is not a number") from None
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ValueError(f"{key} must be a finite number, got {value!r}")
                scores.append(min(5.0, max(0.0, float(value))))
            review = data.get("review", "")
            review = review if isinstance(review, str) else json.dumps(review)[:2000]
            return scores[0], scores[1], " ".join(review.split())[:2000]
        start = text.find("{", start + 1)
    raise ValueError('no JSON object with "location" and "quality" in the reply')


class MLLMJudge:
    """QE by a multimodal model; ``threshold``: pass when location + quality > threshold (5)."""

    def __init__(self, backend: str = "openai", threshold: float = 5.0, pool: Any = None, **options: Any) -> None:
        self.model = _chat(backend, options, pool)
        if not isinstance(threshold, (int, float)) or not math.isfinite(threshold) or not 0 <= threshold <= 10:
            raise ValueError(f"threshold must be in [0, 10], got {threshold!r}")
        self.threshold = float(threshold)

    def __call__(self, state: Any) -> Any:
        from ..critic.judge import Judgement

        task, spec = state.task, state.spec
        prompt = QE_PROMPT.format(category=task.category.replace("_", " "), defect=task.defect_type.replace("_", " "),
                                  instruction=(spec.instruction if spec is not None else "")[:1500])
        content = [{"type": "image", "image": "normal"}, {"type": "image", "image": "edited"}, {"type": "text", "text": prompt}]
        text = _ask(self.model, state, "QE", content, {"normal": state.image, "edited": state.edited})
        try:
            location, quality, review = read_scores(text)
        except ValueError as exc:
            raise CallError(f"QE backend reply unusable: {exc}") from None
        score = location + quality
        advice = [{"text": review}] if review else []
        return Judgement(location, quality, score, score > self.threshold, {}, advice, review)


@JUDGES.register("mllm")
def mllm_judge(pool: Any = None, **options: Any) -> MLLMJudge:
    """Options: backend ("openai" or "transformers"), threshold, and the backend's own options."""
    return MLLMJudge(pool=pool, **options)
