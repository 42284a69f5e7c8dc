"""A Qdrant server (or a distributed cluster) through qdrant-client.

The server has collections, aliases, snapshots and background indexing of its
own, so this engine only translates. Given a local-mode client
(`QdrantClient(path=...)`), it is also what earlier versions of fagprat ran
embedded; the store benchmark measures that as the baseline.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from qdrant_client import QdrantClient, models

from rag.errors import ConfigurationError, FagpratError, StoreUnavailableError
from rag.settings import Settings

from .engine import Engine
from .types import (
    DENSE_VECTOR,
    INTEGER_INDEXES,
    KEYWORD_INDEXES,
    SPARSE_VECTOR,
    ChunkPoint,
    CollectionInfo,
    FusedRow,
    SparseVector,
    Where,
)

# The collection's metadata key that records the embedder that built it.
IDENTITY_KEY = "fagprat_embedder"
# Identity and alias lookups are cached this long: a round trip per question would double
# the latency of a fast query, and an alias switch is noticed within this time.
INFO_CACHE_S = 2.0


def _condition(key: str, values: Sequence[str | int]) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchAny(any=list(values)))  # type: ignore[arg-type]


def _filter(where: Where | None) -> models.Filter | None:
    if where is None or (not where.must and not where.must_not):
        return None
    return models.Filter(
        must=[_condition(k, v) for k, v in where.must.items()] or None,  # type: ignore[arg-type]
        must_not=[_condition(k, v) for k, v in where.must_not.items()] or None,  # type: ignore[arg-type]
    )


def _sparse(vector: SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=list(vector.indices), values=list(vector.values))


class ServerEngine(Engine):
    kind = "server"

    def __init__(self, client: QdrantClient, settings: Settings):
        self.client = client
        self.settings = settings
        self._cache: dict[str, tuple[float, CollectionInfo | None]] = {}
        self._cache_lock = threading.Lock()

    @classmethod
    def connect(cls, settings: Settings) -> ServerEngine:
        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        client = QdrantClient(url=settings.qdrant_url, api_key=api_key, timeout=settings.qdrant_timeout_s)
        return cls(client, settings)

    def _call(self, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except FagpratError:
            raise
        except Exception as exc:  # noqa: BLE001 - connection errors, HTTP errors, gRPC errors
            raise StoreUnavailableError(f"Qdrant: {what} failed: {exc}") from exc

    # --- collections and aliases ---------------------------------------------------
    def aliases(self) -> dict[str, str]:
        result = self._call("listing aliases", self.client.get_aliases)
        return {a.alias_name: a.collection_name for a in result.aliases}

    def resolve(self, name: str) -> str:
        return self.aliases().get(name, name)

    def info(self, name: str) -> CollectionInfo | None:
        now = time.monotonic()
        with self._cache_lock:
            cached = self._cache.get(name)
        if cached and now - cached[0] < INFO_CACHE_S:
            return cached[1]
        info = self._info(name)
        with self._cache_lock:
            self._cache[name] = (now, info)
        return info

    def _forget(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def _info(self, name: str) -> CollectionInfo | None:
        aliases = self.aliases()
        collection = aliases.get(name, name)
        if not self._call("checking the collection", self.client.collection_exists, collection):
            return None
        config = self._call("reading the collection", self.client.get_collection, collection)
        vectors = config.config.params.vectors
        dimension = vectors[DENSE_VECTOR].size if isinstance(vectors, dict) and DENSE_VECTOR in vectors else 0
        raw = (config.config.metadata or {}).get(IDENTITY_KEY)
        identity = json.loads(raw) if isinstance(raw, str) else raw
        return CollectionInfo(
            collection,
            dimension,
            identity,
            int(config.points_count or 0),
            tuple(sorted(a for a, target in aliases.items() if target == collection)),
        )

    def collections(self) -> list[CollectionInfo]:
        names = [c.name for c in self._call("listing collections", self.client.get_collections).collections]
        return [info for name in sorted(names) if (info := self._info(name)) is not None]

    def create(self, name: str, dimension: int, identity: dict[str, str] | None) -> None:
        settings = self.settings
        self._call(
            "creating the collection",
            self.client.create_collection,
            name,
            vectors_config={DENSE_VECTOR: models.VectorParams(size=dimension, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            hnsw_config=models.HnswConfigDiff(m=settings.hnsw_m, ef_construct=settings.hnsw_ef_construct),
            shard_number=settings.qdrant_shard_number,
            replication_factor=settings.qdrant_replication_factor,
            metadata={IDENTITY_KEY: json.dumps(identity, sort_keys=True)} if identity else None,
        )
        for field in KEYWORD_INDEXES:
            self._call("indexing", self.client.create_payload_index, name, field, models.PayloadSchemaType.KEYWORD)
        for field in INTEGER_INDEXES:
            self._call("indexing", self.client.create_payload_index, name, field, models.PayloadSchemaType.INTEGER)
        self._forget()

    def set_alias(self, alias: str, collection: str) -> None:
        if not self._call("checking the collection", self.client.collection_exists, collection):
            raise ConfigurationError(
                f"Collection {collection!r} does not exist", user_message=f"Samlingen «{collection}» finnes ikke."
            )
        actions: list[Any] = []
        if alias in self.aliases():
            actions.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)))
        actions.append(models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=collection, alias_name=alias)))
        self._call("switching the alias", self.client.update_collection_aliases, change_aliases_operations=actions)
        self._forget()

    def delete_alias(self, alias: str) -> None:
        if alias in self.aliases():
            action = models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))
            self._call("deleting the alias", self.client.update_collection_aliases, change_aliases_operations=[action])
        self._forget()

    def delete_collection(self, name: str) -> None:
        users = sorted(a for a, target in self.aliases().items() if target == name)
        if users:
            raise ConfigurationError(
                f"Aliases {users} point at {name!r}",
                user_message=f"Aliaset «{users[0]}» peker på «{name}»: flytt det først (fagprat alias).",
            )
        self._call("deleting the collection", self.client.delete_collection, name)
        self._forget()

    # --- writing -----------------------------------------------------------------------
    @contextmanager
    def writing(self, name: str, *, progress: bool = False) -> Iterator[None]:
        yield None  # the server writes through at once and indexes in the background

    def upsert(self, session: Any, name: str, points: list[ChunkPoint]) -> None:
        structs = [
            models.PointStruct(id=p.id, vector={DENSE_VECTOR: list(p.dense), SPARSE_VECTOR: _sparse(p.sparse)}, payload=p.payload)
            for p in points
        ]
        self._call("upsert", self.client.upsert, name, points=structs, wait=True)

    def delete(self, session: Any, name: str, where: Where) -> None:
        selector = models.FilterSelector(filter=_filter(where))  # type: ignore[arg-type]
        self._call("delete", self.client.delete, name, points_selector=selector, wait=True)

    # --- reading -----------------------------------------------------------------------
    def count(self, session: Any, name: str, where: Where | None) -> int:
        if self.info(name) is None:
            return 0
        return int(self._call("count", self.client.count, name, count_filter=_filter(where), exact=True).count)

    def scroll(self, session: Any, name: str, where: Where | None, fields: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        if self.info(name) is None:
            return
        offset = None
        while True:
            batch, offset = self._call(
                "scroll",
                self.client.scroll,
                name,
                scroll_filter=_filter(where),
                limit=512,
                offset=offset,
                with_payload=list(fields),
                with_vectors=False,
            )
            for point in batch:
                yield str(point.id), dict(point.payload or {})
            if offset is None:
                return

    def facet(self, session: Any, name: str, key: str, where: Where | None) -> dict[str, int]:
        if self.info(name) is None:
            return {}
        response = self._call("facet", self.client.facet, name, key, facet_filter=_filter(where), limit=100_000, exact=True)
        return {str(hit.value): int(hit.count) for hit in response.hits}

    def terms_present(self, name: str, indices: Sequence[int], where: Where) -> set[int]:
        if not indices or self.info(name) is None:
            return set()
        qfilter = _filter(where)
        requests = [
            models.QueryRequest(
                query=models.SparseVector(indices=[index], values=[1.0]), using=SPARSE_VECTOR, filter=qfilter, limit=1
            )
            for index in indices
        ]
        responses = self._call("query", self.client.query_batch_points, name, requests=requests)
        return {index for index, response in zip(indices, responses, strict=True) if response.points}

    def hybrid(
        self,
        name: str,
        dense: Sequence[float],
        sparse: SparseVector,
        where: Where,
        *,
        dense_candidates: int,
        sparse_candidates: int,
        fuse: Callable[[list[tuple[str, float]], list[tuple[str, float]]], list[tuple[str, float]]],
    ) -> list[FusedRow]:
        qfilter = _filter(where)
        requests = [
            models.QueryRequest(
                query=list(dense),
                using=DENSE_VECTOR,
                filter=qfilter,
                limit=dense_candidates,
                params=models.SearchParams(hnsw_ef=self.settings.hnsw_ef),
            )
        ]
        if sparse.indices:
            requests.append(models.QueryRequest(query=_sparse(sparse), using=SPARSE_VECTOR, filter=qfilter, limit=sparse_candidates))
        if self.info(name) is None:
            return []
        responses = self._call("query", self.client.query_batch_points, name, requests=requests)
        dense_hits = [(str(p.id), float(p.score)) for p in responses[0].points]
        sparse_hits = [(str(p.id), float(p.score)) for p in responses[1].points] if sparse.indices else []
        fused = fuse(dense_hits, sparse_hits)
        records = self._call(
            "retrieve", self.client.retrieve, name, ids=[i for i, _ in fused], with_payload=True, with_vectors=[DENSE_VECTOR]
        )
        sparse_scores = dict(sparse_hits)
        found = {str(r.id): r for r in records}
        rows: list[FusedRow] = []
        for point_id, score in fused:
            record = found.get(point_id)
            if record is not None:
                vector = record.vector.get(DENSE_VECTOR) if isinstance(record.vector, dict) else None
                rows.append((point_id, score, sparse_scores.get(point_id, 0.0), dict(record.payload or {}), vector))  # type: ignore[arg-type]
        return rows

    def dense(self, name: str, vector: Sequence[float], where: Where | None, limit: int, *, exact: bool) -> list[tuple[str, float]]:
        response = self._call(
            "query",
            self.client.query_points,
            name,
            query=list(vector),
            using=DENSE_VECTOR,
            query_filter=_filter(where),
            limit=limit,
            search_params=models.SearchParams(hnsw_ef=self.settings.hnsw_ef, exact=exact),
        )
        return [(str(p.id), float(p.score)) for p in response.points]

    def close(self) -> None:
        self.client.close()
