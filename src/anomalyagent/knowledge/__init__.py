"""Defect knowledge for the KR tool and the planner: what a defect is and how to draw it.

``KnowledgeBase.default()`` is the package data (``knowledge/data/*.yaml``, written by
us); ``KnowledgeBase.load([user.yaml])`` adds or patches entries from user files.
"""
from .base import KnowledgeBase, format_entry
from .bm25 import BM25, tokenize
from .entry import LOCATIONS, Category, KnowledgeEntry, LookupResult
from .loader import FAMILIES, normalize

__all__ = [
    "BM25",
    "FAMILIES",
    "LOCATIONS",
    "Category",
    "KnowledgeBase",
    "KnowledgeEntry",
    "LookupResult",
    "format_entry",
    "normalize",
    "tokenize",
]
