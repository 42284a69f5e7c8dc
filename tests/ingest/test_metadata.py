"""Metadata precedence, access groups and clear errors for bad metadata files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ingest.loaders import LoaderError, load_file
from ingest.metadata import resolve_metadata


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def markdown(path: Path, body: str = "# Overskrift\n\nPasienten skal observeres hver time.\n") -> Path:
    return write(path, body)


def test_no_access_group_comes_from_folder_names_or_the_root(tmp_path: Path):
    """Only metadata gives access groups: not the first folder's name, and never
    'nasjonal' for a file at the root (issue 13, finding 4). Ingest refuses these."""
    nested = markdown(tmp_path / "kirurgi" / "ortopedi" / "gips.md")
    top = markdown(tmp_path / "felles.md")

    assert load_file(nested, tmp_path).meta.access_groups == []
    assert load_file(top, tmp_path).meta.access_groups == []
    assert "access_groups" not in resolve_metadata(top, tmp_path)


def test_a_library_marker_with_keys_is_an_error(tmp_path: Path):
    write(tmp_path / "_bibliotek.yaml", "# only a marker\n")
    path = markdown(tmp_path / "nasjonal" / "x.md")
    assert load_file(path, tmp_path).meta.doc_id == "file:nasjonal/x.md"
    write(tmp_path / "_bibliotek.yaml", "access_groups: [nasjonal]\n")
    with pytest.raises(LoaderError, match="_bibliotek.yaml.*takes no keys"):
        load_file(path, tmp_path)


def test_folder_defaults_nearest_folder_wins_key_by_key(tmp_path: Path):
    write(tmp_path / "_mappe.yaml", "publisher: Sykehuset\ndoc_type: prosedyre\ncredit: Sykehuset HF\n")
    write(tmp_path / "medisin" / "_mappe.yaml", "access_groups: [medisin, akutt]\ndoc_type: metodebok\n")
    write(tmp_path / "medisin" / "hjerte" / "_mappe.yaml", "publisher: Hjerteavdelingen\nlanguage: nn\n")
    path = markdown(tmp_path / "medisin" / "hjerte" / "ekg.md")

    meta = load_file(path, tmp_path).meta

    assert meta.publisher == "Hjerteavdelingen"  # nearest folder
    assert meta.doc_type == "metodebok"  # middle folder
    assert meta.credit == "Sykehuset HF"  # root folder
    assert meta.access_groups == ["medisin", "akutt"]
    assert meta.language == "nn"  # set by metadata: detection does not override it


def test_sidecar_beats_file_properties_which_beat_folder_defaults(make, tmp_path: Path):
    folder = tmp_path / "akutt"
    write(folder / "_mappe.yaml", "publisher: Akuttklinikken\n")
    path = make.docx(
        folder / "traume.docx",
        [("p", "Versjon: 4"), ("h1", "Traumemottak"), ("p", "Traumeteamet varsles ved kriterier for traumealarm.")],
        title="Traumemottak (egenskaper)",
    )

    from_file = load_file(path, tmp_path).meta
    write(folder / "traume.docx.meta.yaml", "title: Traumemottak voksne\nversion: 5\naccess_groups: traume, akutt\n")
    from_sidecar = load_file(path, tmp_path).meta

    assert (from_file.title, from_file.version) == ("Traumemottak (egenskaper)", "4")
    assert from_file.publisher == "Akuttklinikken"
    assert (from_sidecar.title, from_sidecar.version) == ("Traumemottak voksne", "5")
    assert from_sidecar.publisher == "Akuttklinikken"
    assert from_sidecar.access_groups == ["traume", "akutt"]


def test_front_matter_ranks_with_sidecar_and_ignores_foreign_keys(tmp_path: Path):
    write(tmp_path / "_mappe.yaml", "doc_type: veileder\n")
    path = write(
        tmp_path / "veileder.md",
        "---\ntitle: Delirium\nreview_due: 31.12.2026\nlayout: page\nurl: https://eksempel.no/delirium\n---\n"
        "Delirium er en akutt forvirringstilstand.\n",
    )

    meta = load_file(path, tmp_path).meta

    assert meta.title == "Delirium"
    assert meta.review_due == dt.date(2026, 12, 31)
    assert meta.url == "https://eksempel.no/delirium"
    assert meta.doc_type == "veileder"


def test_html_title_is_a_file_property_below_the_sidecar(tmp_path: Path):
    page = "<html><head><title>Gammel tittel</title></head><body><p>Tekst.</p></body></html>"
    path = write(tmp_path / "side.html", page)
    assert load_file(path, tmp_path).meta.title == "Gammel tittel"

    write(tmp_path / "side.html.meta.yaml", "title: Ny tittel\nupdated: 2025-04-01\n")
    meta = load_file(path, tmp_path).meta

    assert (meta.title, meta.updated) == ("Ny tittel", dt.date(2025, 4, 1))


@pytest.mark.parametrize(
    ("sidecar", "expected"),
    [
        ("title: [ikke avsluttet\n", "invalid YAML in notat.md.meta.yaml"),
        ("updated: 2025-13-45\n", "invalid metadata in notat.md.meta.yaml: not a valid date"),
        ("valid_from: 31.02.2025\n", "invalid metadata in notat.md.meta.yaml: valid_from"),
        ("review_due: snart\n", "invalid metadata in notat.md.meta.yaml: review_due"),
        ("acces_groups: [kirurgi]\n", "invalid metadata in notat.md.meta.yaml: acces_groups"),
        ("language: svensk\n", "invalid metadata in notat.md.meta.yaml: language"),
        ("access_groups: []\n", "access_groups must name at least one group"),
        ("- bare\n- en liste\n", "expected key: value pairs"),
    ],
)
def test_bad_sidecar_gives_a_clear_loader_error(tmp_path: Path, sidecar: str, expected: str):
    path = markdown(tmp_path / "notat.md")
    write(tmp_path / "notat.md.meta.yaml", sidecar)

    with pytest.raises(LoaderError) as caught:
        load_file(path, tmp_path)

    assert expected in caught.value.reason
    assert "\n" not in caught.value.reason


def test_bad_folder_defaults_and_front_matter_are_reported(tmp_path: Path):
    write(tmp_path / "avd" / "_mappe.yaml", "publisher: [\n")
    in_bad_folder = markdown(tmp_path / "avd" / "a.md")
    bad_front_matter = write(tmp_path / "b.md", "---\ntitle: [\n---\nTekst.\n")

    with pytest.raises(LoaderError, match="invalid YAML in _mappe.yaml"):
        load_file(in_bad_folder, tmp_path)
    with pytest.raises(LoaderError, match="invalid YAML front matter"):
        load_file(bad_front_matter, tmp_path)


def test_unusable_file_property_is_dropped_not_fatal(tmp_path: Path):
    path = markdown(tmp_path / "x.md")

    meta = resolve_metadata(path, tmp_path, own={"valid_from": "neste uke", "version": 3.1, "external_id": 4711})

    assert "valid_from" not in meta
    assert (meta["version"], meta["external_id"]) == ("3.1", "4711")
