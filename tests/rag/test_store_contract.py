"""The store's contract, held against every engine through the same `Store`:

- ``edge``: Qdrant Edge in-process, the embedded default (always);
- ``qdrant-client``: the server engine's code on qdrant-client's own local
  mode, so that `rag/store/server.py` runs in every test run too (always);
- ``server``: a real Qdrant server, when FAGPRAT_TEST_QDRANT_URL is set (e.g.
  http://127.0.0.1:6333, plus FAGPRAT_TEST_QDRANT_API_KEY if it needs one).

Engine-specific behaviour (generations, readers in other processes, crashes)
is in test_store_edge.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from qdrant_client import QdrantClient

from rag.errors import ConfigurationError, EmbedderMismatchError
from rag.sparse import BM25Encoder
from rag.store import ChunkPoint, SearchFilter, Store
from rag.store.edge import EdgeEngine
from rag.store.server import ServerEngine
from tests.conftest import REPO, make_settings

DIM = 8
IDENTITY = {"model": "test-embedder", "version": "1", "query_prefix": "", "passage_prefix": "", "dimension": str(DIM)}
OTHER = {**IDENTITY, "model": "another-embedder"}


def server_url() -> str | None:
    url = os.environ.get("FAGPRAT_TEST_QDRANT_URL", "")
    if not url:
        return None
    try:
        httpx.get(f"{url}/readyz", timeout=3).raise_for_status()
    except httpx.HTTPError:
        return None
    return url


def open_engine(kind: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """(settings, engine) of one kind, its own data folder; skips `server` without a server."""
    if kind == "server":
        url = server_url()
        if url is None:
            pytest.skip("no Qdrant server reachable: set FAGPRAT_TEST_QDRANT_URL to run the contract against one")
        settings = make_settings(tmp_path, qdrant_url=url, qdrant_api_key=os.environ.get("FAGPRAT_TEST_QDRANT_API_KEY"))
        return settings, ServerEngine.connect(settings)
    settings = make_settings(tmp_path)
    if kind == "qdrant-client":
        return settings, ServerEngine(QdrantClient(path=str(tmp_path / "local-mode")), settings)
    return settings, EdgeEngine(settings)


@pytest.fixture(params=["edge", "qdrant-client", "server"])
def engine(request, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings, engine = open_engine(request.param, tmp_path)
    created: list[str] = []
    engine.test_settings = settings  # type: ignore[attr-defined]
    engine.test_created = created  # type: ignore[attr-defined]
    yield engine
    if request.param == "server":
        for alias, target in engine.aliases().items():
            if target in created:
                engine.delete_alias(alias)
        for name in created:
            engine.delete_collection(name)
    engine.close()


def new_store(engine, identity=IDENTITY, name: str | None = None) -> Store:  # type: ignore[no-untyped-def]
    name = name or f"contract_{uuid.uuid4().hex[:8]}"
    store = Store(engine.test_settings, collection=name, engine=engine, identity=identity)
    store.ensure_collection(DIM)
    engine.test_created.append(name)
    return store


@pytest.fixture
def store(engine) -> Store:  # type: ignore[no-untyped-def]
    return new_store(engine)


def point(doc_id: str, index: int, text: str, dense: list[float], *, version: str = "v1", groups=("nasjonal",), **payload) -> ChunkPoint:  # type: ignore[no-untyped-def]
    return ChunkPoint(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{doc_id}#{index}#{version}")),
        dense=dense,
        sparse=BM25Encoder(make_settings(Path("/tmp"))).encode_document(text),
        payload={
            "doc_id": doc_id,
            "doc_hash": version,
            "chunk_index": index,
            "chunk_count": payload.pop("chunk_count", 2),
            "text": text,
            "title": doc_id,
            "access_groups": list(groups),
            "doc_type": payload.pop("doc_type", "prosedyre"),
            "publisher": payload.pop("publisher", "Testsykehus"),
            **payload,
        },
    )


def unit(i: int) -> list[float]:
    return [1.0 if j == i else 0.0 for j in range(DIM)]


def mix(weights: dict[int, float]) -> list[float]:
    vector = [weights.get(j, 0.0) for j in range(DIM)]
    norm = sum(v * v for v in vector) ** 0.5
    return [v / norm for v in vector]


SEARCH = dict(limit=10, dense_candidates=10, sparse_candidates=10, dense_weight=1.0, sparse_weight=1.0, rrf_k=60)


def search(store: Store, dense: list[float], query: str, flt: SearchFilter, **overrides):  # type: ignore[no-untyped-def]
    return store.hybrid_search(dense, BM25Encoder(store.settings).encode_query(query), flt, **{**SEARCH, **overrides})


# --- the collection and the embedder that built it ------------------------------------------
def test_a_collection_records_its_embedder_and_refuses_another(engine):
    store = new_store(engine)
    store.ensure_collection(DIM)  # idempotent
    assert store.info().identity == IDENTITY and store.info().dimension == DIM
    with pytest.raises(ConfigurationError):
        store.ensure_collection(DIM + 1)
    store.upsert([point("file:a.md", 0, "adrenalin", unit(0))])

    other = Store(store.settings, collection=store.collection, engine=engine, identity=OTHER)
    for attempt in (
        lambda: other.ensure_collection(DIM),
        lambda: search(other, unit(0), "adrenalin", SearchFilter(["nasjonal"])),
        lambda: other.upsert([point("file:b.md", 0, "tekst", unit(1))]),
        lambda: other.documents(),
    ):
        with pytest.raises(EmbedderMismatchError) as error:
            attempt()
        assert "another-embedder" in str(error.value) and "fagprat ingest" in error.value.user_message
    assert store.count() == 1, "the refused write wrote nothing"


def test_a_collection_without_a_recorded_embedder_is_refused(engine):
    unknown = new_store(engine, identity=None)  # as an index from before identities were recorded
    unknown.upsert([point("file:a.md", 0, "adrenalin", unit(0))])
    store = Store(unknown.settings, collection=unknown.collection, engine=engine, identity=IDENTITY)
    with pytest.raises(EmbedderMismatchError):
        search(store, unit(0), "adrenalin", SearchFilter(["nasjonal"]))


# --- hybrid search -------------------------------------------------------------------------
def test_fusion_is_qdrants_weighted_rrf_with_raw_scores(store):
    # Dense ranks A, B, C; BM25 ranks C, B, A.
    store.upsert(
        [
            point("file:a.md", 0, "anafylaksi", unit(0)),
            point("file:b.md", 0, "anafylaksi adrenalin", mix({0: 0.8, 1: 0.6})),
            point("file:c.md", 0, "anafylaksi adrenalin adrenalin dose", mix({0: 0.6, 1: 0.8})),
        ]
    )
    k = 10

    def rrf(position: int, weight: float) -> float:
        # Qdrant's weighted RRF (server, Edge and qdrant-client alike): 1 / ((rank + 1) / weight + k - 1).
        return 0.0 if weight <= 0 else 1 / ((position + 1) / weight + k - 1)

    for dense_weight, sparse_weight in ((1.0, 0.0), (0.0, 1.0), (1.0, 1.0), (3.0, 1.0), (1.0, 0.3)):
        hits = search(
            store, unit(0), "adrenalin dose", SearchFilter(["nasjonal"]), dense_weight=dense_weight, sparse_weight=sparse_weight, rrf_k=k
        )
        expected = {
            "file:a.md": rrf(0, dense_weight),
            "file:b.md": rrf(1, dense_weight) + rrf(1, sparse_weight),
            "file:c.md": rrf(2, dense_weight) + rrf(0, sparse_weight),
        }
        assert {h.payload["doc_id"]: h.fused_score for h in hits if h.fused_score} == pytest.approx(
            {d: s for d, s in expected.items() if s}, rel=1e-5
        ), (dense_weight, sparse_weight)
        scores = [h.fused_score for h in hits]
        assert scores == sorted(scores, reverse=True)
    dense_only = search(store, unit(0), "adrenalin dose", SearchFilter(["nasjonal"]), sparse_weight=0.0)
    assert [h.payload["doc_id"] for h in dense_only] == ["file:a.md", "file:b.md", "file:c.md"]
    assert [round(h.dense_score, 4) for h in dense_only] == [1.0, 0.8, 0.6]
    bm25_only = search(store, unit(0), "adrenalin dose", SearchFilter(["nasjonal"]), dense_weight=0.0)
    assert [h.payload["doc_id"] for h in bm25_only][:2] == ["file:c.md", "file:b.md"]
    assert bm25_only[0].sparse_score > bm25_only[1].sparse_score > 0 and bm25_only[2].sparse_score == 0


def test_equal_scores_come_back_in_id_order(store):
    # Six copies of one chunk in six documents: equal dense and BM25 scores. An engine returns
    # such candidates in an order of its own (Edge: another one in each process); the store
    # ranks them by id before fusing, so the hits are the same everywhere.
    copies = [point(f"file:kopi-{i}.md", 0, "håndhygiene hånddesinfeksjon", unit(2)) for i in range(6)]
    store.upsert(copies)
    hits = search(store, unit(2), "håndhygiene", SearchFilter(["nasjonal"]), limit=4)
    assert len({(h.dense_score, h.sparse_score) for h in hits}) == 1
    assert [h.id for h in hits] == sorted(p.id for p in copies)[:4]


def test_equal_fused_scores_come_back_in_id_order(store):
    # A is first by dense and second by BM25, B the other way round: equal RRF scores.
    a = point("file:a.md", 0, "sepsis", mix({4: 1.0}))
    b = point("file:b.md", 0, "sepsis sepsis antibiotika", mix({4: 0.6, 5: 0.8}))
    store.upsert([a, b])
    hits = search(store, unit(4), "sepsis antibiotika", SearchFilter(["nasjonal"]))
    assert hits[0].fused_score == hits[1].fused_score
    assert [h.id for h in hits] == sorted([a.id, b.id])


# --- filters ---------------------------------------------------------------------------------
def test_access_groups_filter_and_no_groups_match_nothing(store):
    store.upsert(
        [
            point("file:nasjonal.md", 0, "adrenalin anafylaksi dose", unit(0)),
            point("file:nasjonal.md", 1, "håndhygiene hånddesinfeksjon", unit(1)),
            point("file:lokal.md", 0, "adrenalin anafylaksi lokal prosedyre", unit(0), groups=("fjordbyen",)),
        ]
    )
    national = search(store, unit(0), "adrenalin anafylaksi", SearchFilter(["nasjonal"]))
    assert national[0].payload["doc_id"] == "file:nasjonal.md"
    assert {h.payload["doc_id"] for h in national} == {"file:nasjonal.md"}
    assert national[0].dense_score == pytest.approx(1.0) and national[0].sparse_score > 0
    both = search(store, unit(0), "adrenalin anafylaksi", SearchFilter(["nasjonal", "fjordbyen"]))
    assert {h.payload["doc_id"] for h in both} == {"file:nasjonal.md", "file:lokal.md"}
    nobody = SearchFilter([])
    assert search(store, unit(0), "adrenalin", nobody) == []
    assert search(store, unit(0), "adrenalin", SearchFilter([""])) == []
    assert store.count(nobody) == 0 and store.documents([]) == [] and store.facets("doc_type", []) == {}
    assert store.dense_search(unit(0), nobody) == []
    assert [d["doc_id"] for d in store.documents(["fjordbyen"])] == ["file:lokal.md"]


def test_which_terms_occur_is_answered_within_the_readers_groups(store):
    """The unknown-term gate asks which BM25 terms occur in some chunk a user may read."""
    from rag.sparse import term_index
    from rag.text import stem

    store.upsert(
        [
            point("file:nasjonal.md", 0, "Vankomycin doseres etter serumkonsentrasjon", unit(0)),
            point("file:lokal.md", 0, "Epiduralkateteret inspiseres hver vakt", unit(1), groups=("fjordbyen",)),
        ]
    )
    vancomycin, epidural, absent = (term_index(stem(w)) for w in ("vankomycin", "epiduralkateteret", "hyperkalemi"))
    asked = [vancomycin, epidural, absent]
    assert store.terms_present(asked, SearchFilter(["nasjonal"])) == {vancomycin}
    assert store.terms_present(asked, SearchFilter(["nasjonal", "fjordbyen"])) == {vancomycin, epidural}
    assert store.terms_present(asked, SearchFilter([])) == set()
    assert store.terms_present([], SearchFilter(["nasjonal"])) == set()


def test_document_type_and_publisher_filters(store):
    store.upsert(
        [
            point("file:veileder.md", 0, "sepsis antibiotika", unit(3), doc_type="veileder", publisher="Helsedirektoratet"),
            point("file:prosedyre.md", 0, "sepsis antibiotika", unit(3), doc_type="prosedyre", publisher="Fjordbyen sykehus"),
            point("file:annen.md", 0, "sepsis antibiotika", unit(3), doc_type="veileder", publisher="Fjordbyen sykehus"),
        ]
    )

    def found(flt: SearchFilter) -> set[str]:
        return {h.payload["doc_id"] for h in search(store, unit(3), "sepsis", flt)}

    assert found(SearchFilter(["nasjonal"], doc_types=["veileder"])) == {"file:veileder.md", "file:annen.md"}
    assert found(SearchFilter(["nasjonal"], publishers=["Fjordbyen sykehus"])) == {"file:prosedyre.md", "file:annen.md"}
    assert found(SearchFilter(["nasjonal"], doc_types=["veileder"], publishers=["Fjordbyen sykehus"])) == {"file:annen.md"}
    assert found(SearchFilter(["nasjonal"], doc_types=["rundskriv"])) == set()


# --- the ingest's bookkeeping ----------------------------------------------------------------
def test_document_versions_stale_chunks_and_deleting_a_document(store):
    store.upsert([point("file:a.md", i, f"gammel tekst {i}", unit(i)) for i in range(2)])
    store.upsert([point("file:b.md", 0, "annen tekst", unit(5), chunk_count=1)])
    assert store.document_hashes("file:a.md") == ({"v1"}, 2, 2)
    assert store.document_hashes("file:ukjent.md") == (set(), 0, None)
    with store.writing():
        # A new version is written before the old is removed: no gap for readers.
        store.upsert([point("file:a.md", i, f"ny tekst {i}", unit(i), version="v2", chunk_count=3) for i in range(3)])
        assert store.document_hashes("file:a.md") == ({"v1", "v2"}, 5, 3), "a writer sees its own writes"
        store.delete_stale("file:a.md", keep_hash="v2")
        assert store.document_hashes("file:a.md") == ({"v2"}, 3, 3)
    assert store.document_hashes("file:a.md") == ({"v2"}, 3, 3)
    assert [d["doc_id"] for d in store.documents()] == ["file:a.md", "file:b.md"]
    assert sorted(p["text"] for _, p in store.points(["text"], doc_id="file:a.md")) == [f"ny tekst {i}" for i in range(3)]
    # What an ingest's prune does for a document whose file is gone:
    store.delete_document("file:a.md")
    assert [d["doc_id"] for d in store.documents()] == ["file:b.md"]
    assert store.count() == 1
    store.delete_document("file:finnes-ikke.md")  # nothing to delete is no error
    assert store.count() == 1


def test_counts_and_facets(store):
    store.upsert(
        [
            point("file:a.md", 0, "tekst", unit(0), doc_type="veileder", publisher="Helsedirektoratet"),
            point("file:a.md", 1, "tekst", unit(1), doc_type="veileder", publisher="Helsedirektoratet"),
            point("file:b.md", 0, "tekst", unit(2), doc_type="prosedyre", publisher="Fjordbyen sykehus", groups=("fjordbyen",)),
            point("file:c.md", 0, "tekst", unit(3), doc_type="prosedyre", publisher="Nordlia sjukehus", groups=("nordlia",)),
        ]
    )
    assert store.count() == 4
    assert store.count(SearchFilter(["nasjonal"])) == 2
    assert store.count(SearchFilter(["nasjonal", "fjordbyen"], doc_types=["prosedyre"])) == 1
    assert store.facets("doc_type") == {"veileder": 2, "prosedyre": 2}
    assert store.facets("publisher", ["nasjonal", "fjordbyen"]) == {"Helsedirektoratet": 2, "Fjordbyen sykehus": 1}
    assert store.facet_values("doc_type", ["fjordbyen"]) == ["prosedyre"]
    assert store.info().points == 4 or store.kind == "server"  # the server counts in the background


def test_a_missing_collection_reads_as_empty(engine):
    store = Store(engine.test_settings, collection=f"missing_{uuid.uuid4().hex[:8]}", engine=engine, identity=IDENTITY)
    assert not store.exists()
    assert store.count() == 0 and store.documents() == [] and store.facets("doc_type") == {}
    assert search(store, unit(0), "adrenalin", SearchFilter(["nasjonal"])) == []


# --- aliases ---------------------------------------------------------------------------------
def test_an_alias_switches_what_readers_see(engine):
    first, second = new_store(engine), new_store(engine)
    first.upsert([point("file:gammel.md", 0, "tekst", unit(0))])
    second.upsert([point("file:ny.md", 0, "tekst", unit(0))])
    alias = f"{first.collection}_alias"
    reader = Store(first.settings, collection=alias, engine=engine, identity=IDENTITY)
    assert not reader.exists()
    first.set_alias(alias, first.collection)
    assert [d["doc_id"] for d in reader.documents()] == ["file:gammel.md"]
    assert reader.info().name == first.collection and alias in reader.info().aliases
    first.set_alias(alias, second.collection)
    assert [d["doc_id"] for d in reader.documents()] == ["file:ny.md"]
    assert engine.aliases()[alias] == second.collection
    with pytest.raises(ConfigurationError):
        first.set_alias(alias, f"missing_{uuid.uuid4().hex[:8]}")
    with pytest.raises(ConfigurationError):
        engine.delete_collection(second.collection)  # the alias still points at it
    engine.delete_alias(alias)
    assert alias not in engine.aliases() and not reader.exists()


# --- a writer killed midway -------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["edge", "server"])
def test_a_writer_killed_midway_leaves_a_store_the_next_writer_completes(kind, tmp_path: Path):
    """SIGKILL a writing process; reopen: the store answers, and a second run ends as a clean one."""
    settings, engine = open_engine(kind, tmp_path)
    engine.test_settings, engine.test_created = settings, []  # type: ignore[attr-defined]
    store = new_store(engine, identity=None)
    store.upsert([point("file:a.md", 0, "tekst", unit(0))])
    url = [settings.qdrant_url] if kind == "server" else []
    command = [sys.executable, "-m", "tests.rag.store_process", str(settings.data_dir), store.collection, "writer", "40", "20", *url]
    writer = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    done = -1
    while done < 5:
        line = writer.stdout.readline()
        assert line, writer.stderr.read() if writer.stderr else ""
        done = int(line) if line.strip().isdigit() else done
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    try:
        reopened = Store(settings, collection=store.collection, engine=open_engine(kind, tmp_path)[1])
        assert [d["doc_id"] for d in reopened.documents()][:1] == ["file:a.md"]  # it still answers
        building = settings.store_path / "collections" / store.collection / "building"
        if kind == "edge":
            assert reopened.count() == 1, "readers see only what was published, nothing half-written"
            assert building.exists(), "the killed writer's work is left for the next one to resume"
        finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr[-2000:]
        assert reopened.count() == 1 + 40 * 20
        assert sorted(reopened.facets("doc_id").values()) == [1] + [20] * 40
        assert not building.exists()
    finally:
        if kind == "server":
            engine.delete_collection(store.collection)
        engine.close()
