"""Judge-free metrics: pure functions of one answer and its gold question
(latency needs no function: it is read from `Answer.timings`).

Each returns a score in [0, 1], or None where the metric does not apply to
the question (e.g. retrieval hit for a question without gold sources, citation
precision for an answer that cites nothing). The report averages the values
that apply and shows how many there were.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# [3], [1, 2], [1][2] and [1-3] in model text.
_CITATION_RE = re.compile(r"\[(\d+(?:\s*[-–,]\s*\d+)*)\]")
_DECIMAL_COMMA_RE = re.compile(r"(?<=\d),(?=\d)")
_SPACE_RE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """For fact matching: NFKC (folds non-breaking spaces), lower case, one
    space between words, decimal comma read as a point ("0,5 mg" = "0.5 mg")."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _DECIMAL_COMMA_RE.sub(".", text)
    return _SPACE_RE.sub(" ", text).strip()


def contains_fact(text: str, fact: str) -> bool:
    fact_norm = normalize_text(fact)
    return bool(fact_norm) and fact_norm in normalize_text(strip_citations(text))


def strip_citations(text: str) -> str:
    return _CITATION_RE.sub("", text)


def parse_citation_numbers(text: str) -> list[int]:
    """Every [n] the text uses, in order of appearance, ranges expanded."""
    numbers: list[int] = []
    for match in _CITATION_RE.finditer(text):
        for part in re.split(r"\s*,\s*", match.group(1)):
            bounds = re.split(r"\s*[-–]\s*", part)
            if len(bounds) == 2:
                low, high = int(bounds[0]), int(bounds[1])
                numbers.extend(range(low, high + 1) if low <= high else [low, high])
            else:
                numbers.append(int(bounds[0]))
    return numbers


# --- retrieval -------------------------------------------------------------


def hit_at_k(retrieved_doc_ids: Sequence[str], gold_doc_ids: Iterable[str], k: int) -> float | None:
    """1 if any of the first k retrieved passages comes from a gold document."""
    gold = set(gold_doc_ids)
    if not gold:
        return None
    return 1.0 if any(doc in gold for doc in retrieved_doc_ids[:k]) else 0.0


def reciprocal_rank(retrieved_doc_ids: Sequence[str], gold_doc_ids: Iterable[str]) -> float | None:
    """1/rank of the first passage from a gold document; 0 if none was found."""
    gold = set(gold_doc_ids)
    if not gold:
        return None
    for rank, doc in enumerate(retrieved_doc_ids, start=1):
        if doc in gold:
            return 1.0 / rank
    return 0.0


# --- citations -------------------------------------------------------------


def citation_validity(cited_numbers: Sequence[int], source_count: int) -> float | None:
    """Share of the citations in the model's raw text that point at one of the
    `source_count` numbered sources it was given."""
    if not cited_numbers:
        return None
    valid = sum(1 for n in cited_numbers if 1 <= n <= source_count)
    return valid / len(cited_numbers)


def citation_precision(cited_passages: Sequence[str], key_facts: Sequence[str]) -> float | None:
    """Share of cited passages that contain at least one gold key fact."""
    if not cited_passages or not key_facts:
        return None
    hits = sum(1 for passage in cited_passages if any(contains_fact(passage, f) for f in key_facts))
    return hits / len(cited_passages)


# --- answer content --------------------------------------------------------


def answer_correctness(answer_text: str, key_facts: Sequence[str]) -> float | None:
    """Share of the reference key facts the answer states (normalised substring)."""
    if not key_facts:
        return None
    return sum(1 for fact in key_facts if contains_fact(answer_text, fact)) / len(key_facts)


@dataclass(frozen=True)
class RefusalRates:
    refused_when_unanswerable: float | None
    answered_when_answerable: float | None

    @property
    def balanced(self) -> float | None:
        """Mean of the two rates, so a set-up that always refuses (or never does)
        scores 0.5, not its share of one kind of question."""
        rates = [r for r in (self.refused_when_unanswerable, self.answered_when_answerable) if r is not None]
        return sum(rates) / len(rates) if rates else None


def refusal_rates(cases: Iterable[tuple[bool, bool]]) -> RefusalRates:
    """From (answerable, refused) pairs: how often it refused when it should,
    and how often it answered when it should."""
    pairs = list(cases)
    unanswerable = [refused for answerable, refused in pairs if not answerable]
    answerable = [not refused for answerable, refused in pairs if answerable]
    return RefusalRates(
        refused_when_unanswerable=sum(unanswerable) / len(unanswerable) if unanswerable else None,
        answered_when_answerable=sum(answerable) / len(answerable) if answerable else None,
    )
