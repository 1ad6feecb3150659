"""Reverse synthesis: agent trajectories from real anomalies, without manual labels.

From a real anomaly and its mask: reconstruct the normal image (inpainting or a
registered exemplar, ``choose``/``exemplar``), extract the spec of the real defect and
measure its fit (``extract``), write 1-, 2- and 3-IG-turn trajectories whose earlier
attempts are deliberately flawed edits judged by the real critic and whose last image is
the real anomaly (``flaws``, ``trajectory``), for every anomaly of a dataset (``batch``),
exported as structured JSON and as chat JSONL for TRL (``export``), with the run's
numbers (``summary``). docs/reverse.md explains the choices.
"""
from .batch import AnomalyResult, ReverseConfig, run_reverse
from .choose import METHODS, Candidate, candidates, consistency, critic_flags
from .exemplar import Exemplar, exemplar_reconstruct
from .export import Exporter, trl_messages
from .extract import Extraction, Fit, extract, fit
from .flaws import FLAWS, Flaw, FlawContext
from .summary import format_summary, summarize
from .trajectory import Builder, Built, RevealEditor, Source

__all__ = [
    "AnomalyResult", "Builder", "Built", "Candidate", "Exemplar", "Exporter", "Extraction", "FLAWS", "Fit", "Flaw",
    "FlawContext", "METHODS", "ReverseConfig", "RevealEditor", "Source", "candidates", "consistency", "critic_flags",
    "exemplar_reconstruct", "extract", "fit", "format_summary", "run_reverse", "summarize", "trl_messages",
]
