"""Incremental, idempotent ingest into real embedded Qdrant."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.pipeline import Ingester, ingest_path
from rag.store import Store, close_clients
from tests.conftest import REPO, make_settings


def _write_procedure(path: Path, title: str, paragraphs: int = 3, marker: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "\n\n".join(
        f"Avsnitt {i} om {title.lower()}: sjekk innstikkstedet hver {i + 2}. time og dokumenter funnene. {marker}"
        for i in range(paragraphs)
    )
    path.write_text(f"---\ntitle: {title}\ndoc_type: prosedyre\n---\n# {title}\n\n## Utførelse\n\n{body}\n", "utf-8")


def _state(settings) -> dict[str, tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Every point: id -> (doc_id, doc_hash)."""
    return {point_id: (p["doc_id"], p["doc_hash"]) for point_id, p in Store(settings).points(["doc_id", "doc_hash"])}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "fjordbyen").mkdir(parents=True)
    (root / "_bibliotek.yaml").write_text("# the library root: ids are relative to this folder\n")
    (root / "fjordbyen" / "_mappe.yaml").write_text("access_groups: [fjordbyen]\npublisher: Fjordbyen sykehus\n")
    _write_procedure(root / "fjordbyen" / "pvk.md", "Perifert venekateter")
    _write_procedure(root / "fjordbyen" / "cvk.md", "Sentralt venekateter")
    _write_procedure(root / "nasjonal" / "sepsis.md", "Sepsis hos voksne")
    (root / "nasjonal" / "_mappe.yaml").write_text("access_groups: [nasjonal]\n")
    return root


def test_reingesting_unchanged_files_writes_nothing(tmp_path: Path, corpus: Path):
    settings = make_settings(tmp_path / "data")
    first = ingest_path(settings, corpus)
    assert (first.files, first.indexed, first.unchanged) == (3, 3, 0)
    before = _state(settings)
    second = ingest_path(settings, corpus)
    assert (second.indexed, second.unchanged, second.chunks_written) == (0, 3, 0)
    assert _state(settings) == before


def test_access_groups_come_from_folder_metadata(tmp_path: Path, corpus: Path):
    settings = make_settings(tmp_path / "data")
    ingest_path(settings, corpus)
    groups = {d["doc_id"]: d["access_groups"] for d in Store(settings).documents()}
    assert groups["file:fjordbyen/pvk.md"] == ["fjordbyen"]
    assert groups["file:nasjonal/sepsis.md"] == ["nasjonal"]


def test_a_changed_file_replaces_exactly_its_own_chunks(tmp_path: Path, corpus: Path):
    settings = make_settings(tmp_path / "data")
    ingest_path(settings, corpus)
    before = _state(settings)
    _write_procedure(corpus / "fjordbyen" / "pvk.md", "Perifert venekateter", paragraphs=8, marker="ENDRET")
    report = ingest_path(settings, corpus)
    assert (report.indexed, report.unchanged) == (1, 2)
    after = _state(settings)
    untouched = {k: v for k, v in before.items() if v[0] != "file:fjordbyen/pvk.md"}
    assert {k: v for k, v in after.items() if v[0] != "file:fjordbyen/pvk.md"} == untouched
    pvk_hashes = {h for doc, h in after.values() if doc == "file:fjordbyen/pvk.md"}
    assert len(pvk_hashes) == 1, "stale chunks of the old version remain"
    store = Store(settings)
    texts = [p["text"] for _, p in store.points(["text"], doc_id="file:fjordbyen/pvk.md")]
    assert texts and all("ENDRET" in t for t in texts if t.startswith("Avsnitt"))
    assert len(texts) == report.chunks_written


def test_prune_removes_documents_whose_files_are_gone(tmp_path: Path, corpus: Path):
    settings = make_settings(tmp_path / "data")
    ingest_path(settings, corpus)
    (corpus / "fjordbyen" / "cvk.md").unlink()
    kept = ingest_path(settings, corpus)
    assert kept.pruned == [] and "file:fjordbyen/cvk.md" in {d["doc_id"] for d in Store(settings).documents()}
    pruned = ingest_path(settings, corpus, prune=True)
    assert pruned.pruned == ["file:fjordbyen/cvk.md"]
    assert "file:fjordbyen/cvk.md" not in {doc for doc, _ in _state(settings).values()}


