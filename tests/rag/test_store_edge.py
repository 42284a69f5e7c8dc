"""The embedded engine (Qdrant Edge) shared by processes: readers in other
processes, one writer, published generations, HNSW built at the end of a large
enough write, the embedder identity through the retriever, and the refusal of
an index from an earlier version. (A writer killed with SIGKILL: the contract.)"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import rag.store.edge as edge
from rag.errors import EmbedderMismatchError, LegacyStoreError, StoreLockedError
from rag.retrieval import Retriever
from rag.store import ChunkPoint, SearchFilter, SparseVector, Store
from rag.store.edge import EdgeEngine
from tests.conftest import REPO, make_settings

DIM = 8
COLLECTION = "fagprat"


def _point(doc: str, index: int, dim: int = DIM, groups: tuple[str, ...] = ("nasjonal",)) -> ChunkPoint:
    return ChunkPoint(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{doc}#{index}")),
        dense=[1.0 if j == index % dim else 0.0 for j in range(dim)],
        sparse=SparseVector([7, 100 + index], [1.0, 0.5]),
        payload={"doc_id": doc, "doc_hash": "v1", "chunk_index": index, "chunk_count": 1, "text": doc, "access_groups": list(groups)},
    )


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path / "data")


@pytest.fixture
def engine(settings) -> Iterator[EdgeEngine]:  # type: ignore[no-untyped-def]
    engine = EdgeEngine(settings)
    yield engine
    engine.close()


@pytest.fixture
def store(settings, engine) -> Store:  # type: ignore[no-untyped-def]
    store = Store(settings, collection=COLLECTION, engine=engine)
    store.ensure_collection(DIM)
    store.upsert([_point("file:a.md", 0)])
    return store


class OtherProcess:
    """tests/rag/store_process.py as a reader: one JSON command in, one JSON answer out."""

    def __init__(self, data_dir: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.rag.store_process", str(data_dir), COLLECTION, "reader"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def ask(self, **command) -> object:  # type: ignore[no-untyped-def]
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, self.process.stderr.read() if self.process.stderr else ""
        return json.loads(line)

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)


@contextmanager
def other_process(data_dir: Path) -> Iterator[OtherProcess]:
    reader = OtherProcess(data_dir)
    try:
        yield reader
    finally:
        reader.close()


def _wait_for(condition, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_other_processes_read_the_published_generation_while_one_writes(settings, store):
    with other_process(settings.data_dir) as reader:
        assert reader.ask(op="count") == 1
        with store.writing():
            store.upsert([_point("file:b.md", i) for i in range(3)])
            assert store.count() == 4, "the writer sees its own writes"
            assert reader.ask(op="count") == 1, "another process sees only what is published"
            assert Store(settings, collection=COLLECTION, engine=EdgeEngine(settings)).count() == 1
        assert reader.ask(op="count") == 4, "and the new generation as soon as it is"


def test_equal_scores_come_back_in_the_same_order_in_another_process(settings, store):
    with store.writing():
        store.upsert([_point(f"file:kopi-{i}.md", 0) for i in range(12)])
    query = dict(dense=[1.0] + [0.0] * (DIM - 1), sparse=[7], groups=["nasjonal"], limit=6)
    here = [h.id for h in store.hybrid_search(
        query["dense"], SparseVector([7], [1.0]), SearchFilter(["nasjonal"]), limit=6,
        dense_candidates=20, sparse_candidates=20, dense_weight=1.0, sparse_weight=1.0, rrf_k=60,
    )]
    with other_process(settings.data_dir) as other:
        assert other.ask(op="search", **query) == here


def test_a_published_generation_is_never_changed_by_its_readers(settings, store):
    folder = settings.store_path / "collections" / COLLECTION / store.engine.details(COLLECTION)["generation"] / "shard"

    def digest() -> dict[str, str]:
        return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}

    before = digest()
    with other_process(settings.data_dir) as other:  # two processes have it open at once
        assert other.ask(op="count") == 1 and store.count() == 1
        other.ask(op="search", dense=[1.0] * DIM, sparse=[7], groups=["nasjonal"], limit=3)
    store.engine.close()  # this process's own reader closes too
    assert digest() == before


def test_old_generations_go_once_no_process_reads_them(settings, store):
    first_generation = store.engine.details(COLLECTION)["generation"]
    folder = settings.store_path / "collections" / COLLECTION
    with other_process(settings.data_dir) as reader:
        assert reader.ask(op="generation") == first_generation
        store.upsert([_point("file:b.md", 0)])
        second_generation = store.engine.details(COLLECTION)["generation"]
        assert second_generation != first_generation
        time.sleep(0.5)
        assert (folder / first_generation).exists(), "the other process still reads it"
        assert reader.ask(op="count") == 2  # switches, and lets go of the old one
        assert _wait_for(lambda: not (folder / first_generation).exists())
    assert (folder / second_generation).exists()


def test_a_second_writer_gets_a_clear_error(settings, store):
    other = Store(settings, collection=COLLECTION, engine=EdgeEngine(settings))
    with store.writing():
        with pytest.raises(StoreLockedError) as error:
            other.upsert([_point("file:b.md", 0)])
    assert "En annen indeksering" in error.value.user_message
    other.upsert([_point("file:b.md", 0)])  # once the first is done
    assert store.count() == 2


def test_a_large_write_builds_hnsw_with_a_progress_display(settings, engine, monkeypatch, capfd):
    # Small thresholds, so that a few hundred 16-d points count as "large".
    monkeypatch.setattr(edge, "INDEXING_THRESHOLD_KB", 4)
    monkeypatch.setattr(edge, "CHILD_OPTIMIZE_MIN_CHANGES", 100)
    store = Store(settings, collection="hnsw", engine=engine)
    store.ensure_collection(16)
    points = [
        ChunkPoint(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"p{i}")),
            dense=[((i * 7919 + j * 104729) % 1000) / 1000.0 + 0.001 for j in range(16)],
            sparse=SparseVector([i % 50 + 1], [1.0]),
            payload={"doc_id": f"file:{i // 10}.md", "chunk_index": i % 10, "access_groups": ["nasjonal"]},
        )
        for i in range(600)
    ]
    before = engine.details("hnsw")["indexed_vectors"]
    with store.writing(progress=True):
        store.upsert(points)
    assert "Bygger søkeindeks (HNSW)" in capfd.readouterr().err
    details = engine.details("hnsw")
    assert details["points"] == 600
    assert details["indexed_vectors"] - before == 2 * 600, "dense vectors are in an HNSW index (sparse always were)"
    query = points[123].dense
    exact = store.dense_search(query, limit=10, exact=True)
    assert store.dense_search(query, limit=10)[0] == exact[0]


def test_the_retriever_refuses_a_collection_another_embedder_built(settings, engine):
    store = Store(settings, collection=settings.collection, engine=engine, identity={"model": "another-embedder", "dimension": "384"})
    store.ensure_collection(384)
    store.upsert([_point("file:a.md", 0, dim=384)])
    retriever = Retriever(settings, store=Store(settings, engine=engine))
    with pytest.raises(EmbedderMismatchError) as error:
        retriever.search("Hvor ofte skal PVK inspiseres?", access_groups=["nasjonal"])
    assert "another-embedder" in str(error.value)
    assert "fagprat ingest" in error.value.user_message and "\n" not in error.value.user_message


def test_an_index_from_an_earlier_version_is_refused_until_reingested(settings, engine):
    legacy = settings.qdrant_path
    (legacy / "collection" / "fagprat").mkdir(parents=True)
    (legacy / "meta.json").write_text('{"collections": {"fagprat": {}}}')
    store = Store(settings, engine=engine)
    with pytest.raises(LegacyStoreError) as error:
        store.documents()
    assert str(legacy) in error.value.user_message and "fagprat ingest" in error.value.user_message
    store.ensure_collection(DIM)  # what an ingest does first
    assert store.documents() == []
