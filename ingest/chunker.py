"""Structure-aware chunking, measured in the embedding model's own tokens.

Order of preference for a boundary: a heading (chunks never span two
sections), a block (paragraph, list, table, recommendation), a sentence, and
only for a single sentence longer than the budget, a word. Every chunk is
embedded with its title and heading path in front (`Chunk.indexed_text`), and
that whole text fits the model's window: nothing is silently truncated.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.models import Block, Chunk, Document

# Namespace for deterministic point ids (any fixed UUID works; never change it).
CHUNK_NAMESPACE = uuid.UUID("6f2c1a8e-5d0b-4b8e-9a63-2f7e8c4d1b90")

# Sentence ends, then words: the splitter tries these in order for an oversize block.
_SPLIT_SEPARATORS = ["\n\n", "\n", r"(?<=[.!?:;])\s+", r"(?<=,)\s+", " "]
# Never let a long heading path eat the whole budget.
_MIN_TEXT_TOKENS = 48


def chunk_id(doc_id: str, index: int, text: str) -> str:
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()
    return str(uuid.uuid5(CHUNK_NAMESPACE, f"{doc_id}|{index}|{digest}"))


@dataclass
class _Piece:
    text: str
    page: int | None
    tokens: int


@dataclass
class _Draft:
    pieces: list[_Piece] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        # +1 per join: the blank line between pieces costs at most a token.
        return sum(p.tokens for p in self.pieces) + max(len(self.pieces) - 1, 0)


class Chunker:
    def __init__(
        self, count_tokens: Callable[[str], int], *, max_tokens: int, overlap_tokens: int, with_header: bool = True
    ):
        """`max_tokens` is the budget for the whole indexed text (header + chunk)."""
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.with_header = with_header

    def indexed_text(self, chunk: Chunk, title: str) -> str:
        return chunk.indexed_text(title, self.with_header)

    def chunk(self, document: Document) -> list[Chunk]:
        title = document.meta.title
        chunks: list[Chunk] = []
        sections = groupby(document.blocks, key=lambda b: tuple(b.heading_path))
        for heading_path, blocks in sections:
            path = list(heading_path)
            header_path = self._fitting_heading_path(title, path)
            probe = Chunk(chunk_id="", doc_id="", chunk_index=0, text="", heading_path=header_path)
            budget = self.max_tokens - self.count_tokens(self.indexed_text(probe, title)) - 1
            for draft in self._pack(list(blocks), budget):
                text = "\n\n".join(p.text for p in draft.pieces)
                pages = [p.page for p in draft.pieces if p.page is not None]
                chunk = Chunk(
                    chunk_id="",
                    doc_id=document.meta.doc_id,
                    chunk_index=len(chunks),
                    text=text,
                    heading_path=header_path,
                    page_start=min(pages) if pages else None,
                    page_end=max(pages) if pages else None,
                )
                for fitted in self._enforce_budget(chunk, title, budget):
                    fitted.chunk_index = len(chunks)
                    fitted.chunk_id = chunk_id(document.meta.doc_id, fitted.chunk_index, fitted.text)
                    fitted.token_count = self.count_tokens(self.indexed_text(fitted, title))
                    chunks.append(fitted)
        return chunks

    def _fitting_heading_path(self, title: str, path: list[str]) -> list[str]:
        """Drop the outermost headings while the header leaves too little room."""
        while path:
            probe = Chunk(chunk_id="", doc_id="", chunk_index=0, text="", heading_path=path)
            if self.max_tokens - self.count_tokens(self.indexed_text(probe, title)) >= _MIN_TEXT_TOKENS:
                break
            path = path[1:]
        return path

    def _splitter(self, budget: int, overlap: int) -> RecursiveCharacterTextSplitter:
        return RecursiveCharacterTextSplitter(
            chunk_size=budget,
            chunk_overlap=min(overlap, budget // 2),
            length_function=self.count_tokens,
            separators=_SPLIT_SEPARATORS,
            is_separator_regex=True,
            keep_separator="end",
        )

    def _pieces(self, block: Block, budget: int) -> list[_Piece]:
        tokens = self.count_tokens(block.text)
        if tokens <= budget:
            return [_Piece(block.text, block.page, tokens)]
        # A table or list too big to keep whole is split between rows/items, never inside one if avoidable.
        overlap = 0 if block.kind in ("table", "list") else self.overlap_tokens
        return [
            _Piece(text, block.page, self.count_tokens(text))
            for text in self._splitter(budget, overlap).split_text(block.text)
            if text.strip()
        ]

    def _pack(self, blocks: list[Block], budget: int) -> list[_Draft]:
        drafts: list[_Draft] = [_Draft()]
        for block in blocks:
            for piece in self._pieces(block, budget):
                current = drafts[-1]
                if current.pieces and current.tokens + 1 + piece.tokens > budget:
                    drafts.append(_Draft())
                drafts[-1].pieces.append(piece)
        return [d for d in drafts if d.pieces]

    def _enforce_budget(self, chunk: Chunk, title: str, budget: int) -> list[Chunk]:
        """Token counts of joined text can differ from the sum of parts; re-split the rare chunk that overflows."""
        if self.count_tokens(self.indexed_text(chunk, title)) <= self.max_tokens:
            return [chunk]
        parts = self._splitter(max(budget - 8, _MIN_TEXT_TOKENS // 2), 0).split_text(chunk.text)
        result: list[Chunk] = []
        for text in parts:
            part = chunk.model_copy(update={"text": text})
            if self.count_tokens(self.indexed_text(part, title)) > self.max_tokens and len(text) > 1:
                result.extend(self._enforce_budget(part, title, max(budget // 2, 8)))
            else:
                result.append(part)
        return result
