"""The data that flows through fagprat: documents, chunks, passages, answers.

Loaders produce `Document`s, the chunker turns them into `Chunk`s, retrieval
returns `Passage`s, and the answering service returns an `Answer`. Every
surface (chat, Teams, CLI, eval) consumes these types and nothing else.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

Language = Literal["nb", "nn", "en"]
BlockKind = Literal["text", "list", "table", "recommendation"]


class DocumentMetadata(BaseModel):
    doc_id: str = Field(description="Stable id: 'file:<path relative to the library root>' (ingest/metadata.py), or a source's own id such as 'hapi:<id>'")
    title: str
    publisher: str = ""
    doc_type: str = Field(default="", description="retningslinje, veileder, prosedyre, metodebok, ...")
    url: str = Field(default="", description="Public page to cite, when there is one")
    source_path: str = Field(default="", description="Local file the document came from")
    updated: dt.date | None = Field(default=None, description="Last (professionally) updated / version date")
    version: str = ""
    valid_from: dt.date | None = Field(default=None, description="'Gyldig fra' of a local procedure")
    review_due: dt.date | None = Field(default=None, description="'Revisjonsfrist' of a local procedure")
    external_id: str = Field(default="", description="Id in the source system (EQS, eHåndbok, HAPI)")
    language: Language = "nb"
    access_groups: list[str] = Field(default_factory=lambda: ["nasjonal"])
    credit: str = Field(default="", description="Attribution a licence requires, e.g. NLOD for Helsedirektoratet")
    page_count: int | None = None

    @property
    def link(self) -> str:
        """What a reader opens: the public URL, else the local file."""
        return self.url or self.source_path


class Block(BaseModel):
    """One unit of content under a heading: a paragraph, a list, a table or a
    recommendation. Tables and recommendations are kept whole where they fit."""

    kind: BlockKind = "text"
    text: str
    heading_path: list[str] = Field(default_factory=list)
    page: int | None = Field(default=None, description="1-based page (PDF)")


class Document(BaseModel):
    """A loaded document: metadata plus its content as blocks in reading order.

    The heading tree is carried by each block's `heading_path` (root first)."""

    meta: DocumentMetadata
    blocks: list[Block]
    content_hash: str = Field(default="", description="Hash of the source bytes; drives incremental ingest")

    @property
    def text(self) -> str:
        return "\n\n".join(b.text for b in self.blocks)

    def outline(self) -> list[list[str]]:
        """Distinct heading paths in reading order (the heading tree, flattened)."""
        seen: list[list[str]] = []
        for block in self.blocks:
            if not seen or seen[-1] != block.heading_path:
                if block.heading_path not in seen:
                    seen.append(block.heading_path)
        return seen


class Chunk(BaseModel):
    chunk_id: str = Field(description="Deterministic UUID from document id, position and content")
    doc_id: str
    chunk_index: int
    text: str
    heading_path: list[str] = Field(default_factory=list)
    page_start: int | None = None
    page_end: int | None = None
    token_count: int = 0

    def indexed_text(self, title: str, with_header: bool = True) -> str:
        """What the embedder and BM25 see: the title and heading path give a
        short chunk the context its own words lack."""
        if not with_header:
            return self.text
        header = " > ".join([title, *[h for h in self.heading_path if h != title]])
        return f"{header}\n{self.text}"


class Passage(BaseModel):
    """A retrieved chunk with what a reader needs to open and trust it."""

    chunk_id: str
    doc_id: str
    text: str
    title: str
    heading_path: list[str] = Field(default_factory=list)
    page_start: int | None = None
    page_end: int | None = None
    publisher: str = ""
    doc_type: str = ""
    url: str = ""
    source_path: str = ""
    updated: dt.date | None = None
    version: str = ""
    review_due: dt.date | None = None
    language: Language = "nb"
    access_groups: list[str] = Field(default_factory=list)
    credit: str = ""
    score: float = Field(default=0.0, description="Fused retrieval score (rank-based)")
    relevance: float = Field(default=0.0, description="Calibrated relevance used by the floor")
    dense_score: float | None = None
    sparse_score: float | None = None
    rerank_score: float | None = None

    @property
    def link(self) -> str:
        return self.url or self.source_path

    @property
    def heading(self) -> str:
        return " > ".join(self.heading_path)

    @property
    def pages(self) -> str:
        if self.page_start is None:
            return ""
        if self.page_end and self.page_end != self.page_start:
            return f"{self.page_start}-{self.page_end}"
        return str(self.page_start)

    def review_overdue(self, today: dt.date | None = None) -> bool:
        return bool(self.review_due and self.review_due < (today or dt.date.today()))


