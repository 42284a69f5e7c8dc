"""What the bot remembers between turns, in memory only.

Per Teams conversation: the chat history used for follow-up questions. Per
answer sent: what was asked and cited, so a later thumbs up/down can be stored
with it. Both are bounded and reset when the bot restarts (a restart starts
every conversation afresh; feedback on an older answer is still stored, without
the answer text).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from rag.models import ChatTurn
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


class ConversationMemory:
    def __init__(self, max_conversations: int, max_turns: int, max_answers: int):
        self._histories: BoundedDict[str, list[ChatTurn]] = BoundedDict(max_conversations)
        self._answers: BoundedDict[str, AnsweredQuestion] = BoundedDict(max_answers)
        self._answer_by_activity: BoundedDict[str, str] = BoundedDict(max_answers)
        self._max_turns = max_turns

    def history(self, conversation_id: str) -> list[ChatTurn]:
        return list(self._histories.get(conversation_id) or [])

    def add_exchange(self, conversation_id: str, question: str, answer: str) -> None:
        turns = self.history(conversation_id)
        turns += [ChatTurn(role="user", content=question), ChatTurn(role="assistant", content=answer)]
        self._histories.set(conversation_id, turns[-self._max_turns :])

    def reset(self, conversation_id: str) -> None:
        self._histories.pop(conversation_id)

    def remember_answer(self, record: AnsweredQuestion, activity_ids: list[str]) -> None:
        self._answers.set(record.answer_id, record)
        for activity_id in activity_ids:
            self._answer_by_activity.set(activity_id, record.answer_id)

    def answer(self, answer_id: str) -> AnsweredQuestion | None:
        return self._answers.get(answer_id)

    def answer_for_activity(self, activity_id: str) -> AnsweredQuestion | None:
        answer_id = self._answer_by_activity.get(activity_id)
        return self._answers.get(answer_id) if answer_id else None
