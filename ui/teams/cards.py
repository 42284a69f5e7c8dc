"""The Adaptive Card under an answer: what was verified, numbered sources, feedback buttons.

The card says what kind of answer it is: a generated answer whose cited
sentences were each checked against their source, or a quote answer
(verbatim sentences from the sources). Each source shows what a reader needs
to judge and open it: title, heading path, page, last-updated date, the
passage text that supports the answer (`Citation.highlights`), and a link,
with a warning when a local procedure is past its review date. A link is the
source's public URL, or for a local file the web chat's document route
(``ui/documents.py``, when ``chat_public_url`` is set); otherwise the title
stands alone. A server path is never shown. Text from documents goes through
``ui/sanitize.py`` first.

Thumbs up/down are ``Action.Execute`` buttons (an ``adaptiveCard/action``
invoke back to the bot) with an optional comment field; Teams renders them in
1:1 chats, group chats and channels.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from microsoft_teams.cards import (
    ActionSet,
    AdaptiveCard,
    Container,
    ExecuteAction,
    OpenUrlAction,
    TextBlock,
    TextInput,
)

from rag.models import Answer, Citation, Language, Passage
from ui.sanitize import safe_markdown

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
# 1.5 is the newest Adaptive Card version Teams renders on desktop, web and mobile.
CARD_VERSION = "1.5"

FEEDBACK_VERB = "fagprat.feedback"
COMMENT_INPUT_ID = "comment"
# Supporting spans shown per source, and their length: enough to check a claim, short enough to scan.
MAX_HIGHLIGHTS = 3
HIGHLIGHT_CHARS = 400

DocumentLink = Callable[[Passage], "str | None"]
"""A source's address for a reader outside the chat (``ui.documents.document_url``), or None."""

# The card's own words, in the answer's language form.
LABELS: dict[str, dict[Language, str]] = {
    "sources": {"nb": "Kilder", "nn": "Kjelder", "en": "Sources"},
    "open": {"nb": "Åpne kilde", "nn": "Opne kjelde", "en": "Open source"},
    "supports": {"nb": "Dette står i kilden:", "nn": "Dette står i kjelda:", "en": "What the source says:"},
    "generated": {
        "nb": "✔ Kontrollert: hver setning med [n] er sjekket mot kilde n, og det kilden sier, står under.",
        "nn": "✔ Kontrollert: kvar setning med [n] er sjekka mot kjelde n, og det kjelda seier, står under.",
        "en": "✔ Checked: every sentence with [n] was checked against source n; what the source says is below.",
    },
    "unverified": {
        "nb": "Setninger merket «ikke verifisert» fant ingen støtte i kildene. Ikke stol på dem.",
        "nn": "Setningar merkte «ikkje verifisert» fann inga støtte i kjeldene. Ikkje stol på dei.",
        "en": "Sentences marked «not verified» found no support in the sources. Do not rely on them.",
    },
    "quote": {
        "nb": "Sitatsvar: setningene er sitert ordrett fra kildene.",
        "nn": "Sitatsvar: setningane er siterte ordrett frå kjeldene.",
        "en": "Quote answer: the sentences are quoted verbatim from the sources.",
    },
    "feedback": {"nb": "Var svaret nyttig?", "nn": "Var svaret nyttig?", "en": "Was the answer useful?"},
    "comment": {"nb": "Kommentar (valgfritt)", "nn": "Kommentar (valfritt)", "en": "Comment (optional)"},
    "updated": {"nb": "oppdatert", "nn": "oppdatert", "en": "updated"},
    "page": {"nb": "s.", "nn": "s.", "en": "p."},
}


def label(key: str, language: Language) -> str:
    return LABELS[key].get(language, LABELS[key]["nb"])


def norwegian_date(value: dt.date) -> str:
    return value.strftime("%d.%m.%Y")


def is_web_link(link: str) -> bool:
    """Teams can open http(s) links only."""
    return link.startswith(("https://", "http://"))


def source_link(passage: Passage, document_link: DocumentLink | None = None) -> str | None:
    """What a reader in Teams can open: the public URL, else the chat's document route, else None."""
    if is_web_link(passage.url):
        return passage.url
    link = document_link(passage) if document_link else None
    return link if link and is_web_link(link) else None


def source_details(passage: Passage, language: Language = "nb") -> str:
    """One line: heading path · page · last updated."""
    parts = []
    if passage.heading:
        parts.append(passage.heading)
    if passage.pages:
        parts.append(f"{label('page', language)} {passage.pages}")
    if passage.updated:
        parts.append(f"{label('updated', language)} {norwegian_date(passage.updated)}")
    return " · ".join(parts)


