"""From a signed-in user's chat to a `Question`, and the example questions they see.

The access groups of a question always come from the signed-in user, never
from anything the browser sends; the chat settings only narrow the search
(document type, publisher) or pick one of the configured models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from rag.models import ChatTurn, Question
from rag.settings import Settings
from ui.auth import SignedInUser

ALL = "Alle"
STARTERS_FILE = Path(__file__).resolve().parent / "starter_questions.yaml"


class Starter(BaseModel):
    """An example question for the start screen, and who can get it answered."""

    question: str
    access_groups: list[str] = Field(description="The user needs all of them (the answer's documents' groups)")
    expect: str = Field(default="", description="A fact its answer must contain (checked by the tests)")


def load_starters(path: Path = STARTERS_FILE) -> list[Starter]:
    if not path.is_file():
        return []
    return [Starter.model_validate(row) for row in yaml.safe_load(path.read_text(encoding="utf-8")) or []]


class Choice(BaseModel):
    """One select in the chat settings."""

    id: str = Field(description="The key `build_question` reads")
    label: str
    values: list[str]


def setting_choices(settings: Settings, facets: Mapping[str, list[str]]) -> list[Choice]:
    """The chat settings that offer a real choice: a filter only when the user's
    documents have more than one value of it, a model only when several are
    configured and a model writes the answers (not in quote mode)."""
    choices = [
        Choice(id=key, label=label, values=[ALL, *values])
        for key, label, values in (
            ("doc_type", "Dokumenttype", facets.get("doc_types", [])),
            ("publisher", "Utgiver", facets.get("publishers", [])),
        )
        if len(values) > 1
    ]
    models = [setup.name for setup in settings.model_setups()]
    if len(models) > 1 and settings.answer_mode != "quote":
        choices.append(Choice(id="model", label="Språkmodell", values=models))
    return choices


def _choice(value: object) -> list[str]:
    if not value or value == ALL:
        return []
    return [str(value)]


def build_question(
    settings: Settings,
    user: SignedInUser,
    text: str,
    history: Sequence[ChatTurn] = (),
    chat_settings: Mapping[str, object] | None = None,
) -> Question:
    """The question the answering service gets for this user's message."""
    chosen = chat_settings or {}
    model = str(chosen.get("model") or "")
    known_models = {setup.name for setup in settings.model_setups()}
    return Question(
        text=text,
        history=list(history)[-2 * settings.condense_history_turns :] if settings.condense_history_turns else [],
        user=user.identifier,
        access_groups=list(user.access_groups),
        doc_types=_choice(chosen.get("doc_type")),
        publishers=_choice(chosen.get("publisher")),
        model=model if model in known_models else "",
    )


def starter_questions(settings: Settings, user: SignedInUser, path: Path = STARTERS_FILE) -> list[str]:
    """Example questions for the start screen.

    A fixed list from ``settings.chat_starters`` when given; otherwise the
    sample corpus's whole questions (``ui/starter_questions.yaml``) whose
    documents this user may read, so that every example gets an answer.
    """
    count = settings.chat_starter_count
    if settings.chat_starters:
        return settings.chat_starters[:count]
    groups = set(user.access_groups)
    return [s.question for s in load_starters(path) if set(s.access_groups) <= groups][:count]
