"""One evaluated answer as a flat record (what per_question.jsonl holds), and
the judge-free scores computed from it."""

from __future__ import annotations

from typing import Any

from eval import metrics
from eval.questions import GoldQuestion
from rag.models import Answer


def answer_record(setup: str, question: GoldQuestion, answer: Answer | None, error: str = "") -> dict[str, Any]:
    record: dict[str, Any] = {
        "setup": setup,
        "question_id": question.id,
        "question": question.question,
        "language": question.language,
        "topic": question.topic,
        "answerable": question.answerable,
        "reference_answer": question.reference_answer,
        "key_facts": question.key_facts,
        "source_doc_ids": question.source_doc_ids,
        "error": error,
    }
    if answer is None:
        return record
    record.update(
        answer=answer.text,
        raw_text=answer.raw_text,
        kind=answer.kind,
        outcome=metrics.outcome(answer.kind, answer.refused),
        refused=answer.refused,
        refusal_reason=answer.refusal_reason,
        fallback_reason=answer.fallback_reason,
        answer_language=answer.language,
        model=answer.model,
        model_version=answer.model_version,
        retrieved=[
            {"doc_id": p.doc_id, "chunk_id": p.chunk_id, "title": p.title, "score": p.score, "relevance": p.relevance, "text": p.text}
            for p in answer.retrieved
        ],
        citations=[
            {"number": c.number, "doc_id": c.passage.doc_id, "title": c.passage.title, "support": c.support, "text": c.passage.text}
            for c in answer.citations
        ],
        removed_citations=answer.removed_citations,
        prompt_sources=answer.prompt_sources,
        uncited_sentences=answer.uncited_sentences,
        sentences=[s.model_dump(mode="json") for s in answer.sentences],
        removed_sentences=answer.removed_sentences,
        attributed_sentences=answer.attributed_sentences,
        addresses_question=answer.addresses_question,
        gate=answer.gate.model_dump(mode="json") if answer.gate is not None else None,
        timings=answer.timings.model_dump(),
    )
    return record


def record_outcome(record: dict[str, Any]) -> str:
    """generated, quote, refusal or error (records from before answer kinds
    have no `outcome`)."""
    if record.get("error"):
        return "error"
    return record.get("outcome") or metrics.outcome(record.get("kind", "generated"), record["refused"])


def record_shown_text(record: dict[str, Any]) -> str:
    return metrics.shown_text(
        record.get("answer") or "", record["refused"], record.get("sentences") or [], record.get("uncited_sentences") or []
    )


def judge_free_scores(record: dict[str, Any], hit_ks: list[int], groups: list[str]) -> dict[str, float | None]:
    """The judge-free metrics of one record, for the metric groups asked for."""
    if record.get("error"):
        return {}
    retrieved_docs = [p["doc_id"] for p in record["retrieved"]]
    gold_docs = record["source_doc_ids"]
    key_facts = record["key_facts"]
    refused = record["refused"]
    answerable = record["answerable"]
    scores: dict[str, float | None] = {}
    if "retrieval" in groups:
        for k in hit_ks:
            scores[f"hit@{k}"] = metrics.hit_at_k(retrieved_docs, gold_docs, k)
        scores["mrr"] = metrics.reciprocal_rank(retrieved_docs, gold_docs)
    if "citations" in groups:
        raw_numbers = metrics.parse_citation_numbers(record["raw_text"] or "")
        # Valid numbers are those shown to the model; older cached records lack the count.
        shown = record.get("prompt_sources") or len(record["retrieved"])
        scores["citation_validity"] = metrics.citation_validity(raw_numbers, shown)
        scores["citation_precision"] = (
            None if refused else metrics.citation_precision([c["text"] for c in record["citations"]], key_facts)
        )
        scores["removed_citations"] = float(len(record["removed_citations"]))
    if "refusal" in groups:
        scores["refused_when_unanswerable"] = None if answerable else float(refused)
        scores["answered_when_answerable"] = float(not refused) if answerable else None
    if "outcomes" in groups:
        shown_as = record_outcome(record)
        for name in ("generated", "quote", "refusal"):
            scores[f"outcome_{name}"] = float(shown_as == name)
        reason = record.get("fallback_reason") or ""
        for name in metrics.QUOTE_REASONS:
            scores[f"quote_{name}"] = float(shown_as == "quote" and reason == name)
        scores["quote_other"] = float(shown_as == "quote" and reason not in metrics.QUOTE_REASONS)
    if "correctness" in groups:
        shown = record_shown_text(record)
        scores["key_fact_recall"] = metrics.key_fact_recall(shown, key_facts) if answerable else None
        scores["key_fact_any"] = metrics.any_key_fact(shown, key_facts) if answerable else None
        # The same over answers only: paired, it compares what two set-ups said where both said something.
        scores["key_fact_recall_answered"] = None if refused else scores["key_fact_recall"]
    if "verification" in groups:
        sentences = [] if refused else (record.get("sentences") or [])
        scores["supported_share"] = metrics.supported_share(sentences)
        scores["unverified_shown"] = float(sum(1 for s in sentences if not s.get("verified"))) if sentences else None
        scores["unsupported_pills"] = float(metrics.unsupported_pills(sentences)) if sentences else None
        has_model_text = bool(record.get("raw_text"))
        scores["removed_sentences"] = float(len(record.get("removed_sentences") or [])) if has_model_text else None
    if "gate" in groups:
        gate = metrics.gate_outcome(record.get("gate"))
        scores["gate_ran"] = float(gate.ran)
        judged = gate.ran and not gate.failed
        scores["gate_refused_unanswerable"] = float(gate.said_unanswerable) if judged and not answerable else None
        scores["gate_refused_answerable"] = float(gate.said_unanswerable) if judged and answerable else None
        scores["gate_failed"] = float(gate.failed) if gate.ran else None
        scores["gate_tokens"] = float(gate.tokens) if gate.ran and gate.tokens is not None else None
        scores["gate_ms"] = gate.ms if gate.ran else None
    if "latency" in groups:
        timings = record["timings"]
        scores["first_token_ms"] = timings.get("first_token_ms")
        scores["tokens_per_s"] = timings.get("tokens_per_s")
        scores["total_ms"] = timings.get("total_ms")
        shown_as = record_outcome(record)
        scores["verification_ms"] = timings.get("verification_ms") if shown_as == "generated" and record.get("sentences") else None
        scores["quote_ms"] = timings.get("quote_ms") if shown_as == "quote" else None
    return scores
