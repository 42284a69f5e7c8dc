"""The answers the bot sent, kept in memory for the feedback they may receive.

Per answer: what was asked and cited, so a later thumbs up/down (on the card,
or Teams' own buttons under the message) is stored with it. Bounded, and lost
on a restart: feedback on an older answer is still stored, without the
question and answer text. (The conversation history for follow-ups is in the
database: ``ui/teams/history.py``.)
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from ui.teams.lru import BoundedDict


class AnsweredQuestion(BaseModel):
    """An answer the bot sent, kept for the feedback it may receive."""

    answer_id: str
    conversation_id: str
    user: str
    question: str
    answer: str
    cited_sources: list[dict] = Field(default_factory=list)
    model: str = ""


class SentAnswers:
    def __init__(self, max_answers: int):
        self._answers: BoundedDict[str, AnsweredQuestion] = BoundedDict(max_answers)
        self._answer_by_activity: BoundedDict[str, str] = BoundedDict(max_answers)

    def remember(self, record: AnsweredQuestion, activity_ids: list[str]) -> None:
        self._answers.set(record.answer_id, record)
        for activity_id in activity_ids:
            self._answer_by_activity.set(activity_id, record.answer_id)

    def answer(self, answer_id: str) -> AnsweredQuestion | None:
        return self._answers.get(answer_id)

    def answer_for_activity(self, activity_id: str) -> AnsweredQuestion | None:
        answer_id = self._answer_by_activity.get(activity_id)
        return self._answers.get(answer_id) if answer_id else None
