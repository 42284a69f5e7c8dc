"""Which original files the chat serves, to whom, and the links surfaces show.

The route itself (sign-in, 401/404 over HTTP) is exercised against the real
chat in tests/ui/test_chat_browser.py; here the decisions, on real files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.models import Passage
from rag.settings import Settings
from ui.documents import document_path, document_url, find_document, servable_file


@pytest.fixture()
def library(tmp_path: Path) -> dict:
    root = tmp_path / "bibliotek"
    (root / "fjordbyen").mkdir(parents=True)
    pdf = root / "fjordbyen" / "fall.pdf"
    pdf.write_bytes(b"%PDF-1.4 stand-in")
    outside = tmp_path / "hemmelig.txt"
    outside.write_text("not for the chat")
    (root / "fjordbyen" / "lenke.txt").symlink_to(outside)
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", chat_file_roots=[root])
    documents = [
        {"doc_id": "file:fjordbyen/fall.pdf", "source_path": str(pdf), "access_groups": ["fjordbyen"]},
        {"doc_id": "file:fjordbyen/lenke.txt", "source_path": str(root / "fjordbyen" / "lenke.txt"),
         "access_groups": ["fjordbyen"]},
        {"doc_id": "file:utenfor.txt", "source_path": str(outside), "access_groups": ["fjordbyen"]},
    ]
    return {"root": root, "pdf": pdf, "outside": outside, "settings": settings, "documents": documents}


def _passage(**fields) -> Passage:
    return Passage(chunk_id="c1", text="Vurder fallrisiko innen 24 timer.", title="Fallforebygging", **fields)


def test_a_file_is_served_only_to_a_user_with_the_documents_group(library):
    settings, documents = library["settings"], library["documents"]
    assert find_document(settings, documents, "file:fjordbyen/fall.pdf", ["nasjonal", "fjordbyen"]) == library["pdf"]
    assert find_document(settings, documents, "file:fjordbyen/fall.pdf", ["nasjonal", "nordlia"]) is None
    assert find_document(settings, documents, "file:fjordbyen/fall.pdf", []) is None


def test_nothing_outside_the_roots_is_served(library):
    settings, documents = library["settings"], library["documents"]
    groups = ["fjordbyen"]
    # A symlink inside a root that points outside it, and a document indexed from elsewhere.
    assert find_document(settings, documents, "file:fjordbyen/lenke.txt", groups) is None
    assert find_document(settings, documents, "file:utenfor.txt", groups) is None
    # The URL names an indexed document, never a path.
    for doc_id in ("../hemmelig.txt", "file:fjordbyen/../../hemmelig.txt", str(library["outside"]), ""):
        assert find_document(settings, documents, doc_id, groups) is None
    assert servable_file(str(library["root"] / "fjordbyen" / ".." / ".." / "hemmelig.txt"), [library["root"]]) is None


def test_the_chat_links_a_local_file_by_document_id_at_the_cited_page(library):
    settings = library["settings"]
    passage = _passage(doc_id="file:fjordbyen/fall.pdf", source_path=str(library["pdf"]), page_start=3)
    link = document_path(settings, passage)
    assert link == "/fagprat/dokument/file:fjordbyen/fall.pdf#page=3"
    assert str(library["root"]) not in link
    # A file that is gone, or outside the roots, gets no link.
    assert document_path(settings, _passage(doc_id="file:x.pdf", source_path=str(library["root"] / "x.pdf"))) is None
    assert document_path(settings, _passage(doc_id="file:utenfor.txt", source_path=str(library["outside"]))) is None


def test_other_surfaces_get_a_public_url_an_absolute_route_or_nothing(library):
    local = _passage(doc_id="file:fjordbyen/fall.pdf", source_path=str(library["pdf"]), page_start=2)
    web = _passage(doc_id="hapi:sepsis", url="https://www.helsedirektoratet.no/retningslinjer/sepsis")
    settings = library["settings"]
    assert document_url(settings, web) == web.url
    assert document_url(settings, local) is None  # no public address of the chat: the title only
    public = settings.model_copy(update={"chat_public_url": "https://fagprat.sykehus.no/"})
    assert document_url(public, local) == "https://fagprat.sykehus.no/fagprat/dokument/file:fjordbyen/fall.pdf#page=2"
    assert document_url(public, _passage(doc_id="file:utenfor.txt", source_path=str(library["outside"]))) is None
