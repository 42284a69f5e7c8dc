"""Sitatsvar: an answer quoted verbatim from the retrieved passages, no language model.

One to three sentences that best answer the question, each exactly as it
stands in its source and cited to it. Faithful by construction and fast; it
is the answer when no capable model is configured (`answer_mode=quote`, or
`auto` with the bundled toy model), when the model is down, and when the
model's own answer could not be verified.

Sentences are ranked with retrieval signals (`rag.addressing`): the question's
terms in the sentence (its heading counts at half weight), whether it holds
what the question asks for (a frequency, a dose, a time), the embedder's
query-to-passage similarity, and the rank and relevance of its passage. A list intro ("Gjør
slik:") brings the lines after it, a sentence that leans on the one before
("Dosen kan gjentas ...") brings that one, and a sentence further along a table
row brings the row's start (which medicine, which dose), so a quote reads on its own.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from rag.addressing import QueryEmbedder, QuestionProfile, addresses
from rag.citations import segments
from rag.models import AnswerSentence, Citation, Language, Passage

# Sentences ranked by the cheap signals before the embedder scores the best of them.
DENSE_CANDIDATES = 16
# A further quote must score at least this share of the best one.
FOLLOWER_SHARE = 0.6
# The passage's retrieval rank lowers its sentences' scores by this much per rank, and its
# relevance (the floor's measure: terms and dense similarity of the whole chunk) raises them.
RANK_PENALTY = 0.06
PASSAGE_RELEVANCE_WEIGHT = 0.5
# A sentence shorter than this (in words) with no number is a fragment, not an answer.
MIN_WORDS = 3
# Two quotes sharing this share of their words say the same thing (overlapping chunks
# repeat sentences; table rows share most words but not their values, so this is high).
DUPLICATE_OVERLAP = 0.95
# Lines a list intro brings with it, and the longest enumeration quoted whole.
MAX_LIST_LINES = 6
# A list item ending like this continues into the next: the items are one sentence.
_ITEM_CONTINUES = (",", ";", " og", " eller", " or", " and")

# Sentences that lean on the sentence before them.
_ANAPHORA = re.compile(
    r"^(?:den|det|dette|denne|disse|dei|desse|dosen|doseringa|dosering|it|this|these|they|the dose|"
    r"deretter|så|da|etterpå|then|ved\s+manglende|if\s+not)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+")
# A table row as the loaders write it (ingest/loaders/text.py: format_table): "Header: value;
# Header: value" with a header row, cells joined by " | " without one.
_TABLE_ROW = re.compile(r"^[^:;|]{1,60}: [^;]*; [^:;|]{1,60}: | \| ")

INTRO: dict[Language, str] = {
    "nb": "Sitater fra kildene, ordrett (ikke skrevet av en språkmodell):",
    "nn": "Sitat frå kjeldene, ordrett (ikkje skrive av ein språkmodell):",
    "en": "Quotes from the sources, verbatim in Norwegian (not written by a language model):",
}


@dataclass
class _Candidate:
    passage_index: int
    sentence_index: int
    text: str
    heading: str
    surroundings: str  # the passage with its title and heading
    score: float = 0.0  # for ranking: how well it answers, adjusted by its passage's rank and relevance
    fit: float = 0.0  # how well it answers the question (rag.addressing), unadjusted


@dataclass
class QuoteAnswer:
    text: str
    sentences: list[AnswerSentence]
    citations: list[Citation]
    best_score: float  # how well the best quote answers the question (rag.addressing)


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def _is_quotable(text: str, heading: bool) -> bool:
    if heading and not text.rstrip().endswith(":"):
        return False
    words = text.split()
    return len(words) >= MIN_WORDS or any(ch.isdigit() for ch in text)


@dataclass
class _Sentences:
    """Every sentence of the passages by (passage, sentence) index, whether it is a list item,
    and how many sentences each passage has."""

    text: dict[tuple[int, int], str]
    list_item: dict[tuple[int, int], bool]
    counts: dict[int, int]
    line: dict[tuple[int, int], int] = field(default_factory=dict)  # the passage line it stands on


def _candidates(passages: list[Passage]) -> tuple[list[_Candidate], _Sentences]:
    found: list[_Candidate] = []
    sentences = _Sentences({}, {}, {})
    for p_index, passage in enumerate(passages):
        parts = segments(passage.text)
        sentences.counts[p_index] = len(parts)
        for s_index, segment in enumerate(parts):
            sentences.text[(p_index, s_index)] = segment.text
            sentences.list_item[(p_index, s_index)] = segment.list_item
            sentences.line[(p_index, s_index)] = segment.line
            if _is_quotable(segment.text, segment.heading):
                heading = " > ".join([passage.title, *passage.heading_path])
                found.append(_Candidate(p_index, s_index, segment.text, heading, f"{heading}\n{passage.text}"))
    return found, sentences


def rank_sentences(
    question: QuestionProfile, passages: list[Passage], embedder: QueryEmbedder | None
) -> tuple[list[_Candidate], _Sentences]:
    candidates, sentences = _candidates(passages)

    def score(candidate: _Candidate, vector: np.ndarray | None) -> None:
        candidate.fit = addresses(
            question, candidate.text, vector, context=candidate.heading, surroundings=candidate.surroundings
        )
        passage = passages[candidate.passage_index]
        candidate.score = (
            candidate.fit - RANK_PENALTY * candidate.passage_index + PASSAGE_RELEVANCE_WEIGHT * passage.relevance
        )

    for candidate in candidates:
        score(candidate, None)
    candidates.sort(key=lambda c: c.score, reverse=True)
    if embedder is not None and question.vector is not None and candidates:
        head = candidates[:DENSE_CANDIDATES]
        vectors = embedder.embed_passages([c.text for c in head])
        for candidate, vector in zip(head, vectors, strict=True):
            score(candidate, np.asarray(vector))
        head.sort(key=lambda c: c.score, reverse=True)
        candidates = head
    return candidates, sentences


def _with_context(candidate: _Candidate, sentences: _Sentences) -> list[int]:
    """Sentence indexes to quote for a candidate: itself, the sentence it leans on, a list it
    introduces, or the whole enumeration it is one item of."""
    p, s = candidate.passage_index, candidate.sentence_index
    enumeration = _enumeration(p, s, sentences)
    if enumeration:
        return enumeration
    row = _row_before(p, s, sentences)
    if row:
        return [*row, s]
    indexes = [s]
    if s > 0 and _ANAPHORA.match(candidate.text):
        indexes.insert(0, s - 1)
    if candidate.text.rstrip().endswith(":"):
        indexes.extend(range(s + 1, min(sentences.counts[p], s + 1 + MAX_LIST_LINES)))
    return indexes


def _row_before(p: int, s: int, sentences: _Sentences) -> list[int]:
    """The sentences before s on its table row: "maks 16 mg/døgn" alone does not say it is
    ondansetron's row ("Legemiddel: Ondansetron; Dose: 4 mg i.v.; ... Ny dose tidligst etter 8
    timer, maks 16 mg/døgn."). Empty when s starts its line or the line is not a table row."""
    line = sentences.line.get((p, s))
    start = s
    while start > 0 and sentences.line.get((p, start - 1)) == line:
        start -= 1
    if start == s or not _TABLE_ROW.search(sentences.text[(p, start)]):
        return []
    return list(range(start, s))


