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
        refused=answer.refused,
        refusal_reason=answer.refusal_reason,
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
        timings=answer.timings.model_dump(),
    )
    return record


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
    if "correctness" in groups:
        scores["answer_correctness"] = metrics.answer_correctness(record["answer"], key_facts) if answerable else None
    if "latency" in groups:
        timings = record["timings"]
        scores["first_token_ms"] = timings.get("first_token_ms")
        scores["tokens_per_s"] = timings.get("tokens_per_s")
        scores["total_ms"] = timings.get("total_ms")
    return scores
