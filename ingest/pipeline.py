"""Files into Qdrant: load, chunk, embed, upsert — incrementally and idempotently.

A document's version is a fingerprint of its source bytes, its metadata files
and the ingest configuration. Every chunk carries it (`doc_hash`) and the
number of chunks of that version (`chunk_count`), so a re-run can tell from
the store alone whether a document is complete and current:

- unchanged and complete: nothing is read, embedded or written;
- changed, or left half-written by a killed run: new chunks are upserted
  (deterministic ids), then every chunk of another version is deleted.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qdrant_client import models
from tqdm import tqdm

from ingest.chunker import Chunker
from ingest.loaders import LoaderError, iter_files, load_file
from ingest.metadata import metadata_files
from rag.embeddings import Embedder, get_embedder
from rag.errors import FagpratError
from rag.models import Chunk, Document
from rag.settings import Settings
from rag.sparse import BM25Encoder
from rag.store import DENSE_VECTOR, SPARSE_VECTOR, Store

log = logging.getLogger(__name__)

# Bump when chunking or payload layout changes in a way that needs re-indexing.
PIPELINE_VERSION = "1"


@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class IngestReport:
    root: str
    collection: str
    files: int = 0
    indexed: int = 0
    unchanged: int = 0
    chunks_written: int = 0
    pages: int = 0
    pruned: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def nothing_done(self) -> bool:
        """True when there was work and none of it succeeded."""
        return self.files > 0 and self.indexed == 0 and self.unchanged == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "collection": self.collection,
            "files": self.files,
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "chunks_written": self.chunks_written,
            "pages": self.pages,
            "pruned": self.pruned,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
        }


class Ingester:
    def __init__(self, settings: Settings, *, collection: str | None = None, embedder: Embedder | None = None):
        self.settings = settings
        self.embedder = embedder or get_embedder(settings)
        self.store = Store(settings, collection=collection)
        self.sparse = BM25Encoder(settings)
        self.chunker = Chunker(
            self.embedder.count_tokens,
            max_tokens=min(settings.chunk_size_tokens, self.embedder.passage_budget),
            overlap_tokens=settings.chunk_overlap_tokens,
            with_header=settings.index_heading_context,
        )
        self.config_fingerprint = "|".join(
            [
                PIPELINE_VERSION,
                self.embedder.name,
                settings.embedding_passage_prefix,
                str(self.chunker.max_tokens),
                str(settings.chunk_overlap_tokens),
                str(settings.index_heading_context),
                settings.bm25_language,
                f"{settings.bm25_k1}/{settings.bm25_b}/{settings.bm25_avg_doc_tokens}",
            ]
        )

    # --- public ---------------------------------------------------------------
    def ingest(self, root: Path, *, prune: bool = False, progress: bool = True) -> IngestReport:
        started = time.perf_counter()
        root = root.resolve()
        if not root.exists():
            raise FagpratError(f"{root} does not exist", user_message=f"Fant ikke {root}.")
        files = [root] if root.is_file() else list(iter_files(root))
        base = root.parent if root.is_file() else root
        report = IngestReport(root=str(root), collection=self.store.collection, files=len(files))
        self.store.ensure_collection(self.embedder.dimension)

        for path in tqdm(files, desc="Indekserer", unit="fil", disable=not progress):
            try:
                self._ingest_file(path, base, report)
            except LoaderError as exc:
                report.skipped.append(Skipped(str(path), exc.reason))
                log.warning("Skipped %s: %s", path, exc.reason)
        if prune and root.is_dir():
            report.pruned = self.prune(root, {self.doc_id(p, base) for p in files})
        report.seconds = time.perf_counter() - started
        return report

    def prune(self, root: Path, present_doc_ids: set[str]) -> list[str]:
        """Delete documents from under `root` whose files are gone."""
        removed = []
        for doc in self.store.documents():
            source = doc.get("source_path", "")
            if source and _is_under(Path(source), root) and doc["doc_id"] not in present_doc_ids:
                self.store.delete_document(doc["doc_id"])
                removed.append(doc["doc_id"])
        return removed

    @staticmethod
    def doc_id(path: Path, base: Path) -> str:
        return "file:" + path.relative_to(base).as_posix()

    # --- one file ---------------------------------------------------------------
    def _ingest_file(self, path: Path, base: Path, report: IngestReport) -> None:
        doc_id = self.doc_id(path, base)
        doc_hash = self._fingerprint(path, base)
        hashes, points, claimed = self.store.document_hashes(doc_id)
        if hashes == {doc_hash} and points == claimed:
            report.unchanged += 1
            return
        document = load_file(path, base)
        written, embed_seconds = self.index_document(document, doc_hash)
        report.embed_seconds += embed_seconds
        report.indexed += 1
        report.chunks_written += written
        report.pages += document.meta.page_count or 0

    def index_document(self, document: Document, doc_hash: str) -> tuple[int, float]:
        """Chunk, embed and write one document version; returns (chunks written, seconds embedding)."""
        chunks = self.chunker.chunk(document)
        if not chunks:
            raise LoaderError("no text to index")
        embed_started = time.perf_counter()
        texts = [self.chunker.indexed_text(c, document.meta.title) for c in chunks]
        dense = self.embedder.embed_passages(texts)
        embed_seconds = time.perf_counter() - embed_started
        points = [
            models.PointStruct(
                id=chunk.chunk_id,
                vector={DENSE_VECTOR: vector.tolist(), SPARSE_VECTOR: self.sparse.encode_document(text)},
                payload=self._payload(document, chunk, doc_hash, len(chunks)),
            )
            for chunk, text, vector in zip(chunks, texts, dense, strict=True)
        ]
        # Write the new version before removing the old: readers never see a gap.
        self.store.upsert(points)
        self.store.delete_stale(document.meta.doc_id, keep_hash=doc_hash)
        return len(points), embed_seconds

    def _fingerprint(self, path: Path, base: Path) -> str:
        digest = hashlib.sha256(self.config_fingerprint.encode())
        digest.update(str(path.resolve()).encode())
        # A sidecar or folder-default edit (e.g. access groups) must re-index the file.
        for source in metadata_files(path, base):
            digest.update(source.name.encode())
            digest.update(source.read_bytes())
        try:
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError as exc:
            raise LoaderError(f"cannot be read: {exc.strerror or exc}") from exc
        return digest.hexdigest()

    @staticmethod
    def _payload(document: Document, chunk: Chunk, doc_hash: str, chunk_count: int) -> dict[str, Any]:
        meta = document.meta.model_dump(mode="json")
        meta.update(
            doc_hash=doc_hash,
            chunk_count=chunk_count,
            chunk_index=chunk.chunk_index,
            text=chunk.text,
            heading_path=chunk.heading_path,
            page_start=chunk.page_start,
            page_end=chunk.page_end,
            token_count=chunk.token_count,
        )
        return meta


def _is_under(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
        return True
    except ValueError:
        return False


def ingest_path(
    settings: Settings, root: Path, *, prune: bool = False, collection: str | None = None, progress: bool = False
) -> IngestReport:
    """Index a folder (or one file) into the configured collection."""
    return Ingester(settings, collection=collection).ingest(root, prune=prune, progress=progress)
