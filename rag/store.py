"""The Qdrant store: one collection with a dense and a BM25 vector per chunk.

Embedded Qdrant (`QdrantClient(path=...)`) and a Qdrant server go through the
same code. Embedded mode is pure Python: it scans every point and locks its
folder to one client per process, so the process shares one client
(`get_client`) and a second process gets a clear `StoreLockedError`.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models

from rag.errors import ConfigurationError, StoreLockedError, StoreUnavailableError
from rag.settings import Settings

DENSE_VECTOR = "dense"
SPARSE_VECTOR = "bm25"

# Payload fields that filters and the ingest bookkeeping use.
KEYWORD_INDEXES = ("doc_id", "doc_hash", "access_groups", "doc_type", "publisher", "language")
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

_clients: dict[str, QdrantClient] = {}
_clients_lock = threading.Lock()


def _client_key(settings: Settings) -> str:
    return settings.qdrant_url or str(settings.qdrant_path.resolve())


def get_client(settings: Settings) -> QdrantClient:
    """The process's client for this Qdrant (embedded folder or server URL)."""
    key = _client_key(settings)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _open_client(settings)
            if not _clients:
                # Close before interpreter teardown, when embedded Qdrant can still flush and unlock.
                atexit.register(close_clients)
            _clients[key] = client
        return client


def _open_client(settings: Settings) -> QdrantClient:
    if settings.qdrant_url:
        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return QdrantClient(url=settings.qdrant_url, api_key=api_key, timeout=settings.qdrant_timeout_s)
    path: Path = settings.qdrant_path
    path.mkdir(parents=True, exist_ok=True)
    try:
        return QdrantClient(path=str(path))
    except RuntimeError as exc:
        if "already accessed" in str(exc):
            raise StoreLockedError(f"Embedded Qdrant folder {path} is locked by another process") from exc
        raise StoreUnavailableError(f"Cannot open embedded Qdrant at {path}: {exc}") from exc


