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
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ingest.chunker import Chunker
from ingest.loaders import LoaderError, discover_files, load_file
from ingest.metadata import document_id, library_root_of, metadata_files
from rag.embeddings import Embedder, get_embedder
from rag.errors import FagpratError
from rag.models import Chunk, Document
from rag.settings import Settings
from rag.sparse import BM25Encoder
from rag.store import ChunkPoint, Store

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
        # The store refuses a collection that another embedder built.
        self.store = Store(settings, collection=collection, identity=self.embedder.identity)
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
                # model, version, prefixes, dimension: another embedder's vectors must be replaced
                json.dumps(self.embedder.identity, sort_keys=True),
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
        try:
            root = root.resolve()
        except RuntimeError as exc:  # a link loop (Python 3.11 raises this, not OSError)
            raise FagpratError(f"{root}: {exc}", user_message=f"Kan ikke lese {root}: lenkeløkke.") from exc
        if not root.exists():
            raise FagpratError(f"{root} does not exist", user_message=f"Fant ikke {root}.")
        found = discover_files(root, follow_symlinks_outside=self.settings.ingest_follow_symlinks_outside)
        files = [root] if root.is_file() else found.files
        passed_over = [] if root.is_file() else [Skipped(str(path), reason) for path, reason in found.skipped]
        report = IngestReport(
            root=str(root), collection=self.store.collection, files=len(files) + len(passed_over), skipped=passed_over
        )
        for skipped in passed_over:
            log.warning("Skipped %s: %s", skipped.path, skipped.reason)
        self.store.ensure_collection(self.embedder.dimension)

        # One write session: readers see the whole run at once, when it ends (see rag/store).
        with self.store.writing(progress=progress):
            for path in tqdm(files, desc="Indekserer", unit="fil", disable=not progress):
                try:
                    self._ingest_file(path, report)
                except LoaderError as exc:
                    report.skipped.append(Skipped(str(path), exc.reason))
                    log.warning("Skipped %s: %s", path, exc.reason)
                except FagpratError:
                    raise  # the store or the embedder: no later file would fare better
                except Exception as exc:  # anything else is this file's problem: skip it, go on
                    reason = f"unexpected error: {type(exc).__name__}: {_first_line(exc)}"
                    report.skipped.append(Skipped(str(path), reason))
                    log.warning("Skipped %s: %s", path, reason, exc_info=True)
            if prune and root.is_dir():
                report.pruned = self.prune(root, {self.doc_id(p) for p in files})
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

    def library_root(self, path: Path) -> Path:
        """What `path`'s id is relative to: never the folder ingest was started in."""
        return library_root_of(path, self.settings.library_root)

    def doc_id(self, path: Path) -> str:
        return document_id(path, self.library_root(path))

    # --- one file ---------------------------------------------------------------
    def _ingest_file(self, path: Path, report: IngestReport) -> None:
        library_root = self.library_root(path)
        doc_id = document_id(path, library_root)
        doc_hash = self._fingerprint(path, library_root)
        hashes, points, claimed = self.store.document_hashes(doc_id)
        if hashes == {doc_hash} and points == claimed:
            report.unchanged += 1
            return
        document = load_file(path, library_root)
        written, embed_seconds = self.index_document(document, doc_hash)
        report.embed_seconds += embed_seconds
        report.indexed += 1
        report.chunks_written += written
        report.pages += document.meta.page_count or 0

    def index_document(self, document: Document, doc_hash: str) -> tuple[int, float]:
        """Chunk, embed and write one document version; returns (chunks written, seconds embedding).

        Refused (`LoaderError`) before anything is embedded: a document with no access
        group (never made national by default), or one over the page or chunk cap."""
        if not document.meta.access_groups:
            raise LoaderError(
                "no access group: set access_groups in a _mappe.yaml above it, its sidecar or its front matter"
            )
        pages, max_pages = document.meta.page_count or 0, self.settings.ingest_max_pages_per_file
        if pages > max_pages:
            raise LoaderError(f"{pages} pages, over the cap of {max_pages} per file (FAGPRAT_INGEST_MAX_PAGES_PER_FILE)")
        chunks = self.chunker.chunk(document)
        if not chunks:
            raise LoaderError("no text to index")
        max_chunks = self.settings.ingest_max_chunks_per_file
        if len(chunks) > max_chunks:
            raise LoaderError(
                f"{len(chunks)} chunks, over the cap of {max_chunks} per file (FAGPRAT_INGEST_MAX_CHUNKS_PER_FILE)"
            )
        embed_started = time.perf_counter()
        texts = [self.chunker.indexed_text(c, document.meta.title) for c in chunks]
        dense = self.embedder.embed_passages(texts)
        embed_seconds = time.perf_counter() - embed_started
        points = [
            ChunkPoint(
                id=chunk.chunk_id,
                dense=vector.tolist(),
                sparse=self.sparse.encode_document(text),
                payload=self._payload(document, chunk, doc_hash, len(chunks)),
            )
            for chunk, text, vector in zip(chunks, texts, dense, strict=True)
        ]
        # Write the new version before removing the old: readers never see a gap.
        self.store.upsert(points)
        self.store.delete_stale(document.meta.doc_id, keep_hash=doc_hash)
        return len(points), embed_seconds

    def _fingerprint(self, path: Path, library_root: Path) -> str:
        digest = hashlib.sha256(self.config_fingerprint.encode())
        try:
            digest.update(str(path.resolve()).encode())
        except RuntimeError as exc:  # a link loop (Python 3.11 raises this, not OSError)
            raise LoaderError("symlink loop: not followed") from exc
        # A sidecar or folder-default edit (e.g. access groups) must re-index the file.
        for source in metadata_files(path, library_root):
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
    # The recorded path, not its link target: never raises, even for a source that is now a link loop.
    return Path(os.path.abspath(path)).is_relative_to(root)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def ingest_path(
    settings: Settings, root: Path, *, prune: bool = False, collection: str | None = None, progress: bool = False
) -> IngestReport:
    """Index a folder (or one file) into the configured collection."""
    return Ingester(settings, collection=collection).ingest(root, prune=prune, progress=progress)
