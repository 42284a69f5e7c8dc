"""Hybrid retrieval: dense + BM25 fused by weighted RRF in Qdrant, the caller's
access filter, an optional cross-encoder, and a relevance floor.

RRF ranks well but its scores say nothing about whether anything matched at
all. The floor therefore uses a separate relevance per passage built from two
signals that do: the share of the question's content terms found in the
passage (stemmed), and the dense cosine, counted from the cosine the embedder
gives unrelated text. Lexical overlap only means something within one
language: an English question over a Norwegian passage shares few terms even
when the passage answers it, so across languages the dense signal alone
decides. The weights and the threshold (`min_relevance`) are settings,
calibrated on the gold questions by `benchmarks/retrieval_quality.py`.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.embeddings import Embedder, get_embedder
from rag.errors import ConfigurationError
from rag.language import detect_language
from rag.models import Language, Passage
from rag.settings import Settings
from rag.sparse import BM25Encoder
from rag.store import Hit, SearchFilter, Store
from rag.text import analyze, tokenize
from rag.vocabulary import candidate_words, unknown_words


@dataclass
class RetrievalResult:
    query: str
    passages: list[Passage]
    best_relevance: float
    relevant: bool
    retrieval_ms: float
    rerank_ms: float = 0.0
    standalone_question: str = ""
    candidates: int = 0
    # Rare question words no chunk the user may read contains (rag.vocabulary): the question
    # is about something the library does not cover, whatever the passages score.
    unknown_terms: list[str] = field(default_factory=list)


def term_coverage(query_terms: set[str], passage_text: str) -> float:
    """Share of the query's distinct content terms that occur in the passage."""
    if not query_terms:
        return 0.0
    return len(query_terms & set(analyze(passage_text, nynorsk_as_bokmaal=True))) / len(query_terms)


def dense_relevance(dense_cosine: float | None, baseline: float) -> float:
    """The cosine rescaled so that `baseline` (what unrelated text scores) is 0 and identical text is 1."""
    if dense_cosine is None:
        return 0.0
    return min(max((dense_cosine - baseline) / (1.0 - baseline), 0.0), 1.0)


def same_language(question: Language, passage: Language) -> bool:
    """Bokmål and nynorsk share most terms (and the Norwegian stemmer); English shares few with either."""
    return (question == "en") == (passage == "en")


def relevance_score(
    coverage: float, dense_cosine: float | None, *, lexical_weight: float, dense_baseline: float, same_language: bool = True
) -> float:
    dense = dense_relevance(dense_cosine, dense_baseline)
    if not same_language:
        return dense
    return lexical_weight * coverage + (1.0 - lexical_weight) * dense


def passage_from_payload(payload: dict[str, Any], chunk_id: str, **scores: Any) -> Passage:
    def date(value: Any) -> dt.date | None:
        return dt.date.fromisoformat(value) if value else None

    return Passage(
        chunk_id=chunk_id,
        doc_id=payload.get("doc_id", ""),
        text=payload.get("text", ""),
        title=payload.get("title", ""),
        heading_path=payload.get("heading_path") or [],
        page_start=payload.get("page_start"),
        page_end=payload.get("page_end"),
        publisher=payload.get("publisher", ""),
        doc_type=payload.get("doc_type", ""),
        url=payload.get("url", ""),
        source_path=payload.get("source_path", ""),
        updated=date(payload.get("updated")),
        version=payload.get("version", "") or "",
        review_due=date(payload.get("review_due")),
        language=payload.get("language", "nb"),
        access_groups=payload.get("access_groups") or [],
        credit=payload.get("credit", "") or "",
        **scores,
    )


@lru_cache(maxsize=2)
def _load_cross_encoder(path: str, device: str):  # type: ignore[no-untyped-def]
    from sentence_transformers import CrossEncoder

    try:
        return CrossEncoder(path, device=device, local_files_only=True)
    except Exception as exc:
        raise ConfigurationError(f"Cannot load reranker from {path!r}: {exc}") from exc


