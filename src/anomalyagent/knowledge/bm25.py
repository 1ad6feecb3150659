"""Okapi BM25 ranking over a small, fixed set of short documents (pure Python + numpy).

Why our own: the knowledge base has a few hundred entries and must rank them in well
under a millisecond with no extra dependency. The index is built once; a query touches
only the postings of its own terms.

    score(d, q) = sum_t idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))
    idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))   (always > 0)
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Iterable, Sequence

import numpy as np

K1 = 1.5
B = 0.75

# Words that carry no meaning about a defect; dropping them keeps long descriptions
# from matching every query on "the" and "of".
STOPWORDS = frozenset(
    "a an and are as at be by for from has have in into is it its of on or than that the this "
    "to was were which with without where when while under over can may often usually".split()
)
_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    """Crude plural folding (scratches -> scratch, holes -> hole, particles -> particle)."""
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss") and not word.endswith("us"):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Lowercase alphanumeric words, stopwords dropped, plurals folded; '_' and '-' split words."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


class BM25:
    """An immutable BM25 index over ``documents`` (each a string)."""

    def __init__(self, documents: Sequence[str], k1: float = K1, b: float = B) -> None:
        self.k1, self.b = float(k1), float(b)
        self.n = len(documents)
        counts = [Counter(tokenize(doc)) for doc in documents]
        lengths = np.array([sum(c.values()) for c in counts], dtype=np.float64)
        avgdl = float(lengths.mean()) if self.n and lengths.sum() > 0 else 1.0
        norm = self.k1 * (1.0 - self.b + self.b * lengths / avgdl)  # (N,)
        postings: dict[str, list[tuple[int, int]]] = {}
        for i, c in enumerate(counts):
            for term, tf in c.items():
                postings.setdefault(term, []).append((i, tf))
        # Per term: the documents holding it and their precomputed contribution.
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, rows in postings.items():
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            tf = np.array([r[1] for r in rows], dtype=np.float64)
            df = len(rows)
            idf = math.log(1.0 + (self.n - df + 0.5) / (df + 0.5))
            self._postings[term] = (ids, idf * tf * (self.k1 + 1.0) / (tf + norm[ids]))

    def scores(self, query: str | Iterable[str]) -> np.ndarray:
        """(N,) float64 BM25 score of every document for ``query`` (text or tokens)."""
        terms = tokenize(query) if isinstance(query, str) else list(query)
        out = np.zeros(self.n, dtype=np.float64)
        for term in terms:  # a repeated query term counts again, as in the classic formula
            hit = self._postings.get(term)
            if hit is not None:
                out[hit[0]] += hit[1]
        return out

    def top(self, query: str | Iterable[str], k: int = 5) -> list[tuple[int, float]]:
        """The ``k`` best (document index, score) pairs with score > 0, best first, ties by index."""
        s = self.scores(query)
        order = np.lexsort((np.arange(self.n), -s))
        return [(int(i), float(s[i])) for i in order[:k] if s[i] > 0]
