"""The store's own small types: what goes in, what comes out, how to filter.

Nothing above the store sees an engine's types; each engine translates these.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DENSE_VECTOR = "dense"
SPARSE_VECTOR = "bm25"

# Payload fields that filters, facets and the ingest bookkeeping use (keyword indexes). Only
# these: every index costs time whenever an embedded shard is opened.
KEYWORD_INDEXES = ("doc_id", "access_groups", "doc_type", "publisher")
INTEGER_INDEXES = ("chunk_index",)

# Fields stored on every chunk that describe its document (for `sources` and citations).
DOCUMENT_FIELDS = (
    "doc_id",
    "doc_hash",
    "chunk_count",
    "title",
    "publisher",
    "doc_type",
    "url",
    "source_path",
    "updated",
    "version",
    "valid_from",
    "review_due",
    "external_id",
    "language",
    "access_groups",
    "credit",
    "page_count",
)

# Matches no real access group: an empty group list must filter to nothing, never to everything.
NO_GROUP = "\0"


@dataclass(frozen=True)
class SparseVector:
    """Term indices and weights (BM25 term frequencies; the engine applies IDF)."""

    indices: list[int]
    values: list[float]


@dataclass
class ChunkPoint:
    """One chunk as stored: a UUID id, its dense and sparse vectors, its payload."""

    id: str
    dense: Sequence[float]
    sparse: SparseVector
    payload: dict[str, Any]


@dataclass(frozen=True)
class Where:
    """Engine-neutral filter: every `must` field matches one of its values, no `must_not` field does."""

    must: Mapping[str, Sequence[str | int]] = field(default_factory=dict)
    must_not: Mapping[str, Sequence[str | int]] = field(default_factory=dict)

    def and_(self, other: Where) -> Where:
        return Where({**self.must, **other.must}, {**self.must_not, **other.must_not})


@dataclass(frozen=True)
class SearchFilter:
    """What a caller may see: always its access groups, optionally document types and publishers."""

    access_groups: Sequence[str]
    doc_types: Sequence[str] = ()
    publishers: Sequence[str] = ()

    @property
    def matches_nothing(self) -> bool:
        return not [g for g in self.access_groups if g]

    def where(self) -> Where:
        must: dict[str, Sequence[str | int]] = {"access_groups": list(self.access_groups) or [NO_GROUP]}
        if self.doc_types:
            must["doc_type"] = list(self.doc_types)
        if self.publishers:
            must["publisher"] = list(self.publishers)
        return Where(must)


@dataclass
class Hit:
    id: str
    payload: dict[str, Any]
    fused_score: float
    dense_score: float | None
    sparse_score: float | None


# (id, RRF score, BM25 score, payload, dense vector) of one fused hit, as an engine returns it.
FusedRow = tuple[str, float, float, dict[str, Any], "list[float] | None"]


def ranked(scored: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    """Best first, equal scores in id order: the same list in every process and engine."""
    return sorted(scored, key=lambda item: (-item[1], item[0]))


def weighted_rrf(
    rankings: Sequence[Sequence[tuple[str, float]]], weights: Sequence[float], k: int, limit: int
) -> list[tuple[str, float]]:
    """Qdrant's weighted reciprocal rank fusion, on rankings put in a deterministic order first.

    An item at 0-based position p of a ranking with weight w scores 1 / ((p + 1) / w + k - 1)
    (w = 1: the classic 1 / (k + rank)); w <= 0 ignores the ranking. This is the formula of the
    Qdrant server, Qdrant Edge and qdrant-client (tests/rag/test_store_contract.py checks all
    three). Fusing here rather than in the engine fixes the order of equal scores: an engine
    returns tied candidates in an order of its own (Edge: a different one in each process), and
    RRF turns that order into different scores."""
    fused: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for position, (point_id, _) in enumerate(ranked(ranking)):
            contribution = 1.0 / ((position + 1) / weight + k - 1) if weight > 0 else 0.0
            fused[point_id] = fused.get(point_id, 0.0) + contribution
    return ranked(list(fused.items()))[:limit]


@dataclass(frozen=True)
class CollectionInfo:
    """What the store records about a collection besides its points."""

    name: str
    dimension: int
    identity: dict[str, str] | None  # the embedder that built it; None = not recorded (an older index)
    points: int = 0
    aliases: tuple[str, ...] = ()


def identity_line(identity: Mapping[str, str] | None) -> str:
    """An embedder identity in one line, for messages and listings."""
    if not identity:
        return "(ukjent embedder)"
    return json.dumps(dict(identity), ensure_ascii=False, sort_keys=True)
