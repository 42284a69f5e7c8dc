"""An `Answer` as Teams messages: text with [n], citation entities, the
"AI generated" label, and the source card.

The text is the service's own rendering of what may be shown (only verified
sentences carry [n]; a quote answer's quotes under their intro line; kept
unverified sentences marked as such), made safe for Teams' Markdown
(``ui/sanitize.py``: no images, no raw HTML, only http(s) links).

Teams rejects messages over about 28 KB (text, entities and card together).
A long answer is split between sentences, never inside a sentence or a
citation marker; each part carries the citation entities of the markers in
its own text, and the last part carries the card and the feedback loop.
"""

from __future__ import annotations

import datetime as dt
import json
import re

from microsoft_teams.api import MessageActivityInput
from microsoft_teams.api.models.entity import CitationAppearance

from rag.models import Answer, Citation, Language
from ui.sanitize import safe_markdown
from ui.teams.cards import DocumentLink, answer_card, norwegian_date, source_link

# Teams' limit is ~28 KB per message; the rest of the activity envelope needs room too.
MAX_MESSAGE_BYTES = 26_000
# Limits of Teams' citation entity (see CitationAppearance's validators).
CITATION_NAME_CHARS = 80
CITATION_ABSTRACT_CHARS = 160
CITATION_KEYWORD_CHARS = 28
CITATION_MAX_KEYWORDS = 3

REFUSAL_HINTS: dict[Language, str] = {
    "nb": (
        "_Tips: Formuler spørsmålet mer konkret (f.eks. med diagnose, legemiddel eller prosedyrenavn), "
        "eller spør om noe som dekkes av retningslinjene og prosedyrene du har tilgang til._"
    ),
    "nn": (
        "_Tips: Formuler spørsmålet meir konkret (t.d. med diagnose, legemiddel eller prosedyrenamn), "
        "eller spør om noko som retningslinjene og prosedyrane du har tilgang til, dekkjer._"
    ),
    "en": (
        "_Tip: Ask more specifically (e.g. with a diagnosis, drug or procedure name), "
        "or about something the guidelines and procedures you have access to cover._"
    ),
}
REFUSAL_HINT = REFUSAL_HINTS["nb"]

_MARKER_RE = re.compile(r"\[(\d+)\]")
# Split after a sentence end, unless a citation marker follows (it belongs to that sentence).
_SENTENCE_END_RE = re.compile(r"(?<=[.!?:])\s+(?!\[\d)|\n{2,}")


def _shorten(text: str, limit: int) -> str:
    # Teams shows these fields as text, but a client may render them: no image, HTML or script link either way.
    text = safe_markdown(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def citation_appearance(citation: Citation, document_link: DocumentLink | None = None) -> CitationAppearance:
    passage = citation.passage
    keywords = [k for k in (passage.doc_type, passage.publisher) if k]
    if passage.updated:
        keywords.append(norwegian_date(passage.updated))
    return CitationAppearance(
        name=_shorten(passage.title, CITATION_NAME_CHARS),
        abstract=_shorten(" > ".join([passage.heading, passage.text]) if passage.heading else passage.text,
                          CITATION_ABSTRACT_CHARS),
        url=source_link(passage, document_link),
        keywords=[_shorten(k, CITATION_KEYWORD_CHARS) for k in keywords[:CITATION_MAX_KEYWORDS]] or None,
    )


def cited_numbers(text: str) -> list[int]:
    """The [n] markers in a text, each once, in order."""
    seen: list[int] = []
    for match in _MARKER_RE.finditer(text):
        number = int(match.group(1))
        if number not in seen:
            seen.append(number)
    return seen


def split_text(text: str, max_bytes: int) -> list[str]:
    """Parts of at most `max_bytes` (UTF-8), cut between sentences.

    Line breaks and lists inside a part are kept. A single sentence longer
    than the budget is cut between words, so never inside an [n] marker.
    """
    if len(text.encode()) <= max_bytes:
        return [text]
    parts: list[str] = []
    current = ""
    for segment in _segments(text, max_bytes):
        if current and len((current + segment).strip().encode()) > max_bytes:
            parts.append(current.strip())
            current = ""
        current += segment
    if current.strip():
        parts.append(current.strip())
    return parts


def _segments(text: str, max_bytes: int) -> list[str]:
    """Sentences with their trailing whitespace; over-long ones as word runs."""
    segments: list[str] = []
    start = 0
    for match in [*_SENTENCE_END_RE.finditer(text), None]:
        end = match.end() if match else len(text)
        sentence = text[start:end]
        start = end
        if not sentence:
            continue
        if len(sentence.strip().encode()) <= max_bytes:
            segments.append(sentence)
            continue
        run = ""
        for word in re.findall(r"\S+\s*", sentence):
            if run and len((run + word).strip().encode()) > max_bytes:
                segments.append(run)
                run = ""
            run += word
        if run:
            segments.append(run)
    return segments


def answer_text(answer: Answer) -> str:
    """The message text: sanitised, one paragraph per line of the service's text."""
    if answer.refused:
        refusal = answer.text.strip() or "Jeg fant ikke noe i kunnskapsbasen som besvarer spørsmålet."
        hint = REFUSAL_HINTS.get(answer.language, REFUSAL_HINT)
        return f"{safe_markdown(refusal)}\n\n{hint}"
    # Teams' Markdown joins single line breaks; the service's lines are paragraphs or list items.
    lines = [line.strip() for line in answer.text.splitlines() if line.strip()]
    return safe_markdown("\n\n".join(lines))


def _message(text: str, answer: Answer, document_link: DocumentLink | None) -> MessageActivityInput:
    message = MessageActivityInput(text=text).add_ai_generated()
    by_number = {c.number: c for c in answer.citations}
    for number in cited_numbers(text):
        if number in by_number:
            message.add_citation(number, citation_appearance(by_number[number], document_link))
    return message


def build_reply(
    answer: Answer,
    answer_id: str,
    *,
    max_bytes: int = MAX_MESSAGE_BYTES,
    today: dt.date | None = None,
    document_link: DocumentLink | None = None,
) -> list[MessageActivityInput]:
    """The messages to send for one answer, in order (usually one)."""
    card = answer_card(answer, answer_id, today, document_link)
    card_bytes = len(card.model_dump_json(exclude_none=True).encode())
    text = answer_text(answer)
    # Leave room in the last part for the card and every part for its entities.
    entity_bytes = len(
        json.dumps([citation_appearance(c, document_link).model_dump() for c in answer.citations]).encode()
    )
    budget = max(max_bytes - card_bytes - entity_bytes, max_bytes // 4)
    parts = split_text(text, budget)
    messages = [_message(part, answer, document_link) for part in parts]
    messages[-1].add_card(card).add_feedback()
    return messages
