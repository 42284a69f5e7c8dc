"""`Store`: one collection (or alias) of one engine, as the rest of fagprat sees it.

The logic both engines share lives here: access filters that match nothing
when a caller has no groups, a deterministic order of the fused hits, the raw
dense and BM25 scores the relevance floor needs, the ingest bookkeeping, and
the embedder identity: a collection records the embedder that built it, and a
`Store` given an identity refuses to read or write a collection built by
another (or by one it does not know).
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from rag.errors import ConfigurationError, EmbedderMismatchError, LegacyStoreError
from rag.settings import Settings

from .engine import Engine
from .types import (
    DOCUMENT_FIELDS,
    ChunkPoint,
    CollectionInfo,
    Hit,
    SearchFilter,
    SparseVector,
    Where,
    identity_line,
    weighted_rrf,
)

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _engine_key(settings: Settings) -> str:
    return settings.qdrant_url or str(settings.store_path.resolve())


def get_engine(settings: Settings) -> Engine:
    """The process's engine for these settings: the Qdrant server at `qdrant_url`, else Qdrant
    Edge under `data_dir` (one per folder, shared by every `Store` of the process)."""
    key = _engine_key(settings)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            if settings.qdrant_url:
                from .server import ServerEngine

                engine = ServerEngine.connect(settings)
            else:
                from .edge import EdgeEngine

                engine = EdgeEngine(settings)
            if not _engines:
                # Close before interpreter teardown: shards and locks are released in order.
                atexit.register(close_clients)
            _engines[key] = engine
        return engine


def close_clients() -> None:
    """Close every engine of this process (open shards, server connections, reader locks)."""
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.close()


class Store:
    def __init__(
        self,
        settings: Settings,
        collection: str | None = None,
        *,
        engine: Engine | None = None,
        identity: Mapping[str, str] | None = None,
    ):
        self.settings = settings
        self.collection = collection or settings.collection
        self.engine = engine or get_engine(settings)
        self.identity: dict[str, str] | None = dict(identity) if identity else None
        self._session: Any = None
        self._writing = False

    # --- the collection -------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.engine.kind

    def info(self) -> CollectionInfo | None:
        return self.engine.info(self.collection)

    def exists(self) -> bool:
        return self.info() is not None

    def require_identity(self, identity: Mapping[str, str]) -> None:
        """Refuse from now on to read or write a collection another embedder built."""
        self.identity = dict(identity)

    def ensure_collection(self, dimension: int) -> None:
        """Create the collection (recording the embedder identity), or check the existing one."""
        info = self.info()
        if info is None:
            self.engine.create(self.collection, dimension, self.identity)
            return
        if info.dimension != dimension:
            raise ConfigurationError(
                f"Collection '{info.name}' holds {info.dimension}-dimensional vectors but the embedding model "
                f"gives {dimension}. Ingest into a new collection (--collection) after changing the model."
            )
        self._check_identity(info)

    def _check_identity(self, info: CollectionInfo) -> None:
        if self.identity is None or info.identity == self.identity:
            return
        raise EmbedderMismatchError(
            f"Collection '{info.name}' was built by {identity_line(info.identity)}; the configured embedder is "
            f"{identity_line(self.identity)}. Re-index into a new collection: fagprat ingest <folder> "
            f"--collection <new>, then fagprat alias {self.collection} <new>."
        )

    def _readable(self) -> CollectionInfo | None:
        info = self.info()
        if info is None:
            legacy = self.engine.legacy_index()
            if legacy is not None:
                raise LegacyStoreError(
                    f"{legacy} holds an index from an earlier fagprat (qdrant-client local mode, another embedder)",
                    user_message=(
                        f"Indeksen i {legacy} er fra en eldre versjon av fagprat: indekser på nytt med "
                        f"«fagprat ingest <mappe>», og slett {legacy} etterpå."
                    ),
                )
            return None
        self._check_identity(info)
        return info

    def set_alias(self, alias: str, collection: str) -> None:
        """Point `alias` at `collection` atomically (zero-downtime re-index)."""
        self.engine.set_alias(alias, collection)

    # --- writing ----------------------------------------------------------------------
    @contextmanager
    def writing(self, *, progress: bool = False) -> Iterator[None]:
        """Group writes: on the embedded engine they become visible to readers together, at the
        end (with HNSW built if they changed enough); a failure publishes nothing. Writes outside
        `writing()` are each their own session."""
        if self._writing:
            yield
            return
        info = self.info()
        if info is None:
            raise ConfigurationError(f"Collection '{self.collection}' does not exist; create it first")
        self._check_identity(info)
        with self.engine.writing(self.collection, progress=progress) as session:
            self._session, self._writing = session, True
            try:
                yield
            finally:
                self._session, self._writing = None, False

    def upsert(self, points: list[ChunkPoint]) -> None:
        if points:
            with self.writing():
                self.engine.upsert(self._session, self.collection, points)

    def delete_stale(self, doc_id: str, keep_hash: str) -> None:
        """Remove a document's chunks from any other version than `keep_hash`."""
        with self.writing():
            self.engine.delete(self._session, self.collection, Where({"doc_id": [doc_id]}, {"doc_hash": [keep_hash]}))

    def delete_document(self, doc_id: str) -> None:
        with self.writing():
            self.engine.delete(self._session, self.collection, Where({"doc_id": [doc_id]}))

    # --- documents --------------------------------------------------------------------
    def count(self, flt: SearchFilter | None = None) -> int:
        if flt is not None and flt.matches_nothing:
            return 0
        if not self._writing and self._readable() is None:
            return 0
        return self.engine.count(self._session, self.collection, flt.where() if flt else None)

    def points(self, fields: Sequence[str], *, doc_id: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """(id, payload with `fields`) of every chunk, or of one document's."""
        if not self._writing and self._readable() is None:
            return iter(())
        where = Where({"doc_id": [doc_id]}) if doc_id is not None else None
        return self.engine.scroll(self._session, self.collection, where, fields)

    def document_hashes(self, doc_id: str) -> tuple[set[str], int, int | None]:
        """(distinct doc_hash values, point count, the chunk_count they claim) for a document."""
        hashes: set[str] = set()
        points = 0
        claimed: int | None = None
        for _, payload in self.points(["doc_hash", "chunk_count"], doc_id=doc_id):
            hashes.add(payload.get("doc_hash", ""))
            claimed = payload.get("chunk_count")
            points += 1
        return hashes, points, claimed

    def documents(self, access_groups: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """One payload per document (its first chunk carries the document fields),
        optionally only documents of these access groups."""
        where = Where({"chunk_index": [0]})
        if access_groups is not None:
            flt = SearchFilter(access_groups)
            if flt.matches_nothing:
                return []
            where = where.and_(flt.where())
        if not self._writing and self._readable() is None:
            return []
        docs = [payload for _, payload in self.engine.scroll(self._session, self.collection, where, DOCUMENT_FIELDS)]
        return sorted(docs, key=lambda d: d.get("doc_id", ""))

    def facets(self, field: str, access_groups: Sequence[str] | None = None) -> dict[str, int]:
        """Chunks per value of a keyword field, optionally within these access groups."""
        where = None
        if access_groups is not None:
            flt = SearchFilter(access_groups)
            if flt.matches_nothing:
                return {}
            where = flt.where()
        if not self._writing and self._readable() is None:
            return {}
        return self.engine.facet(self._session, self.collection, field, where)

    def facet_values(self, field: str, access_groups: Sequence[str] | None = None) -> list[str]:
        return sorted(value for value in self.facets(field, access_groups) if value)

    # --- search -----------------------------------------------------------------------
    def hybrid_search(
        self,
        dense: Sequence[float],
        sparse: SparseVector,
        flt: SearchFilter,
        *,
        limit: int,
        dense_candidates: int,
        sparse_candidates: int,
        dense_weight: float,
        sparse_weight: float,
        rrf_k: int,
    ) -> list[Hit]:
        """Dense and BM25 candidates from the engine (one batch), fused by Qdrant's weighted RRF
        (`weighted_rrf`) with equal scores in id order, so every process and engine returns the
        same list.

        The raw dense cosine and BM25 scores of the fused hits come back too:
        RRF scores are rank-based, while the relevance floor needs scores that
        say how well a passage matches at all."""
        if flt.matches_nothing or self._readable() is None:
            return []
        rows = self.engine.hybrid(
            self.collection,
            dense,
            sparse,
            flt.where(),
            dense_candidates=dense_candidates,
            sparse_candidates=sparse_candidates,
            fuse=lambda dense_hits, sparse_hits: weighted_rrf(
                [dense_hits, sparse_hits], [dense_weight, sparse_weight], rrf_k, limit
            ),
        )
        query = np.asarray(dense, dtype=np.float32)
        hits = []
        for point_id, fused, sparse_score, payload, vector in rows:
            # Both vectors are L2-normalised, so the dot product is the cosine.
            cosine = float(np.dot(query, np.asarray(vector, dtype=np.float32))) if vector is not None else None
            hits.append(Hit(id=point_id, payload=payload, fused_score=fused, dense_score=cosine, sparse_score=sparse_score))
        return hits

    def terms_present(self, indices: Sequence[int], flt: SearchFilter) -> set[int]:
        """The BM25 term indices (`rag.sparse.term_index`) found in some chunk the filter lets through."""
        if flt.matches_nothing or self._readable() is None:
            return set()
        return self.engine.terms_present(self.collection, list(indices), flt.where())

    def dense_search(
        self, vector: Sequence[float], flt: SearchFilter | None = None, *, limit: int = 10, exact: bool = False
    ) -> list[tuple[str, float]]:
        """Dense search alone: HNSW (with `hnsw_ef`), or exact; the benchmark's recall check."""
        if (flt is not None and flt.matches_nothing) or self._readable() is None:
            return []
        return self.engine.dense(self.collection, vector, flt.where() if flt else None, limit, exact=exact)
