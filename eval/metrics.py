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


def key_fact_recall(shown_text: str, key_facts: Sequence[str]) -> float | None:
    """Share of the gold key facts the shown answer states (normalised substring)."""
    if not key_facts:
        return None
    return sum(1 for fact in key_facts if contains_fact(shown_text, fact)) / len(key_facts)


def any_key_fact(shown_text: str, key_facts: Sequence[str]) -> float | None:
    """1 if the shown answer states at least one gold key fact."""
    if not key_facts:
        return None
    return 1.0 if any(contains_fact(shown_text, fact) for fact in key_facts) else 0.0


# --- what the user was shown -------------------------------------------------

# Answer.kind values, and what an evaluated answer can end as (an "error" is a
# service failure: no answer at all).
OUTCOMES = ("generated", "quote", "refusal", "error")
# Answer.fallback_reason values: why a quote answer was given.
QUOTE_REASONS = ("quote_mode", "model_unavailable", "not_verified", "off_topic")


def outcome(kind: str, refused: bool) -> str:
    """generated, quote or refusal. Answers from before answer kinds existed
    say kind "generated" for refusals too; `refused` decides."""
    if refused or kind == "refusal":
        return "refusal"
    return "quote" if kind == "quote" else "generated"


def shown_text(answer_text: str, refused: bool, sentences: Sequence[dict], uncited: Sequence[str]) -> str:
    """The answer text as the user sees it: nothing for a refusal (its message
    states no fact); the shown sentences (verified, and unverified ones kept
    and marked) when the answer has them; else the answer text."""
    if refused:
        return ""
    if not sentences:
        return answer_text
    texts = [s["text"] for s in sentences]
    texts += [u for u in uncited if u not in texts]
    return " ".join(texts)


def supported_share(sentences: Sequence[dict]) -> float | None:
    """Share of the shown sentences that a cited passage supports (verified)."""
    if not sentences:
        return None
    return sum(1 for s in sentences if s.get("verified")) / len(sentences)


def unsupported_pills(sentences: Sequence[dict]) -> int:
    """Shown sentences that carry a citation although no passage supports
    them: the trust layer promises there are none."""
    return sum(1 for s in sentences if s.get("citations") and not s.get("verified"))


# --- the answerability gate --------------------------------------------------


@dataclass(frozen=True)
class GateOutcome:
    """What the gate did for one question: None where it did not apply."""

    ran: bool
    failed: bool
    said_unanswerable: bool
    tokens: int | None
    ms: float | None


def gate_outcome(gate: dict | None) -> GateOutcome:
    """From Answer.gate (as a dict), or None when the gate did not run (off,
    or the relevance floor refused first)."""
    if gate is None:
        return GateOutcome(ran=False, failed=False, said_unanswerable=False, tokens=None, ms=None)
    failed = bool(gate.get("error"))
    return GateOutcome(
        ran=True,
        failed=failed,
        said_unanswerable=not failed and not gate.get("answerable", True),
        tokens=int(gate.get("prompt_tokens", 0)) + int(gate.get("completion_tokens", 0)),
        ms=float(gate.get("ms", 0.0)),
    )


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
