"""Accounting: calls, tokens and seconds per tool (and per policy), per episode and sample.

One ``Usage`` per key ("policy", "PG", "IG", "QE", "KR", "MG"); the ToolBox counts calls
and seconds of every tool, model backends add the tokens their server reports, the loop
adds the policy's. A sample's usage is the sum over its episodes (retries included) and
is written to its manifest line; ``summarize_usage`` totals a run for ``inspect``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable


@dataclass
class Usage:
    """calls: requests made; tokens as reported by the backend (0 when unknown); seconds: wall time."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def add(self, other: "Usage") -> "Usage":
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.seconds += other.seconds
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "seconds": round(self.seconds, 5)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Usage":
        return cls(int(data.get("calls", 0)), int(data.get("prompt_tokens", 0)), int(data.get("completion_tokens", 0)),
                   float(data.get("seconds", 0.0)))


def add_usage(table: dict[str, Usage], key: str, usage: Usage) -> None:
    """``table[key] += usage`` (creating the entry)."""
    table.setdefault(key, Usage()).add(usage)


def usage_dict(table: dict[str, Usage]) -> dict[str, dict[str, Any]]:
    return {k: table[k].to_dict() for k in sorted(table)}


def summarize_usage(per_sample: Iterable[dict[str, dict[str, Any]] | None]) -> dict[str, Any]:
    """Totals per key over samples plus the per-sample mean of calls, tokens and seconds."""
    totals: dict[str, Usage] = {}
    samples = 0
    for table in per_sample:
        if not table:
            continue
        samples += 1
        for key, value in table.items():
            add_usage(totals, key, Usage.from_dict(value))
    everything = Usage()
    for usage in totals.values():
        everything.add(usage)
    per = max(samples, 1)
    return {
        "samples": samples,
        "per_key": usage_dict(totals),
        "total": everything.to_dict(),
        "per_sample": {"calls": everything.calls / per, "tokens": (everything.prompt_tokens + everything.completion_tokens) / per,
                       "seconds": everything.seconds / per},
    }
