"""The store: chunks with a dense and a BM25 vector each, in Qdrant.

Two engines behind one interface (`engine.py`), chosen by `qdrant_url`:

- empty (the default): Qdrant Edge in-process (`edge.py`), under
  `<data_dir>/store/`, shared by the chat, the Teams bot and an ingest running
  at the same time (copy-on-write generations, see `edge.py`);
- a URL: a Qdrant server or cluster through qdrant-client (`server.py`).

The rest of fagprat uses `Store` (one collection or alias) and the small types
in `types.py`, never an engine's own types.
"""

from .store import Store, close_clients, get_engine
from .types import (
    DENSE_VECTOR,
    DOCUMENT_FIELDS,
    INTEGER_INDEXES,
    KEYWORD_INDEXES,
    SPARSE_VECTOR,
    ChunkPoint,
    CollectionInfo,
    Hit,
    SearchFilter,
    SparseVector,
    Where,
)

__all__ = [
    "DENSE_VECTOR",
    "DOCUMENT_FIELDS",
    "INTEGER_INDEXES",
    "KEYWORD_INDEXES",
    "SPARSE_VECTOR",
    "ChunkPoint",
    "CollectionInfo",
    "Hit",
    "SearchFilter",
    "SparseVector",
    "Store",
    "Where",
    "close_clients",
    "get_engine",
]