def _list_of(p: int, s: int, sentences: _Sentences) -> range | None:
    """The sentence indexes of the list that sentence s is an item of, or None."""
    if not sentences.list_item.get((p, s)):
        return None
    first = last = s
    while first > 0 and sentences.list_item.get((p, first - 1)):
        first -= 1
    while last + 1 < sentences.counts[p] and sentences.list_item.get((p, last + 1)):
        last += 1
    return range(first, last + 1)


def _enumeration(p: int, s: int, sentences: _Sentences) -> list[int]:
    """The list a list item belongs to, when its items are parts of one sentence
    ("- kaldsveitt, kvalm eller svimmel," / "- blodtrykket fell meir enn 20 mmHg,"):
    one item alone drops the other conditions. Empty for a free-standing item."""
    items = _list_of(p, s, sentences)
    if items is None or len(items) > MAX_LIST_LINES:
        return []
    joined = any(sentences.text[(p, i)].rstrip().endswith(_ITEM_CONTINUES) for i in items)
    return list(items) if joined else []


def _whole_lists(chosen: list[tuple[int, list[int]]], sentences: _Sentences) -> list[tuple[int, list[int]]]:
    """Quotes that are two or more items of one short list become that whole list, in its
    order: steps 2, 3 and 4 of a procedure without step 1 leave out what to do first."""
    lists: dict[int, tuple[int, range]] = {}
    for position, (p, indexes) in enumerate(chosen):
        items = _list_of(p, indexes[0], sentences)
        if items is not None and len(items) <= MAX_LIST_LINES and all(i in items for i in indexes):
            lists[position] = (p, items)
    quoted_from = Counter(lists.values())
    merged: list[tuple[int, list[int]]] = []
    done: set[tuple[int, range]] = set()
    for position, (p, indexes) in enumerate(chosen):
        key = lists.get(position)
        if key is None or quoted_from[key] < 2:
            merged.append((p, indexes))
        elif key not in done:
            merged.append((key[0], list(key[1])))
            done.add(key)
    return merged


