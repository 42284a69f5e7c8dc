"""Ingest decides identity and access from metadata, not from where it was started,
and a bad file (link loop, link outside, unexpected error, too big) is skipped with a
reason while the run goes on (issue 13, findings 4 and 8). Real files, real embedder,
real embedded Qdrant."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from ingest.loaders import discover_files
from ingest.metadata import document_id, library_root_of
from ingest.pipeline import ingest_path
from rag.store import Store
from tests.conftest import REPO, make_settings


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def procedure(path: Path, title: str, paragraphs: int = 2) -> Path:
    body = "\n\n".join(
        f"Avsnitt {i} om {title.lower()}: kontroller innstikkstedet hver {i + 4}. time og dokumenter det." for i in range(paragraphs)
    )
    return write(path, f"# {title}\n\n## Utførelse\n\n{body}\n")


def documents(settings) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """doc_id -> access groups, from the store."""
    return {d["doc_id"]: d["access_groups"] for d in Store(settings).documents()}


def reasons(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {Path(s.path).name: s.reason for s in report.skipped}


# --- finding 4: identity and access do not depend on where ingest starts -----------------------


def test_the_sample_ingested_from_a_subfolder_keeps_its_ids_and_groups(indexed_settings, tmp_path: Path):
    whole = {doc: groups for doc, groups in documents(indexed_settings).items() if doc.startswith("file:fjordbyen/")}
    settings = make_settings(tmp_path / "data")

    report = ingest_path(settings, REPO / "data" / "sample" / "fjordbyen")

    assert not report.skipped, report.as_dict()
    assert documents(settings) == whole and whole
    gold = [json.loads(line) for line in (REPO / "eval" / "data" / "gold.jsonl").read_text("utf-8").splitlines() if line]
    gold_ids = {doc for q in gold for doc in q.get("source_doc_ids", []) if doc.startswith("file:fjordbyen/")}
    assert gold_ids and gold_ids <= set(whole), "the gold set's ids must name indexed documents"


def test_a_file_without_access_groups_is_refused_not_made_national(tmp_path: Path):
    root = tmp_path / "fjordbyen"
    procedure(root / "rutine.md", "Rutine for PVK")
    procedure(root / "nasjonal" / "sepsis.md", "Sepsis")  # a folder name is not an access group
    write(root / "godkjent" / "_mappe.yaml", "access_groups: [fjordbyen]\n")
    procedure(root / "godkjent" / "cvk.md", "Sentralt venekateter")
    settings = make_settings(tmp_path / "data")

    report = ingest_path(settings, root)

    assert report.indexed == 1
    assert set(reasons(report)) == {"rutine.md", "sepsis.md"}
    assert all("no access group" in reason for reason in reasons(report).values())
    assert list(documents(settings).values()) == [["fjordbyen"]]


def test_two_hospitals_files_of_the_same_name_are_both_kept(tmp_path: Path):
    first = tmp_path / "docs" / "fjordbyen"
    second = tmp_path / "otherhospital" / "nordlia"
    write(first / "_mappe.yaml", "access_groups: [fjordbyen]\n")
    write(second / "_mappe.yaml", "access_groups: [nordlia]\n")
    procedure(first / "rutine.md", "Rutine Fjordbyen")
    procedure(second / "rutine.md", "Rutine Nordlia")
    settings = make_settings(tmp_path / "data")

    ingest_path(settings, first)
    ingest_path(settings, second)

    kept = documents(settings)
    assert sorted(kept.values()) == [["fjordbyen"], ["nordlia"]]
    assert {doc for doc in kept} == {document_id(first / "rutine.md", Path("/")), document_id(second / "rutine.md", Path("/"))}


def test_the_configured_library_root_and_the_marker_set_the_ids(tmp_path: Path):
    library = tmp_path / "bibliotek"
    path = procedure(library / "kirurgi" / "ortopedi" / "gips.md", "Gips")

    assert library_root_of(path) == Path(path.anchor)  # nothing configured: absolute ids
    assert document_id(path, library_root_of(path)) == f"file:{path.as_posix()}"
    assert library_root_of(path, configured=library) == library
    assert document_id(path, library) == "file:kirurgi/ortopedi/gips.md"
    write(library / "kirurgi" / "_bibliotek.yaml", "")
    assert library_root_of(path) == library / "kirurgi"
    assert library_root_of(path, configured=library) == library  # the setting wins
    assert library_root_of(tmp_path / "annet" / "x.md", configured=library) == Path(path.anchor)


def test_folder_defaults_above_the_ingest_folder_still_apply(tmp_path: Path):
    library = tmp_path / "bibliotek"
    write(library / "_bibliotek.yaml", "")
    write(library / "fjordbyen" / "_mappe.yaml", "access_groups: [fjordbyen]\n")
    procedure(library / "fjordbyen" / "medisin" / "hjerte" / "ekg.md", "EKG")
    settings = make_settings(tmp_path / "data")

    ingest_path(settings, library / "fjordbyen" / "medisin" / "hjerte")

    assert documents(settings) == {"file:fjordbyen/medisin/hjerte/ekg.md": ["fjordbyen"]}


# --- finding 8: a bad file is skipped with a reason and the run goes on ------------------------


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    write(root / "_bibliotek.yaml", "")
    write(root / "_mappe.yaml", "access_groups: [nasjonal]\n")
    procedure(root / "sepsis.md", "Sepsis")
    procedure(root / "pvk.md", "Perifert venekateter")
    return root


def test_a_symlink_loop_is_skipped_and_prune_still_runs(tmp_path: Path, library: Path):
    settings = make_settings(tmp_path / "data")
    ingest_path(settings, library)
    (library / "pvk.md").unlink()
    (library / "loop-a.md").symlink_to(library / "loop-b.md")
    (library / "loop-b.md").symlink_to(library / "loop-a.md")
    (library / "mappe-lokke").symlink_to(library)  # a folder link back into the library

    report = ingest_path(settings, library, prune=True)

    assert reasons(report) == {"loop-a.md": "symlink loop: not followed", "loop-b.md": "symlink loop: not followed"}
    assert report.pruned == ["file:pvk.md"]
    assert set(documents(settings)) == {"file:sepsis.md"}


def test_links_outside_the_ingest_folder_are_not_followed_unless_allowed(tmp_path: Path, library: Path):
    outside = tmp_path / "privat"
    procedure(outside / "hemmelig.md", "Hemmelig notat")
    procedure(outside / "mappe" / "annet.md", "Annet notat")
    (library / "lenke.md").symlink_to(outside / "hemmelig.md")
    (library / "mappelenke").symlink_to(outside / "mappe")
    (library / "intern.md").symlink_to(library / "sepsis.md")  # inside: allowed as before

    settings = make_settings(tmp_path / "data")
    report = ingest_path(settings, library)

    assert set(reasons(report)) == {"lenke.md", "mappelenke"}
    assert all("outside the ingest folder" in r and "FAGPRAT_INGEST_FOLLOW_SYMLINKS_OUTSIDE" in r for r in reasons(report).values())
    assert set(documents(settings)) == {"file:sepsis.md", "file:pvk.md", "file:intern.md"}

    allowed = make_settings(tmp_path / "data-allowed", ingest_follow_symlinks_outside=True)
    report = ingest_path(allowed, library)
    assert not report.skipped
    assert {"file:lenke.md", "file:mappelenke/annet.md"} <= set(documents(allowed))


def test_discovery_survives_loops_through_followed_folders(tmp_path: Path):
    root = tmp_path / "docs"
    outside = tmp_path / "ute"
    procedure(outside / "a.md", "A")
    (outside / "tilbake").symlink_to(outside)  # a loop once the outside folder is followed
    root.mkdir()
    (root / "ute").symlink_to(outside)

    found = discover_files(root, follow_symlinks_outside=True)

    assert found.files == [root / "ute" / "a.md"] and not found.skipped


def test_an_unexpected_error_in_one_file_skips_that_file(tmp_path: Path, library: Path, monkeypatch: pytest.MonkeyPatch):
    """A disk error reading one file's sidecar (faked at the file-system edge) costs that file only."""
    sidecar = write(library / "sepsis.md.meta.yaml", "title: Sepsis hos voksne\n")
    real_read_bytes = Path.read_bytes

    def failing_read_bytes(self: Path) -> bytes:
        if self == sidecar:
            raise OSError(errno.EIO, "Input/output error")
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", failing_read_bytes)
    settings = make_settings(tmp_path / "data")

    report = ingest_path(settings, library, prune=True)

    assert reasons(report) == {"sepsis.md": "unexpected error: OSError: [Errno 5] Input/output error"}
    assert set(documents(settings)) == {"file:pvk.md"}