def review_warning(passage: Passage, today: dt.date | None = None) -> str:
    if not passage.review_overdue(today):
        return ""
    return (
        f"⚠ Revisjonsfristen ({norwegian_date(passage.review_due)}) er passert. "
        "Sjekk at prosedyren fortsatt gjelder."
    )


def _shortened(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _source_container(
    citation: Citation, language: Language, today: dt.date | None, document_link: DocumentLink | None
) -> Container:
    passage = citation.passage
    items = [TextBlock(text=safe_markdown(f"[{citation.number}] {passage.title}"), weight="Bolder", wrap=True)]
    details = source_details(passage, language)
    if details:
        items.append(TextBlock(text=safe_markdown(details), is_subtle=True, size="Small", wrap=True, spacing="None"))
    if passage.publisher:
        items.append(
            TextBlock(text=safe_markdown(passage.publisher), is_subtle=True, size="Small", wrap=True, spacing="None")
        )
    warning = review_warning(passage, today)
    if warning:
        items.append(TextBlock(text=warning, color="Attention", wrap=True, size="Small"))
    highlights = [h for h in citation.highlights if h.strip()][:MAX_HIGHLIGHTS]
    if highlights:
        items.append(TextBlock(text=label("supports", language), size="Small", weight="Bolder", wrap=True))
        items.extend(
            TextBlock(text=safe_markdown(f"«{_shortened(h, HIGHLIGHT_CHARS)}»"), size="Small", wrap=True,
                      spacing="Small", is_subtle=True)
            for h in highlights
        )
    link = source_link(passage, document_link)
    if link:
        items.append(ActionSet(actions=[OpenUrlAction(title=label("open", language), url=link)]))
    return Container(items=items, separator=True, spacing="Medium")


def verification_lines(answer: Answer) -> list[str]:
    """What the card says was verified, by the kind of answer."""
    language = answer.language
    if answer.refused or answer.kind == "refusal":
        return []
    if answer.kind == "quote":
        return [label("quote", language)]
    lines = [label("generated", language)] if answer.citations else []
    if any(not s.verified for s in answer.sentences) or answer.uncited_sentences:
        lines.append(label("unverified", language))
    return lines


def feedback_actions(answer_id: str) -> list[ExecuteAction]:
    def button(title: str, rating: int) -> ExecuteAction:
        return ExecuteAction(
            title=title,
            verb=FEEDBACK_VERB,
            data={"answer_id": answer_id, "rating": rating},
            associated_inputs="auto",
        )

    return [button("👍 Nyttig", 1), button("👎 Ikke nyttig", -1)]


def answer_card(
    answer: Answer, answer_id: str, today: dt.date | None = None, document_link: DocumentLink | None = None
) -> AdaptiveCard:
    """The card sent with (the last part of) an answer."""
    language = answer.language
    body = []
    for line in verification_lines(answer):
        body.append(TextBlock(text=line, wrap=True, size="Small", weight="Bolder"))
    if answer.citations:
        body.append(TextBlock(text=label("sources", language), weight="Bolder", size="Medium"))
        body.extend(_source_container(c, language, today, document_link) for c in answer.citations)
    for notice in answer.notices:
        body.append(TextBlock(text=safe_markdown(notice), color="Warning", wrap=True, size="Small"))
    body.append(TextBlock(text=label("feedback", language), weight="Bolder", separator=True, spacing="Large"))
    body.append(
        TextInput(
            id=COMMENT_INPUT_ID,
            placeholder=label("comment", language),
            is_multiline=True,
            max_length=1000,
        )
    )
    return AdaptiveCard(
        # "$schema" as an extra field: the SDK's own `schema` field serializes without the "$".
        **{"$schema": CARD_SCHEMA},
        version=CARD_VERSION,
        body=body,
        actions=feedback_actions(answer_id),
        fallback_text=fallback_text(answer, document_link),
    )


def fallback_text(answer: Answer, document_link: DocumentLink | None = None) -> str:
    """Plain-text source list for clients that cannot render the card (links only where openable)."""
    lines = [
        f"[{c.number}] {safe_markdown(c.passage.title)} {source_link(c.passage, document_link) or ''}".strip()
        for c in answer.citations
    ]
    return label("sources", answer.language) + ":\n" + "\n".join(lines) if lines else "Ingen kilder."
