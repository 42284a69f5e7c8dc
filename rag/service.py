"""The answering service: the one entry point every surface calls.

question ─ mask identity numbers ─ detect language ─ condense a follow-up
         ─ retrieve (access filter, relevance floor: refuse without the LLM)
         ─ prompt with numbered, fenced sources ─ stream from the model
         ─ verify citations ─ audit ─ Answer
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from collections.abc import AsyncIterator, Iterator

from rag.audit import AuditLog
from rag.citations import lexical_support, process_citations
from rag.embeddings import get_embedder
from rag.errors import FagpratError, InvalidQuestionError
from rag.language import detect_language
from rag.llm import LLM, load_llm
from rag.models import Answer, AnswerEvent, ChatTurn, Passage, Question, StreamEvent, Timings, TokenEvent
from rag.privacy import MASK_NOTICE, mask_identity_numbers
from rag.prompting import build_answer_messages, condense_question, refusal_text
from rag.retrieval import RetrievalResult, Retriever
from rag.settings import Settings
from rag.store import Store

# Refusal reasons recorded in the answer and the audit log.
REASON_NOT_FOUND = "no_relevant_sources"
REASON_UNSUPPORTED = "answer_not_supported_by_sources"

# A sentence the model left uncited is attributed to a source only when that
# source supports it at least this well (see rag/citations.py: lexical_support).
MIN_ATTRIBUTION_SUPPORT = 0.6


class AnsweringService:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = Store(settings)
        self.embedder = get_embedder(settings)
        self.retriever = Retriever(settings, store=self.store, embedder=self.embedder)
        self.audit = AuditLog(settings.resolved_audit_log_path, enabled=settings.audit_enabled)

    # --- public API -----------------------------------------------------------
    def llm(self, name: str = "") -> LLM:
        return load_llm(self.settings.model_setup(name or None))

    def search(self, question: Question) -> RetrievalResult:
        prepared = self._prepare(question)
        return self._retrieve(prepared, Timings())

    def answer(self, question: Question) -> Answer:
        for event in self.stream(question):
            if isinstance(event, AnswerEvent):
                return event.answer
        raise FagpratError("The answer stream ended without a result")

    def stream(self, question: Question) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        timings = Timings()
        prepared = self._prepare(question)
        retrieval = self._retrieve(prepared, timings)
        language = prepared.language

        if not retrieval.relevant:
            answer = self._refusal(prepared, retrieval, REASON_NOT_FOUND, timings)
            yield TokenEvent(text=answer.text)
            yield self._finish(answer, prepared, started)
            return

        llm = self.llm(prepared.model)
        setup = llm.setup
        messages, in_prompt = build_answer_messages(
            retrieval.standalone_question, retrieval.passages, language, llm, max_answer_tokens=setup.max_tokens
        )
        pieces: list[str] = []
        generation_started = time.perf_counter()
        first_token_at: float | None = None
        for piece in llm.stream(messages, max_tokens=setup.max_tokens):
            if first_token_at is None:
                first_token_at = time.perf_counter()
            pieces.append(piece)
            yield TokenEvent(text=piece)
        finished = time.perf_counter()
        raw_text = "".join(pieces).strip()

        timings.prompt_tokens = sum(llm.count_tokens(str(m.content)) for m in messages)
        timings.completion_tokens = llm.count_tokens(raw_text) if raw_text else 0
        timings.generation_ms = (finished - generation_started) * 1000
        if first_token_at is not None:
            timings.first_token_ms = (first_token_at - generation_started) * 1000
            decode_s = finished - first_token_at
            if decode_s > 0 and timings.completion_tokens > 1:
                timings.tokens_per_s = (timings.completion_tokens - 1) / decode_s

        answer = self._verified_answer(prepared, retrieval, in_prompt, raw_text, timings, llm)
        yield self._finish(answer, prepared, started)

    async def astream(self, question: Question) -> AsyncIterator[StreamEvent]:
        """`stream` for async surfaces: generation runs in a worker thread."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancelled = threading.Event()
        done = object()

        def produce() -> None:
            try:
                for event in self.stream(question):
                    if cancelled.is_set():
                        return
                    loop.call_soon_threadsafe(queue.put_nowait, event)
            except BaseException as exc:  # handed to the consumer, raised there
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, done)

        worker = threading.Thread(target=produce, name="fagprat-answer", daemon=True)
        worker.start()
        try:
            while True:
                item = await queue.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            cancelled.set()

    def facets(self, access_groups: list[str] | None = None) -> dict[str, list[str]]:
        """Document types and publishers a filter can offer; with groups, only those the caller can see."""
        return {
            "doc_types": self.store.facet_values("doc_type", access_groups),
            "publishers": self.store.facet_values("publisher", access_groups),
        }

    # --- steps ----------------------------------------------------------------
    def _prepare(self, question: Question) -> _Prepared:
        text = question.text.strip()
        if not text:
            raise InvalidQuestionError("empty question", user_message="Skriv et spørsmål først.")
        limit = self.settings.max_question_chars
        if len(text) > limit:
            raise InvalidQuestionError(
                f"question of {len(text)} characters exceeds {limit}",
                user_message=f"Spørsmålet er for langt ({len(text)} tegn). Korte det ned til under {limit} tegn.",
            )
        masked, found = mask_identity_numbers(text)
        history: list[ChatTurn] = []
        for turn in question.history[-2 * self.settings.condense_history_turns :]:
            content, hits = mask_identity_numbers(turn.content[:limit])
            found += hits
            history.append(ChatTurn(role=turn.role, content=content))
        groups = question.access_groups or list(self.settings.default_access_groups)
        return _Prepared(
            question=question,
            text=masked,
            history=history,
            language=detect_language(masked),
            access_groups=groups,
            notices=[MASK_NOTICE] if found else [],
            model=question.model,
        )

    def _retrieve(self, prepared: _Prepared, timings: Timings) -> RetrievalResult:
        standalone = prepared.text
        if prepared.history:
            condense_started = time.perf_counter()
            standalone = condense_question(
                self.llm(prepared.model),
                prepared.history,
                prepared.text,
                prepared.language,
                max_turns=self.settings.condense_history_turns,
            )
            timings.condense_ms = (time.perf_counter() - condense_started) * 1000
        result = self.retriever.search(
            standalone,
            access_groups=prepared.access_groups,
            doc_types=prepared.question.doc_types,
            publishers=prepared.question.publishers,
        )
        result.standalone_question = standalone
        timings.retrieval_ms = result.retrieval_ms
        timings.rerank_ms = result.rerank_ms
        return result

    def _refusal(self, prepared: _Prepared, retrieval: RetrievalResult, reason: str, timings: Timings) -> Answer:
        return Answer(
            question=prepared.text,
            standalone_question=retrieval.standalone_question,
            text=refusal_text(prepared.language),
            language=prepared.language,
            refused=True,
            refusal_reason=reason,
            retrieved=retrieval.passages,
            notices=prepared.notices,
            model=self.settings.model_setup(prepared.model or None).name,
            timings=timings,
        )

    def _verified_answer(
        self,
        prepared: _Prepared,
        retrieval: RetrievalResult,
        in_prompt: list[Passage],
        raw_text: str,
        timings: Timings,
        llm: LLM,
    ) -> Answer:
        first_pass = process_citations(raw_text, in_prompt, support_fn=lexical_support)
        attributed_text, attributed = _attribute_uncited(raw_text, first_pass.uncited_sentences, in_prompt)
        result = process_citations(attributed_text, in_prompt, support_fn=lexical_support) if attributed else first_pass
        common = dict(
            question=prepared.text,
            standalone_question=retrieval.standalone_question,
            raw_text=raw_text,
            language=prepared.language,
            retrieved=retrieval.passages,
            removed_citations=first_pass.removed,
            prompt_sources=len(in_prompt),
            notices=prepared.notices,
            model=llm.name,
            model_version=llm.version,
            timings=timings,
        )
        if not result.citations:
            # Nothing the model said could be tied to a source: refuse rather than guess.
            return Answer(
                **common,
                text=refusal_text(prepared.language),
                refused=True,
                refusal_reason=REASON_UNSUPPORTED,
            )
        return Answer(
            **common,
            text=result.text,
            citations=result.citations,
            uncited_sentences=result.uncited_sentences,
            attributed_sentences=attributed,
        )

    def _finish(self, answer: Answer, prepared: _Prepared, started: float) -> AnswerEvent:
        answer.timings.total_ms = (time.perf_counter() - started) * 1000
        self.audit.record(
            answer,
            user=prepared.question.user,
            access_groups=prepared.access_groups,
            model=answer.model,
            model_version=answer.model_version,
        )
        return AnswerEvent(answer=answer)