def test_caps_on_pages_and_chunks_skip_a_file_before_it_is_embedded(tmp_path: Path, library: Path, make):
    topics = ["Sepsis", "Væske", "Antibiotika", "Laktat", "Oksygen", "Overvåking"]  # no repeated lines: not running heads
    pages = [[make.heading(topic), make.body(f"{topic} vurderes av lege ved innleggelse og ved forverring.")] for topic in topics]
    make.pdf(library / "bok.pdf", pages)
    procedure(library / "lang.md", "Lang prosedyre", paragraphs=60)  # 8 chunks of 200 tokens
    settings = make_settings(tmp_path / "data", ingest_max_pages_per_file=5, ingest_max_chunks_per_file=5)

    report = ingest_path(settings, library)

    assert reasons(report) == {
        "bok.pdf": "6 pages, over the cap of 5 per file (FAGPRAT_INGEST_MAX_PAGES_PER_FILE)",
        "lang.md": reasons(report)["lang.md"],
    }
    assert reasons(report)["lang.md"].endswith("chunks, over the cap of 5 per file (FAGPRAT_INGEST_MAX_CHUNKS_PER_FILE)")
    assert set(documents(settings)) == {"file:sepsis.md", "file:pvk.md"}
    generous = make_settings(tmp_path / "data2")
    assert not ingest_path(generous, library).skipped  # the defaults let ordinary documents through


def test_the_cli_reports_skips_and_does_not_crash(tmp_path: Path, library: Path):
    import subprocess
    import sys

    (library / "loop-a.md").symlink_to(library / "loop-b.md")
    (library / "loop-b.md").symlink_to(library / "loop-a.md")
    env = {**os.environ, "FAGPRAT_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-m", "ui.cli", "ingest", str(library), "--prune", "--json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["indexed"] == 2 and len(report["skipped"]) == 2
    assert "Traceback" not in result.stderr
