"""The Adaptive Card under an answer: numbered sources and feedback buttons.

Each source shows what a reader needs to judge and open it: title, heading
path, page, last-updated date and a link, with a warning when a local
procedure is past its review date. Thumbs up/down are ``Action.Execute``
buttons (an ``adaptiveCard/action`` invoke back to the bot) with an optional
comment field; Teams renders them in 1:1 chats, group chats and channels.
"""

from __future__ import annotations

import datetime as dt

from microsoft_teams.cards import (
    ActionSet,
    AdaptiveCard,
    Container,
    ExecuteAction,
    OpenUrlAction,
    TextBlock,
    TextInput,
)

from rag.models import Answer, Passage

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
# 1.5 is the newest Adaptive Card version Teams renders on desktop, web and mobile.
CARD_VERSION = "1.5"

FEEDBACK_VERB = "fagprat.feedback"
COMMENT_INPUT_ID = "comment"


def norwegian_date(value: dt.date) -> str:
    return value.strftime("%d.%m.%Y")


def is_web_link(link: str) -> bool:
    """Teams can open http(s) links only; a local file path is shown as text."""
    return link.startswith(("https://", "http://"))


def source_details(passage: Passage) -> str:
    """One line: heading path · page · last updated."""
    parts = []
    if passage.heading:
        parts.append(passage.heading)
    if passage.pages:
        parts.append(f"s. {passage.pages}")
    if passage.updated:
        parts.append(f"oppdatert {norwegian_date(passage.updated)}")
    return " · ".join(parts)


def review_warning(passage: Passage, today: dt.date | None = None) -> str:
    if not passage.review_overdue(today):
        return ""
    return (
        f"⚠ Revisjonsfristen ({norwegian_date(passage.review_due)}) er passert. "
        "Sjekk at prosedyren fortsatt gjelder."
    )


def _source_container(number: int, passage: Passage, today: dt.date | None) -> Container:
    items = [TextBlock(text=f"[{number}] {passage.title}", weight="Bolder", wrap=True)]
    details = source_details(passage)
    if details:
        items.append(TextBlock(text=details, is_subtle=True, size="Small", wrap=True, spacing="None"))
    if passage.publisher:
        items.append(TextBlock(text=passage.publisher, is_subtle=True, size="Small", wrap=True, spacing="None"))
    warning = review_warning(passage, today)
    if warning:
        items.append(TextBlock(text=warning, color="Attention", wrap=True, size="Small"))
    if is_web_link(passage.link):
        items.append(ActionSet(actions=[OpenUrlAction(title="Åpne kilde", url=passage.link)]))
    elif passage.link:
        items.append(TextBlock(text=f"Fil: {passage.link}", is_subtle=True, size="Small", wrap=True))
    return Container(items=items, separator=True, spacing="Medium")


def feedback_actions(answer_id: str) -> list[ExecuteAction]:
    def button(title: str, rating: int) -> ExecuteAction:
        return ExecuteAction(
            title=title,
            verb=FEEDBACK_VERB,
            data={"answer_id": answer_id, "rating": rating},
            associated_inputs="auto",
        )

    return [button("👍 Nyttig", 1), button("👎 Ikke nyttig", -1)]


def answer_card(answer: Answer, answer_id: str, today: dt.date | None = None) -> AdaptiveCard:
    """The card sent with (the last part of) an answer."""
    body = []
    if answer.citations:
        body.append(TextBlock(text="Kilder", weight="Bolder", size="Medium"))
        body.extend(_source_container(c.number, c.passage, today) for c in answer.citations)
    for notice in answer.notices:
        body.append(TextBlock(text=notice, color="Warning", wrap=True, size="Small"))
    body.append(TextBlock(text="Var svaret nyttig?", weight="Bolder", separator=True, spacing="Large"))
    body.append(
        TextInput(
            id=COMMENT_INPUT_ID,
            placeholder="Kommentar (valgfritt)",
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
        fallback_text=fallback_text(answer),
    )


def fallback_text(answer: Answer) -> str:
    """Plain-text source list for clients that cannot render the card."""
    lines = [f"[{c.number}] {c.passage.title} {c.passage.link}".strip() for c in answer.citations]
    return "Kilder:\n" + "\n".join(lines) if lines else "Ingen kilder."
