"""The answering service: the one entry point every surface calls.

question ─ mask identity numbers ─ detect language ─ condense a follow-up
         ─ retrieve (access filter, relevance floor: refuse without the LLM)
         ─ quote mode: the best sentences of the passages, verbatim (rag/quotes.py)
         ─ or: answerability gate (the model's JSON verdict, rag/answerability.py)
              ─ prompt with numbered, fenced sources ─ stream a draft from the model
              ─ verify claim by claim (rag/verification.py) ─ does it answer the question?
              ─ if nothing verified, or off the question, or the model is down: quote answer
         ─ audit ─ Answer (kind: generated | quote | refusal)
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from rag import addressing
from rag.answerability import check_answerability, gate_enabled
from rag.audit import AuditLog, audited
from rag.embeddings import E5_MODEL, SentenceVectorCache, get_embedder
from rag.errors import FagpratError, InvalidQuestionError, LLMUnavailableError
from rag.language import detect_language
from rag.llm import LLM, load_llm
from rag.messages import (
    FALLBACK_MODEL_UNAVAILABLE,
    FALLBACK_NOT_VERIFIED,
    FALLBACK_OFF_TOPIC,
    FALLBACK_QUOTE_MODE,
    REASON_NO_QUOTE,
    REASON_NOT_ANSWERABLE,
    REASON_NOT_FOUND,
    REASON_UNKNOWN_TERM,
    REASON_UNSUPPORTED,
    fallback_notice,
    refusal_text,
    removed_notice,
)
from rag.models import Answer, AnswerEvent, ChatTurn, Question, StreamEvent, Timings, TokenEvent
from rag.privacy import MASK_NOTICE, mask_identity_numbers, without_masks
from rag.prompting import (
    answer_system_prompt,
    build_answer_messages,
    condense_question,
    fallback_question,
    reads_as_follow_up,
)
from rag.quotes import quote_answer
from rag.retrieval import RetrievalResult, Retriever
from rag.settings import ModelSetup, Settings
from rag.store import Store
from rag.support import SupportChecker
from rag.verification import verify_answer

__all__ = [
    "REASON_NOT_FOUND", "REASON_NOT_ANSWERABLE", "REASON_NO_QUOTE", "REASON_UNSUPPORTED",
    "AnsweringService", "get_service",
]  # fmt: skip

log = logging.getLogger(__name__)

# The support bands in rag/support.py and the addressing bands in rag/addressing.py were
# calibrated on this embedder's similarities; another embedder's cosines mean something else.
CALIBRATED_EMBEDDER = E5_MODEL


class AnsweringService:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = Store(settings)
        self.embedder = get_embedder(settings)
        # Retrieval, the answer check and the support check embed the same question and passage
        # sentences, answer after answer: they share one cache of vectors.
        self.vectors = SentenceVectorCache(self.embedder, settings.sentence_vector_cache)
        self.retriever = Retriever(settings, store=self.store, embedder=self.vectors)
        self.audit = AuditLog(settings.resolved_audit_log_path, enabled=settings.audit_enabled)
        calibrated = self.embedder.identity.get("model") == CALIBRATED_EMBEDDER
        if not calibrated:
            log.warning(
                "Embedder %s is not the one the support check was calibrated on: citations are checked lexically only",
                self.embedder.name,
            )
        self.semantic = self.vectors if calibrated else None
        self.checker = SupportChecker(self.semantic, settings.support_threshold)

    # --- public API -----------------------------------------------------------
    def llm(self, name: str = "") -> LLM:
        return load_llm(self.settings.model_setup(name or None))

    def answer_mode(self, model: str = "") -> str:
        """generate or quote, for this model set-up (`answer_mode=auto` quotes with the bundled toy model)."""
        mode = self.settings.answer_mode
        if mode != "auto":
            return mode
        return "quote" if _is_bundled_toy(self.settings.model_setup(model or None)) else "generate"

    @audited("search")
    def search(self, question: Question) -> RetrievalResult:
        prepared = self._prepare(question)
        result = self._retrieve(prepared, Timings())
        self.audit.record_search(
            result, question=prepared.text, user=question.user, access_groups=prepared.access_groups
        )
        return result

    def answer(self, question: Question) -> Answer:
        for event in self.stream(question):
            if isinstance(event, AnswerEvent):
                return event.answer
        raise FagpratError("The answer stream ended without a result")

    @audited("answer")  # a failed, rejected or abandoned question is audited too
    def stream(self, question: Question) -> Iterator[StreamEvent]:
        """Draft tokens of a generated answer (unverified: surfaces show them as a
        draft), then exactly one `AnswerEvent` with what may be shown."""
        started = time.perf_counter()
        timings = Timings()
        prepared = self._prepare(question)
        mode = self.answer_mode(prepared.model)
        retrieval = self._retrieve(prepared, timings, use_model=mode == "generate")

        if not retrieval.relevant:
            reason = REASON_UNKNOWN_TERM if retrieval.unknown_terms else REASON_NOT_FOUND
            yield self._finish(self._refusal(prepared, retrieval, reason, timings), prepared, started)
            return
        if mode == "quote":
            answer = self._quote(prepared, retrieval, timings, FALLBACK_QUOTE_MODE, refusal=REASON_NO_QUOTE)
            yield self._finish(answer, prepared, started)
            return
        try:
            answer = yield from self._generate(prepared, retrieval, timings)
        except LLMUnavailableError as error:
            log.warning("Model unavailable, answering with quotes: %s", error)
            answer = self._quote(prepared, retrieval, timings, FALLBACK_MODEL_UNAVAILABLE, refusal=REASON_NO_QUOTE)
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

    def _retrieve(self, prepared: _Prepared, timings: Timings, *, use_model: bool = True) -> RetrievalResult:
        standalone = prepared.text
        if prepared.history:
            condense_started = time.perf_counter()
            turns = self.settings.condense_history_turns
            if use_model:
                standalone = condense_question(
                    self.llm(prepared.model), prepared.history, prepared.text, prepared.language, max_turns=turns
                )
            elif reads_as_follow_up(prepared.text):  # quote mode uses no language model, not even here
                standalone = fallback_question(prepared.history[-turns:], prepared.text)
            timings.condense_ms = (time.perf_counter() - condense_started) * 1000
        result = self.retriever.search(
            without_masks(standalone),
            access_groups=prepared.access_groups,
            doc_types=prepared.question.doc_types,
            publishers=prepared.question.publishers,
        )
        result.standalone_question = standalone
        timings.retrieval_ms = result.retrieval_ms
        timings.rerank_ms = result.rerank_ms
        return result

    def _generate(
        self, prepared: _Prepared, retrieval: RetrievalResult, timings: Timings
    ) -> Iterator[StreamEvent | Answer]:
        """Gate, draft, verify. Yields draft tokens; returns the answer to show."""
        llm = self.llm(prepared.model)
        setup = llm.setup
        language = prepared.language
        question = retrieval.standalone_question

        verdict = None
        if gate_enabled(self.settings.answerability_gate, setup.backend):
            verdict = check_answerability(llm, question, retrieval.passages, language)
            timings.gate_ms = verdict.ms
            if not verdict.answerable:
                answer = self._refusal(prepared, retrieval, REASON_NOT_ANSWERABLE, timings)
                answer.gate = verdict
                answer.model, answer.model_version = llm.name, llm.version
                return answer

        messages, in_prompt = build_answer_messages(
            question, retrieval.passages, language, llm, max_answer_tokens=setup.max_tokens
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

        verify_started = time.perf_counter()
        verified = verify_answer(
            raw_text,
            in_prompt,
            self.checker,
            language=language,
            instructions=answer_system_prompt(language),
            keep_unverified=self.settings.keep_unverified_sentences,
        )
        shown = " ".join(s.text for s in verified.sentences if s.verified)
        cited = "\n".join(f"{c.passage.title}\n{c.passage.text}" for c in verified.citations)
        fit = (
            addressing.addresses(
                self._profile(question),
                shown,
                self._passage_vector(shown),
                addressing.ANSWER_WEIGHTS,
                surroundings=f"{shown}\n{cited}",
            )
            if shown
            else 0.0
        )
        timings.verification_ms = (time.perf_counter() - verify_started) * 1000

        common = dict(
            raw_text=raw_text, removed_citations=verified.invalid_citations, prompt_sources=len(in_prompt),
            removed_sentences=verified.removed, gate=verdict, model=llm.name, model_version=llm.version,
        )
        if verified.verified_count == 0 or fit < self.settings.addresses_threshold:
            reason = FALLBACK_NOT_VERIFIED if verified.verified_count == 0 else FALLBACK_OFF_TOPIC
            answer = self._quote(prepared, retrieval, timings, reason, refusal=REASON_UNSUPPORTED)
            return answer.model_copy(update=common)
        notices = list(prepared.notices)
        dropped = len(verified.removed_claims)
        if dropped:
            notices.append(removed_notice(language, dropped))
        return Answer(
            question=prepared.text,
            standalone_question=question,
            text=verified.text,
            language=language,
            kind="generated",
            citations=verified.citations,
            sentences=verified.sentences,
            retrieved=retrieval.passages,
            uncited_sentences=verified.unverified,
            attributed_sentences=verified.attributed,
            addresses_question=fit,
            notices=notices,
            timings=timings,
            **common,
        )

    def _quote(
        self, prepared: _Prepared, retrieval: RetrievalResult, timings: Timings, reason: str, *, refusal: str
    ) -> Answer:
        """The quote answer, or a refusal (`refusal`) when no sentence addresses the question."""
        started = time.perf_counter()
        question = self._profile(retrieval.standalone_question)
        quotes = quote_answer(
            question,
            retrieval.passages,
            self.semantic,
            language=prepared.language,
            max_sentences=self.settings.quote_max_sentences,
        )
        timings.quote_ms = (time.perf_counter() - started) * 1000
        best = quotes.best_score if quotes else 0.0
        if quotes is None or best < self.settings.addresses_threshold:
            answer = self._refusal(prepared, retrieval, refusal, timings)
            answer.fallback_reason = reason
            answer.addresses_question = best
            return answer
        return Answer(
            question=prepared.text,
            standalone_question=retrieval.standalone_question,
            text=quotes.text,
            language=prepared.language,
            kind="quote",
            fallback_reason=reason,
            citations=quotes.citations,
            sentences=quotes.sentences,
            retrieved=retrieval.passages,
            addresses_question=best,
            notices=[*prepared.notices, fallback_notice(prepared.language, reason)],
            model="" if reason == FALLBACK_QUOTE_MODE else self.settings.model_setup(prepared.model or None).name,
            timings=timings,
        )

    def _profile(self, question: str) -> addressing.QuestionProfile:
        return addressing.profile(without_masks(question), self.semantic)

    def _passage_vector(self, text: str):  # type: ignore[no-untyped-def]
        return self.semantic.embed_passages([text])[0] if self.semantic is not None else None

    def _refusal(self, prepared: _Prepared, retrieval: RetrievalResult, reason: str, timings: Timings) -> Answer:
        return Answer(
            question=prepared.text,
            standalone_question=retrieval.standalone_question,
            text=refusal_text(prepared.language, reason, terms=retrieval.unknown_terms),
            language=prepared.language,
            kind="refusal",
            refused=True,
            refusal_reason=reason,
            retrieved=retrieval.passages,
            notices=prepared.notices,
            model=self.settings.model_setup(prepared.model or None).name,
            timings=timings,
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


def _is_bundled_toy(setup: ModelSetup) -> bool:
    """The in-process default with no model file configured: the bundled 135M model."""
    return setup.backend == "llamacpp" and not setup.model_path


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
