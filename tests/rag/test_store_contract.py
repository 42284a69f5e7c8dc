"""The store's contract, run against embedded Qdrant and, where one is reachable,
a Qdrant server (set FAGPRAT_TEST_QDRANT_URL, e.g. http://127.0.0.1:6333, and
FAGPRAT_TEST_QDRANT_API_KEY if it needs one). Both go through the same code."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest
from qdrant_client import models

from rag.sparse import BM25Encoder
from rag.store import DENSE_VECTOR, SPARSE_VECTOR, SearchFilter, Store
from tests.conftest import make_settings

DIM = 8


def _server_url() -> str | None:
    url = os.environ.get("FAGPRAT_TEST_QDRANT_URL", "")
    if not url:
        return None
    try:
        httpx.get(f"{url}/readyz", timeout=3).raise_for_status()
    except httpx.HTTPError:
        return None
    return url


@pytest.fixture(params=["embedded", "server"])
def store(request, tmp_path: Path):  # type: ignore[no-untyped-def]
    collection = f"contract_{uuid.uuid4().hex[:8]}"
    if request.param == "server":
        url = _server_url()
        if url is None:
            pytest.skip("no Qdrant server reachable: set FAGPRAT_TEST_QDRANT_URL to run the contract against one")
        settings = make_settings(tmp_path, qdrant_url=url, qdrant_api_key=os.environ.get("FAGPRAT_TEST_QDRANT_API_KEY"))
    else:
        settings = make_settings(tmp_path)
    store = Store(settings, collection=collection)
    store.ensure_collection(DIM)
    yield store
    store.client.delete_collection(collection)


def _point(doc_id: str, index: int, doc_hash: str, text: str, groups: list[str], vector: list[float]) -> models.PointStruct:
    sparse = BM25Encoder(make_settings(Path("/tmp"))).encode_document(text)
    return models.PointStruct(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{doc_id}#{index}#{doc_hash}")),
        vector={DENSE_VECTOR: vector, SPARSE_VECTOR: sparse},
        payload={
            "doc_id": doc_id,
            "doc_hash": doc_hash,
            "chunk_index": index,
            "chunk_count": 2,
            "text": text,
            "title": doc_id,
            "access_groups": groups,
            "doc_type": "prosedyre",
            "publisher": "Testsykehus",
        },
    )


def _unit(i: int) -> list[float]:
    return [1.0 if j == i else 0.0 for j in range(DIM)]


def test_ensure_collection_is_idempotent_and_checks_dimensions(store):
    store.ensure_collection(DIM)
    from rag.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        store.ensure_collection(DIM + 1)


def test_document_versions_and_stale_deletion(store):
    store.upsert([_point("file:a.md", i, "v1", f"gammel tekst {i}", ["nasjonal"], _unit(i)) for i in range(2)])
    assert store.document_hashes("file:a.md") == ({"v1"}, 2, 2)
    store.upsert([_point("file:a.md", i, "v2", f"ny tekst {i}", ["nasjonal"], _unit(i)) for i in range(2)])
    store.delete_stale("file:a.md", keep_hash="v2")
    assert store.document_hashes("file:a.md") == ({"v2"}, 2, 2)
    assert [d["doc_id"] for d in store.documents()] == ["file:a.md"]
    store.delete_document("file:a.md")
    assert store.count() == 0


def test_hybrid_search_filters_by_access_group_and_reports_raw_scores(store):
    store.upsert(
        [
            _point("file:nasjonal.md", 0, "v", "adrenalin anafylaksi dose", ["nasjonal"], _unit(0)),
            _point("file:nasjonal.md", 1, "v", "håndhygiene hånddesinfeksjon", ["nasjonal"], _unit(1)),
            _point("file:lokal.md", 0, "v", "adrenalin anafylaksi lokal prosedyre", ["fjordbyen"], _unit(0)),
        ]
    )
    query = BM25Encoder(store.settings).encode_query("adrenalin anafylaksi")
    kwargs = dict(limit=5, dense_candidates=10, sparse_candidates=10, dense_weight=1.0, sparse_weight=1.0, rrf_k=60)
    national = store.hybrid_search(_unit(0), query, SearchFilter(["nasjonal"]), **kwargs)
    assert national[0].payload["doc_id"] == "file:nasjonal.md"
    assert {h.payload["doc_id"] for h in national} == {"file:nasjonal.md"}
    assert national[0].dense_score == pytest.approx(1.0) and national[0].sparse_score > 0
    both = store.hybrid_search(_unit(0), query, SearchFilter(["nasjonal", "fjordbyen"]), **kwargs)
    assert {h.payload["doc_id"] for h in both} == {"file:nasjonal.md", "file:lokal.md"}
    assert store.hybrid_search(_unit(0), query, SearchFilter([]), **kwargs) == []
    only_types = store.hybrid_search(_unit(0), query, SearchFilter(["nasjonal"], doc_types=["veileder"]), **kwargs)
    assert only_types == []


def test_an_alias_switches_what_readers_see(store):
    store.upsert([_point("file:a.md", 0, "v", "tekst", ["nasjonal"], _unit(0))])
    alias = f"{store.collection}_alias"
    store.set_alias(alias, store.collection)
    reader = Store(store.settings, collection=alias)
    assert reader.exists() and [d["doc_id"] for d in reader.documents()] == ["file:a.md"]
    store.client.update_collection_aliases(
        change_aliases_operations=[models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))]
    )