@dataclass
class _Prepared:
    """A validated, masked question with what the later steps need."""

    question: Question
    text: str
    history: list[ChatTurn]
    language: str
    access_groups: list[str]
    notices: list[str]
    model: str


def _attribute_uncited(raw_text: str, uncited: list[str], passages: list[Passage]) -> tuple[str, list[str]]:
    """Give an uncited factual sentence the source that clearly supports it.

    Small models often state a fact from a source without its [n]. A sentence
    gets the marker of the one passage that supports it well (numbers
    included); the rest stay flagged as uncited. Returns the model text with
    the added markers (source numbers as in the prompt) and the sentences
    that were attributed."""
    attributed: list[str] = []
    for sentence in uncited:
        if not passages or sentence not in raw_text:
            continue
        support, number = max((lexical_support(sentence, p.text), n) for n, p in enumerate(passages, start=1))
        if support >= MIN_ATTRIBUTION_SUPPORT:
            raw_text = raw_text.replace(sentence, _with_marker(sentence, number), 1)
            attributed.append(sentence)
    return raw_text, attributed


def _with_marker(sentence: str, number: int) -> str:
    stripped = sentence.rstrip()
    if stripped and stripped[-1] in ".!?":
        return f"{stripped[:-1]} [{number}]{stripped[-1]}"
    return f"{stripped} [{number}]"


_services: dict[str, AnsweringService] = {}
_services_lock = threading.Lock()


def get_service(settings: Settings | None = None) -> AnsweringService:
    """The process's service for these settings (surfaces share one Qdrant client)."""
    from rag.settings import get_settings

    settings = settings or get_settings()
    key = settings.model_dump_json()
    with _services_lock:
        service = _services.get(key)
        if service is None:
            service = AnsweringService(settings)
            _services[key] = service
        return service

