"""What the renderer families are and which defect types use them, for people and for
the ``anomalyagent renderers`` command.

``describe_families`` is the machine-readable list (name, description, documented
parameters, and the knowledge-base defect types mapped to the family, so a reader can
see that every MVTec AD / VisA / Magnetic Tile defect type has a renderer).
"""
from __future__ import annotations

import logging
from typing import Any

from .base import RENDERERS

log = logging.getLogger(__name__)


def defect_types_by_family() -> dict[str, list[str]]:
    """{family: sorted ["category/defect", ...]} from the default knowledge base.

    Empty when the knowledge base cannot be read (the catalogue still lists families).
    """
    try:
        from ..knowledge import KnowledgeBase

        entries = KnowledgeBase.default().entries()
    except Exception as exc:  # a broken KB must not hide the renderers
        log.warning("knowledge base unavailable for the renderer catalogue: %s", exc)
        return {}
    out: dict[str, list[str]] = {}
    for e in entries:
        out.setdefault(e.family, []).append(f"{e.category}/{e.defect}")
    return {k: sorted(v) for k, v in out.items()}


def describe_families(with_defects: bool = True) -> list[dict[str, Any]]:
    """One dict per registered family: name, description, parameters (Param.to_dict()),
    and ``defect_types`` (knowledge-base "category/defect" pairs) when ``with_defects``."""
    mapped = defect_types_by_family() if with_defects else {}
    out = []
    for name in RENDERERS.names():
        item: dict[str, Any] = {**RENDERERS.create(name).describe(), "name": name}
        if with_defects:
            item["defect_types"] = mapped.get(name, [])
        out.append(item)
    return out


def unmapped_families(catalogue: list[dict[str, Any]]) -> list[str]:
    """Families no knowledge-base entry uses (fine, but worth knowing)."""
    return [c["name"] for c in catalogue if not c.get("defect_types")]
