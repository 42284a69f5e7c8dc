"""How an answer is shown: message text, clickable [n] sources, side panels."""

from __future__ import annotations

import datetime as dt

from rag.models import Answer, Citation, Passage, Timings
from ui.feedback import cited_sources
from ui import presenter

TODAY = dt.date(2026, 1, 15)


def _passage(**overrides) -> Passage:
    fields = dict(
        chunk_id="c1",
        doc_id="file:fjordbyen/urinkateter.docx",
        text="Kateteret skiftes etter 30 dager.\n\nVed feber: kontakt lege.",
        title="Urinkateter – innleggelse og stell",
        heading_path=["Urinkateter – innleggelse og stell", "Skifte av kateter"],
        publisher="Fjordbyen sykehus",
        doc_type="prosedyre",
        source_path="/srv/dok/urinkateter.docx",
        updated=dt.date(2024, 3, 1),
        version="2.1",
        review_due=dt.date(2025, 3, 1),
        access_groups=["fjordbyen"],
        score=0.031,
        relevance=0.72,
    )
    fields.update(overrides)
    return Passage(**fields)


def _answer(**overrides) -> Answer:
    passage = _passage()
    pdf_passage = _passage(
        chunk_id="c2",
        doc_id="file:nasjonal/trykksar-veileder.pdf",
        text="Snu pasienten hver andre time.",
        title="Forebygging av trykksår",
        heading_path=["Forebygging av trykksår", "Tiltak"],
        source_path="",
        url="https://www.helsedirektoratet.no/trykksar",
        page_start=4,
        page_end=5,
        review_due=None,
        version="",
    )
    fields = dict(
        question="Hvor ofte skiftes urinkateter?",
        standalone_question="Hvor ofte skiftes permanent urinkateter?",
        text="Kateteret skiftes etter 30 dager [1]. Snu pasienten ofte [2].",
        citations=[Citation(number=1, passage=passage), Citation(number=2, passage=pdf_passage)],
        retrieved=[passage, pdf_passage],
        model="smollm2-135m",
        timings=Timings(retrieval_ms=12.0, first_token_ms=250.0, tokens_per_s=20.0, total_ms=1800.0),
    )
    fields.update(overrides)
    return Answer(**fields)


def test_each_citation_becomes_a_side_panel_named_like_its_marker():
    answer = _answer()
    panels = presenter.source_panels(answer, today=TODAY)
    assert [p.name for p in panels] == ["[1]", "[2]"]
    # Chainlit links element names found in the message: every marker must be in the text.
    text = presenter.message_text(answer, panels, today=TODAY)
    for panel in panels:
        assert panel.name in text


def test_side_panel_shows_where_the_passage_comes_from_and_the_exact_passage():
    first, second = presenter.source_panels(_answer(), today=TODAY)
    assert "Urinkateter – innleggelse og stell > Skifte av kateter" in first.markdown
    assert "01.03.2024" in first.markdown  # last updated
    assert "2.1" in first.markdown  # version
    assert "/srv/dok/urinkateter.docx" in first.markdown
    assert "> Kateteret skiftes etter 30 dager." in first.markdown
    assert "> Ved feber: kontakt lege." in first.markdown
    assert "- **Side:** 4-5" in second.markdown
    assert "(https://www.helsedirektoratet.no/trykksar)" in second.markdown


def test_overdue_review_date_is_warned_about():
    first, second = presenter.source_panels(_answer(), today=TODAY)
    assert "Revisjonsfristen gikk ut 01.03.2025" in first.markdown
    assert "Revisjonsfristen" not in second.markdown
    text = presenter.message_text(_answer(), today=TODAY)
    assert text.count("revisjonsfrist passert") == 1
    # Before the deadline there is no warning.
    early = presenter.source_panels(_answer(), today=dt.date(2025, 2, 1))[0]
    assert "gikk ut" not in early.markdown


def test_pdf_is_offered_only_from_allowed_folders(tmp_path):
    allowed = tmp_path / "corpus"
    allowed.mkdir()
    inside = allowed / "veileder.pdf"
    inside.write_bytes(b"%PDF-1.4\n")
    outside = tmp_path / "hemmelig.pdf"
    outside.write_bytes(b"%PDF-1.4\n")
    answer = _answer(
        citations=[
            Citation(number=1, passage=_passage(source_path=str(inside), page_start=3)),
            Citation(number=2, passage=_passage(source_path=str(outside), page_start=1)),
            Citation(number=3, passage=_passage(source_path=str(allowed / ".." / "hemmelig.pdf"))),
        ]
    )
    panels = presenter.source_panels(answer, pdf_roots=[allowed], today=TODAY)
    assert (panels[0].pdf_path, panels[0].pdf_page, panels[0].pdf_name) == (str(inside.resolve()), 3, "PDF-kilde 1")
    assert panels[1].pdf_path == "" and panels[2].pdf_path == ""
    assert "PDF-kilde 1" in presenter.message_text(answer, panels, today=TODAY)


def test_refusal_is_shown_as_such_with_a_hint_and_no_sources():
    answer = _answer(
        text="Jeg fant ikke noe om dette i kildene.",
        refused=True,
        refusal_reason="no_relevant_sources",
        citations=[],
    )
    text = presenter.message_text(answer, presenter.source_panels(answer))
    assert text.startswith(f"**{presenter.REFUSAL_TITLE}.**")
    assert "Jeg fant ikke noe om dette i kildene." in text
    assert presenter.REFUSAL_HINT in text
    assert presenter.SOURCES_HEADING not in text


def test_notices_are_shown_first():
    answer = _answer(notices=["Et fødselsnummer i spørsmålet ble fjernet."])
    text = presenter.message_text(answer)
    assert text.splitlines()[0] == "> ℹ️ Et fødselsnummer i spørsmålet ble fjernet."


def test_retrieval_summary_lists_sources_scores_and_timings():
    output = presenter.retrieval_summary(_answer())
    assert "Søkt etter:** Hvor ofte skiftes permanent urinkateter?" in output
    assert "1. Urinkateter – innleggelse og stell > " in output
    assert "relevans 0.72" in output
    assert "første token 250 ms" in output
    assert "smollm2-135m" in output


def test_cited_sources_for_feedback():
    sources = cited_sources(_answer())
    assert [s["number"] for s in sources] == [1, 2]
    assert sources[0]["doc_id"] == "file:fjordbyen/urinkateter.docx"
    assert sources[1]["link"] == "https://www.helsedirektoratet.no/trykksar"
    assert sources[1]["page"] == "4-5"
