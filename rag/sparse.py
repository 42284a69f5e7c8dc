"""BM25 as sparse vectors for Qdrant.

Documents carry the BM25 term-frequency part; Qdrant's IDF modifier supplies
the inverse document frequency at query time from the collection itself, so
adding documents never requires re-encoding old ones.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from functools import lru_cache

from rag.settings import Settings
from rag.store.types import SparseVector
from rag.text import analyze


@lru_cache(maxsize=200_000)
def term_index(term: str) -> int:
    """Stable 32-bit index of a term (Qdrant sparse indices are uint32)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "little")


class BM25Encoder:
    def __init__(self, settings: Settings):
        self.language = settings.bm25_language
        self.k1 = settings.bm25_k1
        self.b = settings.bm25_b
        self.avg_len = settings.bm25_avg_doc_tokens

    def encode_document(self, text: str) -> SparseVector:
        terms = analyze(text, self.language)
        counts = Counter(terms)
        length_norm = 1 - self.b + self.b * len(terms) / self.avg_len
        weights: dict[int, float] = {}
        for term, tf in counts.items():
            # Colliding terms (rare) simply add up.
            idx = term_index(term)
            weights[idx] = weights.get(idx, 0.0) + tf * (self.k1 + 1) / (tf + self.k1 * length_norm)
        return SparseVector(indices=list(weights), values=list(weights.values()))

    def encode_query(self, text: str) -> SparseVector:
        indices = sorted({term_index(t) for t in analyze(text, self.language)})
        return SparseVector(indices=indices, values=[1.0] * len(indices))
