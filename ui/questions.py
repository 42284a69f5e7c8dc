"""From a signed-in user's chat to a `Question`, and the example questions they see.

The access groups of a question always come from the signed-in user, never
from anything the browser sends; the chat settings only narrow the search
(document type, publisher) or pick one of the configured models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from eval import questions as gold_set
from eval.questions import GoldQuestion, load_questions
from rag.models import ChatTurn, Question
from rag.settings import Settings
from ui.auth import SignedInUser

ALL = "Alle"
GOLD_QUESTIONS = Path(gold_set.__file__).parent / "data" / "gold.jsonl"


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


def _visible(question: GoldQuestion, user_groups: set[str], default_groups: list[str]) -> bool:
    needed = set(question.access_groups or default_groups)
    return needed <= user_groups


def starter_questions(settings: Settings, user: SignedInUser, gold_path: Path = GOLD_QUESTIONS) -> list[str]:
    """Example questions for the start screen.

    A fixed list from ``settings.chat_starters`` when given; otherwise the
    answerable questions of the gold set that this user's access groups can
    answer (the set names the groups each question needs), one per topic first
    so the examples show the breadth of the corpus.
    """
    count = settings.chat_starter_count
    if settings.chat_starters:
        return settings.chat_starters[:count]
    if not gold_path.is_file():
        return []
    groups = set(user.access_groups)
    candidates = [
        q
        for q in load_questions(gold_path)
        if q.answerable and q.language != "en" and _visible(q, groups, settings.default_access_groups)
    ]
    # Whole questions read better as examples than keyword queries.
    candidates.sort(key=lambda q: not q.question.rstrip().endswith("?"))
    chosen: list[GoldQuestion] = []
    topics: set[str] = set()
    for q in candidates:
        if q.topic not in topics:
            chosen.append(q)
            topics.add(q.topic)
    chosen += [q for q in candidates if q not in chosen]
    return [q.question for q in chosen[:count]]