class Retriever:
    def __init__(self, settings: Settings, *, store: Store | None = None, embedder: Embedder | None = None):
        self.settings = settings
        self.store = store or Store(settings)
        self.embedder = embedder or get_embedder(settings)
        # Questions embedded by one model must not search vectors another model made.
        self.store.require_identity(self.embedder.identity)
        self.sparse = BM25Encoder(settings)

    def search(
        self,
        query: str,
        *,
        access_groups: list[str],
        doc_types: list[str] | None = None,
        publishers: list[str] | None = None,
        top_k: int | None = None,
    ) -> RetrievalResult:
        settings = self.settings
        top_k = top_k or settings.top_k
        started = time.perf_counter()
        dense = self.embedder.embed_queries([query])[0]
        flt = SearchFilter(access_groups, doc_types or (), publishers or ())
        hits = self.store.hybrid_search(
            dense.tolist(),
            self.sparse.encode_query(query),
            flt,
            limit=max(top_k, settings.rerank_candidates if settings.reranker_model else 0),
            dense_candidates=settings.dense_candidates,
            sparse_candidates=settings.sparse_candidates,
            dense_weight=settings.dense_weight,
            sparse_weight=settings.sparse_weight,
            rrf_k=settings.rrf_k,
        )
        retrieval_ms = (time.perf_counter() - started) * 1000
        query_terms = set(analyze(query, nynorsk_as_bokmaal=True))
        query_language = detect_language(query)
        passages = [self._passage(hit, query_terms, query_language) for hit in hits]
        rerank_ms = 0.0
        if settings.reranker_model and passages:
            rerank_started = time.perf_counter()
            passages = self._rerank(query, passages)
            rerank_ms = (time.perf_counter() - rerank_started) * 1000
        passages = passages[:top_k]
        best = max((p.relevance for p in passages), default=0.0)
        unknown = self._unknown_terms(query, query_language, hits, flt) if settings.unknown_term_gate else []
        return RetrievalResult(
            query=query,
            passages=passages,
            best_relevance=best,
            relevant=best >= settings.min_relevance and not unknown,
            retrieval_ms=retrieval_ms,
            rerank_ms=rerank_ms,
            candidates=len(hits),
            unknown_terms=unknown,
        )

    def _unknown_terms(self, query: str, language: Language, hits: list[Hit], flt: SearchFilter) -> list[str]:
        candidates = candidate_words(
            query, language, min_chars=self.settings.unknown_term_min_chars, max_zipf=self.settings.unknown_term_max_zipf
        )
        if not candidates:
            return []
        nearby = {word for hit in hits for word in tokenize(hit.payload.get("text", ""))}
        return unknown_words(
            candidates,
            lambda indices: self.store.terms_present(sorted(indices), flt),
            nearby,
            max_zipf=self.settings.unknown_term_max_zipf,
        )

    def _passage(self, hit: Hit, query_terms: set[str], query_language: Language) -> Passage:
        title = hit.payload.get("title", "")
        heading = " > ".join(hit.payload.get("heading_path") or [])
        coverage = term_coverage(query_terms, f"{title}\n{heading}\n{hit.payload.get('text', '')}")
        relevance = relevance_score(
            coverage,
            hit.dense_score,
            lexical_weight=self.settings.relevance_lexical_weight,
            dense_baseline=self.settings.relevance_dense_baseline,
            same_language=same_language(query_language, hit.payload.get("language") or "nb"),
        )
        return passage_from_payload(
            hit.payload,
            chunk_id=hit.id,
            score=hit.fused_score,
            relevance=relevance,
            dense_score=hit.dense_score,
            sparse_score=hit.sparse_score,
        )

    def _rerank(self, query: str, passages: list[Passage]) -> list[Passage]:
        model = _load_cross_encoder(self.settings.reranker_model, self.settings.embedding_device)
        scores = model.predict([(query, f"{p.title}\n{p.text}") for p in passages], show_progress_bar=False)
        for passage, score in zip(passages, scores, strict=True):
            passage.rerank_score = float(score)
        return sorted(passages, key=lambda p: p.rerank_score or 0.0, reverse=True)


class FagpratRetriever(BaseRetriever):
    """LangChain view of the retriever, fixed to one caller's access groups."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Retriever
    access_groups: list[str]
    doc_types: list[str] = []
    publishers: list[str] = []

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        result = self.retriever.search(
            query, access_groups=self.access_groups, doc_types=self.doc_types, publishers=self.publishers
        )
        return [LCDocument(page_content=p.text, metadata=p.model_dump(mode="json")) for p in result.passages]
