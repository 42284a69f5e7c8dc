"""Judge-free metrics on hand-made cases whose answers are known."""

import pytest

from eval import metrics


def test_normalize_text_folds_case_space_and_decimal_comma():
    assert metrics.normalize_text("  Gi 0,5  MG\u00a0i.v. ") == "gi 0.5 mg i.v."


def test_contains_fact_matches_decimal_comma_and_point_and_ignores_citations():
    assert metrics.contains_fact("Dosen er 0.5 mg [2].", "0,5 mg")
    assert metrics.contains_fact("Gi 1 G paracetamol", "1 g")
    assert not metrics.contains_fact("Gi 15 mg", "5 mg x")
    assert not metrics.contains_fact("noe", "   ")


def test_parse_citation_numbers_handles_lists_ranges_and_adjacent_markers():
    assert metrics.parse_citation_numbers("A [1]. B [2, 3]. C [4-6][9]. D [x]") == [1, 2, 3, 4, 5, 6, 9]
    assert metrics.parse_citation_numbers("ingen") == []


def test_hit_at_k():
    retrieved = ["file:a", "file:b", "file:c"]
    assert metrics.hit_at_k(retrieved, ["file:c"], 3) == 1.0
    assert metrics.hit_at_k(retrieved, ["file:c"], 2) == 0.0
    assert metrics.hit_at_k(retrieved, [], 3) is None


def test_reciprocal_rank():
    retrieved = ["file:a", "file:b", "file:b", "file:c"]
    assert metrics.reciprocal_rank(retrieved, ["file:b", "file:c"]) == pytest.approx(0.5)
    assert metrics.reciprocal_rank(retrieved, ["file:a"]) == 1.0
    assert metrics.reciprocal_rank(retrieved, ["file:z"]) == 0.0
    assert metrics.reciprocal_rank(retrieved, []) is None


def test_citation_validity_counts_numbers_outside_the_sources():
    assert metrics.citation_validity([1, 2, 7, 0], source_count=3) == pytest.approx(0.5)
    assert metrics.citation_validity([1, 1, 3], source_count=3) == 1.0
    assert metrics.citation_validity([], source_count=3) is None


def test_citation_precision_is_share_of_cited_passages_with_a_key_fact():
    passages = ["SpO2 88–92 % er målet.", "Ta blodgass.", "Mål: spo2 88–92 %"]
    assert metrics.citation_precision(passages, ["88–92 %"]) == pytest.approx(2 / 3)
    assert metrics.citation_precision([], ["x"]) is None
    assert metrics.citation_precision(["x"], []) is None


def test_key_fact_recall_is_share_of_key_facts_present():
    answer = "Gi 1 g paracetamol [1], høyst 4 g i døgnet [2]."
    assert metrics.key_fact_recall(answer, ["1 g", "4 g", "6 timer"]) == pytest.approx(2 / 3)
    assert metrics.key_fact_recall(answer, []) is None
    assert metrics.any_key_fact(answer, ["6 timer", "4 G"]) == 1.0
    assert metrics.any_key_fact(answer, ["6 timer"]) == 0.0
    assert metrics.any_key_fact(answer, []) is None


def test_outcome_reads_refused_for_answers_from_before_answer_kinds():
    assert metrics.outcome("generated", refused=False) == "generated"
    assert metrics.outcome("generated", refused=True) == "refusal"  # the old shape
    assert metrics.outcome("refusal", refused=True) == "refusal"
    assert metrics.outcome("quote", refused=False) == "quote"


def test_shown_text_is_what_the_user_sees():
    sentences = [{"text": "Inspiser minst hver 8. time.", "verified": True}, {"text": "Skift etter behov.", "verified": False}]
    # A refusal shows no fact, whatever its message says.
    assert metrics.shown_text("Jeg fant ikke svaret (minst hver 8. time).", True, sentences, []) == ""
    # With sentences: those, plus kept unverified sentences not among them; not the answer text's extras.
    assert metrics.shown_text("Sitater fra kildene: …", False, sentences, ["Skift etter behov.", "Noe mer."]) == (
        "Inspiser minst hver 8. time. Skift etter behov. Noe mer."
    )
    # The old shape has no sentences: the answer text is what was shown.
    assert metrics.shown_text("Svar [1].", False, [], []) == "Svar [1]."


def test_supported_share_and_pills_on_unsupported_sentences():
    sentences = [
        {"text": "a", "verified": True, "citations": [1]},
        {"text": "b", "verified": False, "citations": []},  # kept, marked, no pill: fine
        {"text": "c", "verified": False, "citations": [2]},  # a pill on an unsupported sentence
        {"text": "d", "verified": True, "citations": [1]},
    ]
    assert metrics.supported_share(sentences) == pytest.approx(0.5)
    assert metrics.unsupported_pills(sentences) == 1
    assert metrics.supported_share([]) is None
    assert metrics.unsupported_pills([]) == 0


def test_gate_outcome():
    assert metrics.gate_outcome(None) == metrics.GateOutcome(False, False, False, None, None)
    said_no = metrics.gate_outcome({"answerable": False, "prompt_tokens": 300, "completion_tokens": 12, "ms": 850.0})
    assert said_no == metrics.GateOutcome(True, False, True, 312, 850.0)
    said_yes = metrics.gate_outcome({"answerable": True, "sources": [1], "prompt_tokens": 10, "completion_tokens": 5, "ms": 1.0})
    assert not said_yes.said_unanswerable and said_yes.tokens == 15
    # A failed gate is no verdict: it did not say no (the answer went ahead).
    failed = metrics.gate_outcome({"answerable": False, "error": "timeout", "prompt_tokens": 0, "completion_tokens": 0, "ms": 30000.0})
    assert failed.ran and failed.failed and not failed.said_unanswerable


def test_refusal_rates_and_balanced_mean():
    cases = [(False, True), (False, False), (True, False), (True, False), (True, True), (True, False)]
    rates = metrics.refusal_rates(cases)
    assert rates.refused_when_unanswerable == pytest.approx(0.5)
    assert rates.answered_when_answerable == pytest.approx(0.75)
    assert rates.balanced == pytest.approx(0.625)


def test_always_refusing_scores_half_balanced():
    rates = metrics.refusal_rates([(False, True), (True, True), (True, True), (True, True)])
    assert rates.refused_when_unanswerable == 1.0
    assert rates.answered_when_answerable == 0.0
    assert rates.balanced == pytest.approx(0.5)
    assert metrics.refusal_rates([]).balanced is None