class ChatTurn(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class Question(BaseModel):
    """What a surface asks the answering service."""

    text: str
    history: list[ChatTurn] = Field(default_factory=list)
    user: str = "anonym"
    access_groups: list[str] = Field(default_factory=list, description="The caller's groups; empty = defaults")
    doc_types: list[str] = Field(default_factory=list)
    publishers: list[str] = Field(default_factory=list)
    model: str = Field(default="", description="Named model set-up; empty = the default")


class Citation(BaseModel):
    number: int = Field(description="[n] in the answer text, renumbered by first appearance")
    passage: Passage
    sentences: list[str] = Field(default_factory=list, description="Answer sentences that cite it")
    support: float = Field(default=0.0, description="0-1: how well the passage supports those sentences (the weakest)")
    highlights: list[str] = Field(
        default_factory=list,
        description="Verbatim spans of the passage text that support the cited sentences (shown highlighted)",
    )


AnswerKind = Literal["generated", "quote", "refusal"]


class AnswerSentence(BaseModel):
    """One sentence as the user is shown it, with what verification found."""

    text: str = Field(description="The sentence without citation markers")
    citations: list[int] = Field(default_factory=list, description="Its [n] numbers; empty unless verified")
    verified: bool = Field(description="A cited passage supports it (support above the calibrated threshold)")
    support: float = Field(default=0.0, description="Best support score found for it (0-1)")
    evidence: str = Field(default="", description="The passage span that supports it (verbatim)")
    quote: bool = Field(default=False, description="A verbatim quote from a source (quote answers)")
    paragraph: int = Field(default=0, description="Paragraph/list item it belongs to, so surfaces keep the layout")


class GateVerdict(BaseModel):
    """The answerability gate: whether the model judged that the sources answer the question."""

    answerable: bool
    sources: list[int] = Field(default_factory=list, description="Prompt source numbers the model named")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ms: float = 0.0
    error: str = Field(default="", description="Why no verdict could be had (the answer then went ahead)")


class Timings(BaseModel):
    condense_ms: float = 0.0
    retrieval_ms: float = 0.0
    rerank_ms: float = 0.0
    gate_ms: float = 0.0
    verification_ms: float = 0.0
    quote_ms: float = 0.0
    first_token_ms: float | None = None
    generation_ms: float = 0.0
    total_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_per_s: float | None = None


class Answer(BaseModel):
    """What every surface shows. `kind` says what it is:

    - generated: the model's answer, verified sentence by sentence; only verified
      sentences carry citations, unverified ones are removed (or kept and marked
      when `keep_unverified_sentences` is set);
    - quote: a sitatsvar, one to three sentences quoted verbatim from the retrieved
      passages, each with its citation, no language model involved
      (`fallback_reason` says why, e.g. the model's answer could not be verified);
    - refusal: nothing is shown as an answer (`refusal_reason` says why).
    """

    question: str = Field(description="The question as received, with identity numbers masked")
    standalone_question: str
    text: str = Field(description="Answer text as plain text with renumbered [n] citations")
    language: Language = "nb"
    kind: AnswerKind = "generated"
    refused: bool = False
    refusal_reason: str = ""
    fallback_reason: str = Field(
        default="", description="Why a quote answer was given: quote_mode, model_unavailable, not_verified, off_topic"
    )
    citations: list[Citation] = Field(default_factory=list, description="Cited sources, each once, in order")
    sentences: list[AnswerSentence] = Field(default_factory=list, description="The shown sentences, in order")
    retrieved: list[Passage] = Field(default_factory=list, description="What retrieval found, best first")
    uncited_sentences: list[str] = Field(
        default_factory=list, description="Unverified sentences kept and shown marked (keep_unverified_sentences)"
    )
    removed_sentences: list[str] = Field(
        default_factory=list, description="Model sentences not shown: unsupported, prompt echo or markup"
    )
    attributed_sentences: list[str] = Field(
        default_factory=list, description="Sentences the model left uncited that one passage supports (cited by the service)"
    )
    addresses_question: float | None = Field(
        default=None, description="How well the shown sentences address the question (0-1), when judged"
    )
    gate: GateVerdict | None = Field(default=None, description="The answerability gate's verdict, when it ran")
    raw_text: str = Field(default="", description="The model's own text, before citation checks (for evaluation)")
    prompt_sources: int = Field(default=0, description="How many retrieved passages fitted in the prompt as [1]..[n]")
    removed_citations: list[int] = Field(default_factory=list, description="Numbers the model invented")
    notices: list[str] = Field(default_factory=list, description="Messages for the user (e.g. masked id numbers)")
    model: str = ""
    model_version: str = ""
    timings: Timings = Field(default_factory=Timings)

    @property
    def verified(self) -> bool:
        """Every shown sentence is supported by its cited passage."""
        return not self.refused and all(s.verified for s in self.sentences)

    @property
    def sources(self) -> list[Passage]:
        return [c.passage for c in self.citations]


class TokenEvent(BaseModel):
    type: Literal["token"] = "token"
    text: str


class AnswerEvent(BaseModel):
    type: Literal["answer"] = "answer"
    answer: Answer


StreamEvent = TokenEvent | AnswerEvent