def test_a_crash_mid_document_heals_on_the_next_run(tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch):
    clean = make_settings(tmp_path / "clean")
    ingest_path(clean, corpus)
    expected = _state(clean)

    settings = make_settings(tmp_path / "data")
    real_upsert = Store.upsert
    calls = {"n": 0}

    def crash_on_second_document(self, points):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            real_upsert(self, points[: len(points) // 2])  # half written, then the process "dies"
            raise KeyboardInterrupt
        real_upsert(self, points)

    monkeypatch.setattr(Store, "upsert", crash_on_second_document)
    with pytest.raises(KeyboardInterrupt):
        ingest_path(settings, corpus)
    monkeypatch.setattr(Store, "upsert", real_upsert)
    assert _state(settings) != expected
    ingest_path(settings, corpus)
    assert _state(settings) == expected


def test_an_ingest_killed_by_sigkill_ends_like_a_clean_run(tmp_path: Path):
    files = 12
    root = tmp_path / "many"
    # Enough files that the kill lands mid-run; small ones, because every chunk is embedded three times.
    for i in range(files):
        _write_procedure(root / "nasjonal" / f"prosedyre-{i:02d}.md", f"Prosedyre {i}", paragraphs=15)
    (root / "nasjonal" / "_mappe.yaml").write_text("access_groups: [nasjonal]\n")
    clean = make_settings(tmp_path / "clean")
    ingest_path(clean, root)
    expected = _state(clean)
    close_clients()

    data = tmp_path / "data"
    env = {**os.environ, "FAGPRAT_DATA_DIR": str(data)}
    command = [sys.executable, "-m", "ui.cli", "ingest", str(root)]
    child = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    seen = ""
    done = 0
    deadline = time.monotonic() + 120
    assert child.stderr is not None
    # Kill it as soon as the progress bar shows a few files done (tqdm skips counts when fast).
    while time.monotonic() < deadline and done < 3:
        seen += child.stderr.read(1)
        counts = re.findall(rf" (\d+)/{files} ", seen)
        done = int(counts[-1]) if counts else 0
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert 3 <= done < files, seen[-500:]

    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    settings = make_settings(data)
    assert _state(settings) == expected
    close_clients()


def test_bad_files_are_skipped_with_reasons_and_the_rest_indexed(tmp_path: Path, corpus: Path):
    (corpus / "nasjonal" / "tom.pdf").write_bytes(b"")
    (corpus / "nasjonal" / "odelagt.docx").write_bytes(b"PK\x03\x04 this is not a real docx")
    (corpus / "nasjonal" / "odelagt.pdf").write_bytes(b"%PDF-1.7\n garbage")
    settings = make_settings(tmp_path / "data")
    report = ingest_path(settings, corpus)
    assert report.indexed == 3
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(reasons) == {"tom.pdf", "odelagt.docx", "odelagt.pdf"}
    assert all(reasons.values())
    assert not report.nothing_done


def test_cli_exit_code_is_nonzero_only_when_nothing_could_be_done(tmp_path: Path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "tom.pdf").write_bytes(b"")
    env = {**os.environ, "FAGPRAT_DATA_DIR": str(tmp_path / "data")}
    failed = subprocess.run(
        [sys.executable, "-m", "ui.cli", "ingest", str(bad), "--json"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert failed.returncode == 1
    report = json.loads(failed.stdout)
    assert report["skipped"][0]["path"].endswith("tom.pdf")

    _write_procedure(bad / "ok.md", "Håndhygiene")
    (bad / "_mappe.yaml").write_text("access_groups: [nasjonal]\n")
    worked = subprocess.run(
        [sys.executable, "-m", "ui.cli", "ingest", str(bad), "--json"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert worked.returncode == 0, worked.stderr
    assert json.loads(worked.stdout)["indexed"] == 1


def test_other_processes_read_while_one_writes_and_a_second_writer_gets_a_clear_error(tmp_path: Path, corpus: Path):
    settings = make_settings(tmp_path / "data")
    ingest_path(settings, corpus)
    store = Store(settings)
    assert len(store.documents()) == 3  # this process holds the published generation open
    env = {**os.environ, "FAGPRAT_DATA_DIR": str(tmp_path / "data")}
    with store.writing():  # and the collection's writer lock
        reader = subprocess.run(
            [sys.executable, "-m", "ui.cli", "sources", "--json"], cwd=REPO, env=env, capture_output=True, text=True
        )
        writer = subprocess.run(
            [sys.executable, "-m", "ui.cli", "ingest", str(corpus)], cwd=REPO, env=env, capture_output=True, text=True
        )
    assert reader.returncode == 0, reader.stderr
    assert len(json.loads(reader.stdout)) == 3
    assert writer.returncode == 1
    assert "En annen indeksering" in writer.stderr and "Traceback" not in writer.stderr


def test_ingest_keeps_the_embedders_token_budget(tmp_path: Path, corpus: Path):
    settings = make_settings(tmp_path / "data", chunk_size_tokens=10_000)
    ingester = Ingester(settings)
    assert ingester.chunker.max_tokens == ingester.embedder.passage_budget