def quote_answer(
    question: QuestionProfile,
    passages: list[Passage],
    embedder: QueryEmbedder | None,
    *,
    language: Language,
    max_sentences: int,
) -> QuoteAnswer | None:
    """The best one to `max_sentences` quotes, or None when no passage has a quotable sentence."""
    ranked, sentences = rank_sentences(question, passages, embedder)
    if not ranked:
        return None
    best = ranked[0].score
    chosen: list[tuple[int, list[int]]] = []
    taken: set[tuple[int, int]] = set()
    for candidate in ranked:
        if len(chosen) >= max_sentences or (chosen and candidate.score < FOLLOWER_SHARE * best):
            break
        indexes = [i for i in _with_context(candidate, sentences) if (candidate.passage_index, i) not in taken]
        if not indexes:
            continue
        words = _words(" ".join(sentences.text[(candidate.passage_index, i)] for i in indexes))
        if any(_overlap(words, _words(" ".join(sentences.text[(p, i)] for i in idx))) > DUPLICATE_OVERLAP for p, idx in chosen):
            continue
        chosen.append((candidate.passage_index, indexes))
        taken.update((candidate.passage_index, i) for i in indexes)

    chosen = _whole_lists(chosen, sentences)
    # Cite in order of first appearance, quote in the ranked order.
    numbers: dict[int, int] = {}
    citations: list[Citation] = []
    answer_sentences: list[AnswerSentence] = []
    for paragraph, (p_index, indexes) in enumerate(chosen):
        if p_index not in numbers:
            numbers[p_index] = len(numbers) + 1
            citations.append(Citation(number=numbers[p_index], passage=passages[p_index], support=1.0))
        citation = citations[numbers[p_index] - 1]
        for i in indexes:
            text = sentences.text[(p_index, i)]
            citation.sentences.append(text)
            citation.highlights.append(text)
            answer_sentences.append(
                AnswerSentence(
                    text=text, citations=[numbers[p_index]], verified=True, support=1.0, evidence=text,
                    quote=True, paragraph=paragraph,
                )
            )
    lines = [INTRO[language]]
    for paragraph in range(len(chosen)):
        quoted = " ".join(s.text for s in answer_sentences if s.paragraph == paragraph)
        number = answer_sentences[[s.paragraph for s in answer_sentences].index(paragraph)].citations[0]
        lines.append(f"«{quoted}» [{number}]")
    return QuoteAnswer(text="\n".join(lines), sentences=answer_sentences, citations=citations, best_score=ranked[0].fit)


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0
