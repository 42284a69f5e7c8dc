"""`fagprat alias`, `fagprat collections` and `fagprat snapshot` on the embedded
store: re-indexing without downtime and backups, as docs/deployment.md tells
an administrator to run them (typer's CliRunner, in this process)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.store import ChunkPoint, SparseVector, Store
from tests.conftest import make_settings
from ui.cli import app

IDENTITY = {"model": "test-embedder", "dimension": "4"}


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:  # type: ignore[type-arg]
    from rag.settings import get_settings

    for name in [n for n in os.environ if n.startswith("FAGPRAT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FAGPRAT_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield make_settings(tmp_path / "data")
    get_settings.cache_clear()


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def collection(settings, name: str, documents: int) -> Store:  # type: ignore[no-untyped-def]
    store = Store(settings, collection=name, identity=IDENTITY)
    store.ensure_collection(4)
    with store.writing():
        for doc in range(documents):
            store.upsert(
                [
                    ChunkPoint(
                        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{doc}")),
                        dense=[1.0, 0.0, 0.0, float(doc)],
                        sparse=SparseVector([doc + 1], [1.0]),
                        payload={"doc_id": f"file:{doc}.md", "chunk_index": 0, "chunk_count": 1, "access_groups": ["nasjonal"]},
                    )
                ]
            )
    return store


def test_reindexing_without_downtime_through_an_alias(settings):
    collection(settings, "fagprat-v1", 2)
    collection(settings, "fagprat-v2", 3)
    reader = Store(settings, collection="fagprat", identity=IDENTITY)  # what the chat reads

    result = run("alias", "fagprat", "fagprat-v1")
    assert result.exit_code == 0 and "fagprat-v1" in result.output
    assert reader.count() == 2
    assert run("alias", "fagprat", "fagprat-v2").exit_code == 0
    assert reader.count() == 3

    listing = json.loads(run("collections", "--json").output)
    assert [(row["collection"], row["points"], row["aliases"]) for row in listing] == [
        ("fagprat-v1", 2, []),
        ("fagprat-v2", 3, ["fagprat"]),
    ]
    assert listing[0]["embedder"] == "test-embedder"

    missing = run("alias", "fagprat", "fagprat-v9")
    assert missing.exit_code == 1 and "finnes ikke" in missing.output and "Traceback" not in missing.output
    in_use = run("collections", "delete", "fagprat-v2", "--yes")
    assert in_use.exit_code == 1 and "fagprat alias" in in_use.output
    assert run("collections", "delete", "fagprat-v1", "--yes").exit_code == 0
    assert [row["collection"] for row in json.loads(run("collections", "--json").output)] == ["fagprat-v2"]
    assert reader.count() == 3


def test_a_snapshot_restores_the_collection_while_readers_keep_reading(settings, tmp_path: Path):
    store = collection(settings, "fagprat", 3)
    made = run("snapshot", "create", "--out", str(tmp_path / "backup"), "--json")
    assert made.exit_code == 0, made.output
    snapshot = json.loads(made.output)
    path = Path(snapshot["path"])
    assert path.parent == tmp_path / "backup" and snapshot["points"] == 3 and snapshot["identity"] == IDENTITY
    assert path.stat().st_size < 5_000_000, "Edge's preallocated holes are not stored"

    store.delete_document("file:0.md")
    assert store.count() == 2
    restored = run("snapshot", "restore", str(path))
    assert restored.exit_code == 0, restored.output
    assert store.count() == 3, "a running reader sees the restored collection"
    assert sorted(d["doc_id"] for d in store.documents()) == ["file:0.md", "file:1.md", "file:2.md"]

    copy = run("snapshot", "restore", str(path), "--collection", "fagprat-kopi", "--json")
    assert copy.exit_code == 0 and json.loads(copy.output)["points"] == 3
    restored_copy = Store(settings, collection="fagprat-kopi", identity=IDENTITY)
    assert restored_copy.info().identity == IDENTITY and restored_copy.count() == 3

    (tmp_path / "not-a-snapshot.tar.gz").write_bytes(b"garbage")
    bad = run("snapshot", "restore", str(tmp_path / "not-a-snapshot.tar.gz"))
    assert bad.exit_code == 1 and "ikke et gyldig øyeblikksbilde" in bad.output and "Traceback" not in bad.output
    assert store.count() == 3
