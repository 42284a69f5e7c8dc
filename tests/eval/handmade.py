"""Hand-made answers in the shape the answering service returns (rag.models),
turned into eval records by the real eval.records code, for tests whose
expected values are worked out by hand in the comments."""

from __future__ import annotations

from typing import Any

from eval.questions import GoldQuestion
from eval.records import answer_record, judge_free_scores
from rag.models import Answer, AnswerSentence, Citation, GateVerdict, Passage, Timings

GROUPS = ["retrieval", "citations", "refusal", "outcomes", "correctness", "verification", "gate", "latency"]
PASSAGE_A = Passage(chunk_id="1", doc_id="file:a.md", title="A", text="Mål: SpO2 88–92 %. Ny blodgass etter 30–60 minutter.")
PASSAGE_B = Passage(chunk_id="2", doc_id="file:b.md", title="B", text="Antibiotika innen 1 time. PVK inspiseres minst hver 8. time.")


def question(qid: str, key_facts: list[str]) -> GoldQuestion:
    answerable = bool(key_facts)
    return GoldQuestion(
        id=qid,
        question=f"Spørsmål {qid}?",
        language="nb",
        answerable=answerable,
        reference_answer="Referanse." if answerable else "",
        key_facts=key_facts,
        source_doc_ids=["file:a.md"] if answerable else [],
    )


def sentence(text: str, verified: bool, citations: list[int] | None = None, quote: bool = False) -> AnswerSentence:
    return AnswerSentence(text=text, verified=verified, citations=citations or [], support=0.9 if verified else 0.1, quote=quote)


def gate(answerable: bool, prompt: int, completion: int, ms: float, error: str = "") -> GateVerdict:
    return GateVerdict(answerable=answerable, prompt_tokens=prompt, completion_tokens=completion, ms=ms, error=error)


def answer(
    kind: str,
    sentences: list[AnswerSentence] = (),  # type: ignore[assignment]
    *,
    fallback: str = "",
    removed: list[str] = (),  # type: ignore[assignment]
    raw_text: str = "",
    verdict: GateVerdict | None = None,
    total_ms: float = 1000.0,
    text: str = "",
) -> Answer:
    refused = kind == "refusal"
    return Answer(
        question="q",
        standalone_question="q",
        text=text or ("Jeg fant ikke svaret." if refused else " ".join(s.text for s in sentences)),
        kind=kind,  # type: ignore[arg-type]
        refused=refused,
        refusal_reason="not_answerable" if refused else "",
        fallback_reason=fallback,
        sentences=list(sentences),
        citations=[] if refused else [Citation(number=1, passage=PASSAGE_A, support=0.9)],
        retrieved=[PASSAGE_A, PASSAGE_B],
        prompt_sources=2,
        removed_sentences=list(removed),
        raw_text=raw_text,
        gate=verdict,
        timings=Timings(total_ms=total_ms, verification_ms=50.0 if kind == "generated" else 0.0, quote_ms=20.0 if kind == "quote" else 0.0),
    )


def record(setup: str, gold: GoldQuestion, given: Answer, judgements: dict[str, Any] | None = None) -> dict[str, Any]:
    made = answer_record(setup, gold, given)
    made["scores"] = judge_free_scores(made, [1, 3], GROUPS)
    if judgements:
        made["judgements"] = judgements
    return made


def judged(value: float | None, error: str = "", not_applicable: str = "") -> dict[str, Any]:
    return {"value": value, "error": error, "not_applicable": not_applicable}
