"""Conversation history for follow-up questions, in the chat database.

The bot's conversations live in the same database as the web chat's history
(``settings.chat_database_url``: SQLite under the data folder by default,
Postgres in compose), in the table ``fagprat_conversation_turns``, so a restart
or a deploy keeps follow-ups working. What is stored is bounded three ways:
the last ``max_turns`` turns of a conversation (what the service uses to make
a follow-up standalone), nothing older than ``max_age_h`` hours, and identity
numbers masked before anything is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rag.models import ChatTurn
from rag.privacy import mask_identity_numbers
from ui.feedback import sync_engine

TABLE_NAME = "fagprat_conversation_turns"

_metadata = sa.MetaData()
turns_table = sa.Table(
    TABLE_NAME,
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("conversation_id", sa.String(512), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_fagprat_conversation_turns_conversation", "channel", "conversation_id", "id"),
    sa.Index("ix_fagprat_conversation_turns_created_at", "created_at"),
)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _engine_for(url: str) -> Engine:
    # The chat's own engine factory: a new SQLite file is created 0600 (history is private).
    return sync_engine(url)


class ConversationHistory:
    """The recent turns of each conversation of one channel (``teams``)."""

    def __init__(
        self,
        database_url: str,
        *,
        max_turns: int,
        max_age_h: float,
        channel: str = "teams",
        clock: Callable[[], dt.datetime] = _utcnow,
    ):
        if max_turns < 0:
            raise ValueError("max_turns must not be negative")
        self._engine = _engine_for(database_url)
        _metadata.create_all(self._engine, tables=[turns_table])
        self._channel = channel
        self._max_turns = max_turns
        self._max_age = dt.timedelta(hours=max_age_h)
        self._clock = clock

    def _of(self, conversation_id: str) -> sa.ColumnElement[bool]:
        return sa.and_(turns_table.c.channel == self._channel, turns_table.c.conversation_id == conversation_id)

    def history(self, conversation_id: str) -> list[ChatTurn]:
        """The conversation's last turns, oldest first (none older than the age limit)."""
        if self._max_turns == 0:
            return []
        cutoff = self._clock() - self._max_age
        query = (
            sa.select(turns_table.c.role, turns_table.c.content)
            .where(self._of(conversation_id), turns_table.c.created_at >= cutoff)
            .order_by(turns_table.c.id.desc())
            .limit(self._max_turns)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [ChatTurn(role=row.role, content=row.content) for row in reversed(rows)]

    def add_exchange(self, conversation_id: str, question: str, answer: str) -> None:
        """Store a question and its answer (masked); forget what falls outside the bounds."""
        now = self._clock()
        rows = [
            {"role": role, "content": mask_identity_numbers(text)[0]}
            for role, text in (("user", question), ("assistant", answer))
        ]
        with self._engine.begin() as conn:
            conn.execute(
                turns_table.insert(),
                [{"channel": self._channel, "conversation_id": conversation_id, "created_at": now, **r} for r in rows],
            )
            oldest_kept = conn.execute(
                sa.select(turns_table.c.id)
                .where(self._of(conversation_id))
                .order_by(turns_table.c.id.desc())
                .offset(max(self._max_turns - 1, 0))
                .limit(1)
            ).scalar()
            if self._max_turns == 0:
                conn.execute(turns_table.delete().where(self._of(conversation_id)))
            elif oldest_kept is not None:
                conn.execute(turns_table.delete().where(self._of(conversation_id), turns_table.c.id < oldest_kept))
            conn.execute(turns_table.delete().where(turns_table.c.created_at < now - self._max_age))

    def reset(self, conversation_id: str) -> None:
        """«ny samtale»: the conversation starts afresh."""
        with self._engine.begin() as conn:
            conn.execute(turns_table.delete().where(self._of(conversation_id)))

    def close(self) -> None:
        self._engine.dispose()
