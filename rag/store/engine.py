"""The interface both engines implement: Qdrant Edge in-process, the Qdrant server.

An engine is one Qdrant (a folder, or a server URL) holding named collections
and aliases. Collection names passed in may be aliases; the engine resolves
them. `rag.store.Store` is the view of one collection that the rest of the code
uses; it holds the logic both engines share (deterministic order, identity
checks), so an engine only translates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from .types import ChunkPoint, CollectionInfo, FusedRow, SparseVector, Where


class Engine(ABC):
    kind: str

    # --- collections and aliases -------------------------------------------
    @abstractmethod
    def info(self, name: str) -> CollectionInfo | None:
        """The collection (or alias target) `name`, or None when there is none."""

    @abstractmethod
    def create(self, name: str, dimension: int, identity: dict[str, str] | None) -> None: ...

    @abstractmethod
    def collections(self) -> list[CollectionInfo]: ...

    @abstractmethod
    def aliases(self) -> dict[str, str]:
        """alias -> collection."""

    @abstractmethod
    def set_alias(self, alias: str, collection: str) -> None: ...

    @abstractmethod
    def delete_alias(self, alias: str) -> None: ...

    @abstractmethod
    def delete_collection(self, name: str) -> None: ...

    # --- writing ---------------------------------------------------------------
    @abstractmethod
    def writing(self, name: str, *, progress: bool = False) -> AbstractContextManager[Any]:
        """A write session: the Edge engine writes a private copy and publishes it at the end."""

    @abstractmethod
    def upsert(self, session: Any, name: str, points: list[ChunkPoint]) -> None: ...

    @abstractmethod
    def delete(self, session: Any, name: str, where: Where) -> None: ...

    # --- reading (session: read the session's own writes) -------------------
    @abstractmethod
    def count(self, session: Any, name: str, where: Where | None) -> int: ...

    @abstractmethod
    def scroll(self, session: Any, name: str, where: Where | None, fields: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]: ...

    @abstractmethod
    def facet(self, session: Any, name: str, key: str, where: Where | None) -> dict[str, int]: ...

    @abstractmethod
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
        """Dense and BM25 candidates (one batch, one published generation), fused by `fuse`
        into the hits to return, each with its BM25 score, payload and dense vector."""

    @abstractmethod
    def terms_present(self, name: str, indices: Sequence[int], where: Where) -> set[int]:
        """Which sparse (BM25 term) indices occur in at least one point matching `where`
        (one batch of single-term queries)."""

    @abstractmethod
    def dense(self, name: str, vector: Sequence[float], where: Where | None, limit: int, *, exact: bool) -> list[tuple[str, float]]:
        """Dense search alone (exact = brute force), for recall checks."""

    def legacy_index(self) -> Path | None:
        """An index from an earlier fagprat this engine cannot read, if there is one."""
        return None

    @abstractmethod
    def close(self) -> None: ...
