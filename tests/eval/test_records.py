"""Judge-free scores of single answers in the service's shape (generated with
verified and unverified sentences, quote, refusal by the gate, refusal by the
relevance floor, an answer from before answer kinds), worked out by hand."""

import pytest

from eval.records import judge_free_scores
from tests.eval.handmade import GROUPS, answer, gate, question, record, sentence

KOLS = question("q1", ["88–92 %", "30–60 minutter"])


def test_generated_answer_with_an_unverified_sentence_kept():
    given = answer(
        "generated",
        [sentence("Målet er SpO2 88–92 %.", True, [1]), sentence("Gi oksygen forsiktig.", False)],
        removed=["Gi 1 g paracetamol."],
        raw_text="Målet er SpO2 88–92 % [1]. Gi oksygen forsiktig. Gi 1 g paracetamol.",
        verdict=gate(True, 300, 10, 800.0),
    )
    scores = record("m", KOLS, given)["scores"]
    # One of the two key facts is shown; one of the two shown sentences is verified.
    assert scores["key_fact_recall"] == scores["key_fact_recall_answered"] == pytest.approx(0.5)
    assert scores["key_fact_any"] == 1.0
    assert scores["supported_share"] == pytest.approx(0.5)
    assert scores["unverified_shown"] == 1.0
    assert scores["unsupported_pills"] == 0.0  # the unverified sentence has no pill
    assert scores["removed_sentences"] == 1.0
    assert (scores["outcome_generated"], scores["outcome_quote"], scores["outcome_refusal"]) == (1.0, 0.0, 0.0)
    assert scores["answered_when_answerable"] == 1.0 and scores["refused_when_unanswerable"] is None
    # The gate ran and said yes on an answerable question: no false refusal; 310 tokens.
    assert scores["gate_ran"] == 1.0 and scores["gate_failed"] == 0.0
    assert scores["gate_refused_answerable"] == 0.0 and scores["gate_refused_unanswerable"] is None
    assert (scores["gate_tokens"], scores["gate_ms"]) == (310.0, 800.0)
    assert scores["verification_ms"] == 50.0 and scores["quote_ms"] is None


def test_the_key_fact_must_be_in_a_shown_sentence_not_in_a_removed_one():
    given = answer(
        "generated",
        [sentence("Ta ny blodgass.", True, [1])],
        removed=["Målet er SpO2 88–92 %."],
        raw_text="Ta ny blodgass [1]. Målet er SpO2 88–92 %.",
        text="Ta ny blodgass [1].",
    )
    scores = record("m", KOLS, given)["scores"]
    assert scores["key_fact_recall"] == 0.0 and scores["supported_share"] == 1.0


def test_quote_fallback_counts_as_quote_by_reason():
    given = answer(
        "quote",
        [sentence("Mål: SpO2 88–92 %.", True, [1], quote=True), sentence("Ny blodgass etter 30–60 minutter.", True, [1], quote=True)],
        fallback="not_verified",
        raw_text="Noe modellen skrev.",
        removed=["Noe modellen skrev."],
    )
    scores = record("m", KOLS, given)["scores"]
    assert scores["key_fact_recall"] == 1.0 and scores["supported_share"] == 1.0
    assert scores["outcome_quote"] == 1.0 and scores["quote_not_verified"] == 1.0
    assert scores["quote_quote_mode"] == 0.0 and scores["quote_other"] == 0.0
    assert scores["answered_when_answerable"] == 1.0
    assert scores["gate_ran"] == 0.0 and scores["gate_tokens"] is None
    assert scores["quote_ms"] == 20.0 and scores["verification_ms"] is None


def test_gate_refusals_on_unanswerable_and_answerable_questions():
    refused_unanswerable = record("m", question("q3", []), answer("refusal", verdict=gate(False, 200, 6, 600.0)))["scores"]
    assert refused_unanswerable["gate_refused_unanswerable"] == 1.0
    assert refused_unanswerable["gate_refused_answerable"] is None
    assert refused_unanswerable["refused_when_unanswerable"] == 1.0
    assert refused_unanswerable["supported_share"] is None and refused_unanswerable["key_fact_recall"] is None

    false_refusal = record("m", question("q4", ["8. time"]), answer("refusal", verdict=gate(False, 250, 6, 700.0)))["scores"]
    assert false_refusal["gate_refused_answerable"] == 1.0
    assert false_refusal["key_fact_recall"] == 0.0  # a refused answerable question scores 0 ...
    assert false_refusal["key_fact_recall_answered"] is None  # ... and is left out of the answers-only row
    assert false_refusal["answered_when_answerable"] == 0.0


def test_a_failed_gate_is_counted_and_is_no_verdict():
    given = answer("generated", [sentence("Målet er SpO2 88–92 %.", True, [1])], verdict=gate(True, 0, 0, 30000.0, error="timeout"))
    scores = record("m", KOLS, given)["scores"]
    assert scores["gate_ran"] == 1.0 and scores["gate_failed"] == 1.0
    assert scores["gate_refused_answerable"] is None and scores["gate_refused_unanswerable"] is None


def test_refusal_by_the_relevance_floor_never_reached_the_gate():
    scores = record("m", question("q5", []), answer("refusal"))["scores"]
    assert scores["gate_ran"] == 0.0 and scores["gate_failed"] is None
    assert scores["outcome_refusal"] == 1.0 and scores["refused_when_unanswerable"] == 1.0


def test_a_cached_answer_from_before_answer_kinds_still_scores():
    # The old shape: kind "generated" even for a refusal, no sentences, no gate.
    old = {
        "error": "", "answer": "Målet er 88–92 % [1].", "raw_text": "Målet er 88–92 % [1].", "refused": False,
        "answerable": True, "key_facts": ["88–92 %", "30–60 minutter"], "source_doc_ids": ["file:a.md"],
        "retrieved": [{"doc_id": "file:a.md", "text": "x"}], "citations": [{"text": "Mål 88–92 %."}],
        "removed_citations": [], "timings": {"total_ms": 900.0},
    }  # fmt: skip
    scores = judge_free_scores(old, [1], GROUPS)
    assert scores["key_fact_recall"] == pytest.approx(0.5)
    assert scores["outcome_generated"] == 1.0
    assert scores["supported_share"] is None  # unknown, not 0: no sentence-level verification yet
    refused = judge_free_scores({**old, "refused": True, "answer": "Jeg fant ikke svaret."}, [1], GROUPS)
    assert refused["outcome_refusal"] == 1.0 and refused["key_fact_recall"] == 0.0


def test_a_pill_on_an_unsupported_sentence_is_counted():
    given = answer("generated", [sentence("Gi 2 g.", False, [1]), sentence("Målet er SpO2 88–92 %.", True, [1])])
    assert record("m", KOLS, given)["scores"]["unsupported_pills"] == 1.0


def test_a_failed_answer_has_no_scores():
    assert judge_free_scores({"error": "LLMError: down"}, [1], GROUPS) == {}