def close_clients() -> None:
    """Release every client (and the embedded folder locks) held by this process."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


@dataclass(frozen=True)
class SearchFilter:
    access_groups: Sequence[str]
    doc_types: Sequence[str] = ()
    publishers: Sequence[str] = ()

    def to_qdrant(self) -> models.Filter:
        # Access groups always filter: an empty list matches nothing, never everything.
        must: list[models.Condition] = [
            models.FieldCondition(key="access_groups", match=models.MatchAny(any=list(self.access_groups) or ["\0"]))
        ]
        if self.doc_types:
            must.append(models.FieldCondition(key="doc_type", match=models.MatchAny(any=list(self.doc_types))))
        if self.publishers:
            must.append(models.FieldCondition(key="publisher", match=models.MatchAny(any=list(self.publishers))))
        return models.Filter(must=must)


@dataclass
class Hit:
    id: str
    payload: dict[str, Any]
    fused_score: float
    dense_score: float | None
    sparse_score: float | None


class Store:
    def __init__(self, settings: Settings, client: QdrantClient | None = None, collection: str | None = None):
        self.settings = settings
        self.client = client or get_client(settings)
        self.collection = collection or settings.collection

    # --- collection ---------------------------------------------------------
    def exists(self) -> bool:
        try:
            return self.client.collection_exists(self.collection) or self._alias_target() is not None
        except Exception as exc:
            raise StoreUnavailableError(f"Qdrant unreachable: {exc}") from exc

    def _alias_target(self) -> str | None:
        try:
            aliases = self.client.get_aliases().aliases
        except Exception:
            return None
        return next((a.collection_name for a in aliases if a.alias_name == self.collection), None)

    def ensure_collection(self, dimension: int) -> None:
        if self.exists():
            info = self.client.get_collection(self.collection)
            vectors = info.config.params.vectors
            existing = vectors[DENSE_VECTOR].size if isinstance(vectors, dict) else None
            if existing != dimension:
                raise ConfigurationError(
                    f"Collection '{self.collection}' holds {existing}-dimensional vectors but the embedding model "
                    f"gives {dimension}. Ingest into a new collection (--collection) after changing the model."
                )
            return
        self.client.create_collection(
            self.collection,
            vectors_config={DENSE_VECTOR: models.VectorParams(size=dimension, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            shard_number=self.settings.qdrant_shard_number,
            replication_factor=self.settings.qdrant_replication_factor,
        )
        if not self.settings.qdrant_url:
            return  # embedded Qdrant scans every point and ignores payload indexes
        for field in KEYWORD_INDEXES:
            self.client.create_payload_index(self.collection, field, models.PayloadSchemaType.KEYWORD)
        for field in INTEGER_INDEXES:
            self.client.create_payload_index(self.collection, field, models.PayloadSchemaType.INTEGER)

    def count(self, flt: models.Filter | None = None) -> int:
        if not self.exists():
            return 0
        return self.client.count(self.collection, count_filter=flt, exact=True).count

    def set_alias(self, alias: str, collection: str) -> None:
        """Point `alias` at `collection` atomically (zero-downtime re-index)."""
        actions: list[Any] = []
        if any(a.alias_name == alias for a in self.client.get_aliases().aliases):
            actions.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)))
        actions.append(
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=collection, alias_name=alias))
        )
        self.client.update_collection_aliases(change_aliases_operations=actions)

    # --- documents ----------------------------------------------------------
    @staticmethod
    def doc_filter(doc_id: str) -> models.Filter:
        return models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))])

    def document_hashes(self, doc_id: str) -> tuple[set[str], int, int | None]:
        """(distinct doc_hash values, point count, the chunk_count they claim) for a document."""
        hashes: set[str] = set()
        points = 0
        claimed: int | None = None
        for payload in self._scroll(self.doc_filter(doc_id), ["doc_hash", "chunk_count"]):
            hashes.add(payload.get("doc_hash", ""))
            claimed = payload.get("chunk_count")
            points += 1
        return hashes, points, claimed

    def upsert(self, points: list[models.PointStruct]) -> None:
        if points:
            self.client.upsert(self.collection, points=points, wait=True)

    def delete_stale(self, doc_id: str, keep_hash: str) -> None:
        """Remove a document's chunks from any other version than `keep_hash`."""
        self.client.delete(
            self.collection,
            points_selector=models.FilterSelector(
                filter=models.Filter(
                    must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))],
                    must_not=[models.FieldCondition(key="doc_hash", match=models.MatchValue(value=keep_hash))],
                )
            ),
            wait=True,
        )

    def delete_document(self, doc_id: str) -> None:
        self.client.delete(self.collection, points_selector=models.FilterSelector(filter=self.doc_filter(doc_id)), wait=True)

    def documents(self, access_groups: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """One payload per document (its first chunk carries the document fields),
        optionally only documents of these access groups."""
        if not self.exists():
            return []
        must: list[models.Condition] = [models.FieldCondition(key="chunk_index", match=models.MatchValue(value=0))]
        if access_groups is not None:
            must.extend(SearchFilter(access_groups).to_qdrant().must or [])  # type: ignore[arg-type]
        docs = list(self._scroll(models.Filter(must=must), list(DOCUMENT_FIELDS)))
        return sorted(docs, key=lambda d: d.get("doc_id", ""))

    def facet_values(self, field: str, access_groups: Sequence[str] | None = None) -> list[str]:
        return sorted({str(d.get(field)) for d in self.documents(access_groups) if d.get(field)})

    def _scroll(self, flt: models.Filter, fields: list[str]) -> Iterator[dict[str, Any]]:
        offset = None
        while True:
            batch, offset = self.client.scroll(
                self.collection, scroll_filter=flt, limit=256, offset=offset, with_payload=fields, with_vectors=False
            )
            for point in batch:
                yield point.payload or {}
            if offset is None:
                return

    # --- search -------------------------------------------------------------
    def hybrid_search(
        self,
        dense: Sequence[float],
        sparse: models.SparseVector,
        flt: SearchFilter,
        *,
        limit: int,
        dense_candidates: int,
        sparse_candidates: int,
        dense_weight: float,
        sparse_weight: float,
        rrf_k: int,
    ) -> list[Hit]:
        """Dense and BM25 prefetch fused by weighted RRF inside Qdrant.

        The raw dense cosine and BM25 scores of the fused hits come back too:
        RRF scores are rank-based, while the relevance floor needs scores that
        say how well a passage matches at all."""
        qfilter = flt.to_qdrant()
        prefetch: list[models.Prefetch] = [
            models.Prefetch(query=list(dense), using=DENSE_VECTOR, limit=dense_candidates, filter=qfilter)
        ]
        requests = []
        if sparse.indices:
            prefetch.append(models.Prefetch(query=sparse, using=SPARSE_VECTOR, limit=sparse_candidates, filter=qfilter))
        weights = [dense_weight, sparse_weight][: len(prefetch)]
        requests.append(
            models.QueryRequest(
                prefetch=prefetch,
                query=models.RrfQuery(rrf=models.Rrf(k=rrf_k, weights=weights)),
                limit=limit,
                with_payload=True,
                with_vector=[DENSE_VECTOR],
            )
        )
        if sparse.indices:
            requests.append(
                models.QueryRequest(query=sparse, using=SPARSE_VECTOR, filter=qfilter, limit=sparse_candidates)
            )
        try:
            responses = self.client.query_batch_points(self.collection, requests=requests)
        except Exception as exc:
            if not self.exists():
                return []
            raise StoreUnavailableError(f"Qdrant query failed: {exc}") from exc
        sparse_scores = {str(p.id): p.score for p in responses[1].points} if sparse.indices else {}
        query = np.asarray(dense, dtype=np.float32)
        hits = []
        for point in responses[0].points:
            vectors = point.vector if isinstance(point.vector, dict) else {}
            stored = vectors.get(DENSE_VECTOR)
            # Both vectors are L2-normalised, so the dot product is the cosine.
            cosine = float(np.dot(query, np.asarray(stored, dtype=np.float32))) if stored is not None else None
            hits.append(
                Hit(
                    id=str(point.id),
                    payload=point.payload or {},
                    fused_score=point.score,
                    dense_score=cosine,
                    sparse_score=sparse_scores.get(str(point.id), 0.0),
                )
            )
        return hits
