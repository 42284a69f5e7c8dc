"""Thumbs up/down on answers, shared by the web chat and the Teams bot.

One row per (channel, conversation, message, user): a user who changes their
mind updates their row instead of adding a second vote. The store speaks
SQLAlchemy so the same database as the chat history can hold it; it accepts
the async URL forms the chat uses (``sqlite+aiosqlite``, ``postgresql+asyncpg``)
and talks to them through the matching synchronous driver, because recording
a vote is one short statement that needs no event loop.

The question, the answer, the comment and the cited sources are masked with
`rag.privacy.mask_identity_numbers` before they are stored, and again when
they are exported (rows stored before masking existed are masked on the way
out). An export file is created readable by its owner only.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import IntegrityError

from rag.models import Answer
from ui.chat_history import create_private_database, mask_json, mask_text
from ui.private_files import open_private_for_writing

Channel = Literal["web", "teams"]
Rating = Literal[1, -1]
ExportFormat = Literal["csv", "jsonl"]

TABLE_NAME = "fagprat_feedback"

# Async driver -> synchronous driver of the same database.
_SYNC_DRIVERS = {
    "sqlite+aiosqlite": "sqlite",
    "postgresql+asyncpg": "postgresql+psycopg",
    "mysql+aiomysql": "mysql+pymysql",
    "mysql+asyncmy": "mysql+pymysql",
}

_KEY_COLUMNS = ("channel", "conversation_id", "message_id", "user")


class FeedbackRecord(BaseModel):
    """One user's verdict on one answer, with what they were shown."""

    channel: Channel
    user: str
    conversation_id: str
    message_id: str
    question: str = ""
    answer: str = ""
    cited_sources: list[dict[str, Any]] = Field(
        default_factory=list, description="number, title, doc_id, heading, link of each cited source"
    )
    model: str = ""
    rating: Rating
    comment: str = ""
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


_metadata = sa.MetaData()
feedback_table = sa.Table(
    TABLE_NAME,
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("conversation_id", sa.String(512), nullable=False),
    sa.Column("message_id", sa.String(512), nullable=False),
    sa.Column("user", sa.String(320), nullable=False),
    sa.Column("question", sa.Text, nullable=False, default=""),
    sa.Column("answer", sa.Text, nullable=False, default=""),
    sa.Column("cited_sources", sa.JSON, nullable=False),
    sa.Column("model", sa.String(200), nullable=False, default=""),
    sa.Column("rating", sa.SmallInteger, nullable=False),
    sa.Column("comment", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint(*_KEY_COLUMNS, name="uq_fagprat_feedback_vote"),
)


def sync_database_url(url: str) -> URL:
    """The synchronous twin of a (possibly async) SQLAlchemy URL."""
    parsed = make_url(url)
    sync_driver = _SYNC_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=sync_driver) if sync_driver else parsed


def sync_engine(url: str) -> Engine:
    """A synchronous engine on the chat database; a new SQLite file is created 0600 first."""
    create_private_database(url)
    return sa.create_engine(sync_database_url(url))


def masked(record: FeedbackRecord) -> FeedbackRecord:
    """The record with identity numbers masked in every free-text field."""
    return record.model_copy(
        update={
            "question": mask_text(record.question),
            "answer": mask_text(record.answer),
            "comment": mask_text(record.comment),
            "cited_sources": mask_json(record.cited_sources),
        }
    )


class FeedbackStore:
    """Records and lists feedback in the table ``fagprat_feedback``."""

    def __init__(self, database_url: str):
        self._engine = sync_engine(database_url)
        _metadata.create_all(self._engine, tables=[feedback_table])

    def record(self, record: FeedbackRecord) -> FeedbackRecord:
        """Insert the vote, or update the user's earlier vote on the same message."""
        now = dt.datetime.now(dt.timezone.utc)
        record = masked(record)
        values = record.model_dump(exclude={"created_at", "updated_at"})
        key = sa.and_(*(feedback_table.c[name] == values[name] for name in _KEY_COLUMNS))
        update = feedback_table.update().where(key).values(**values, updated_at=now)
        try:
            with self._engine.begin() as conn:
                if conn.execute(update).rowcount == 0:
                    conn.execute(feedback_table.insert().values(**values, created_at=now, updated_at=now))
        except IntegrityError:
            # Another request inserted the same vote between our update and insert.
            with self._engine.begin() as conn:
                conn.execute(update)
        return self.get(record.channel, record.conversation_id, record.message_id, record.user) or record

    def get(self, channel: str, conversation_id: str, message_id: str, user: str) -> FeedbackRecord | None:
        query = feedback_table.select().where(
            feedback_table.c.channel == channel,
            feedback_table.c.conversation_id == conversation_id,
            feedback_table.c.message_id == message_id,
            feedback_table.c.user == user,
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return _to_record(row) if row else None

    def all(self) -> list[FeedbackRecord]:
        """Every vote, oldest first."""
        query = feedback_table.select().order_by(feedback_table.c.created_at, feedback_table.c.id)
        with self._engine.connect() as conn:
            return [_to_record(row) for row in conn.execute(query).mappings()]

    def close(self) -> None:
        self._engine.dispose()


def _to_record(row: Any) -> FeedbackRecord:
    data = {k: v for k, v in row.items() if k != "id"}
    return FeedbackRecord.model_validate(data)


_CSV_COLUMNS = list(FeedbackRecord.model_fields)


def export_feedback(store: FeedbackStore, path: Path, fmt: ExportFormat = "csv") -> int:
    """Write every vote to ``path`` as CSV (sources as a JSON column) or JSON lines."""
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"Unknown export format '{fmt}': use csv or jsonl")
    records = [masked(record) for record in store.all()]
    with open_private_for_writing(path, newline="") as out:
        if fmt == "jsonl":
            for record in records:
                out.write(record.model_dump_json() + "\n")
        else:
            writer = csv.DictWriter(out, fieldnames=_CSV_COLUMNS)
            writer.writeheader()
            for record in records:
                row = record.model_dump(mode="json")
                row["cited_sources"] = json.dumps(record.cited_sources, ensure_ascii=False)
                writer.writerow(row)
    return len(records)


def cited_sources(answer: Answer) -> list[dict]:
    """The cited sources as the feedback store keeps them (the chat and the bot alike)."""
    return [
        {
            "number": c.number,
            "title": c.passage.title,
            "doc_id": c.passage.doc_id,
            "heading": c.passage.heading,
            "page": c.passage.pages,
            "link": c.passage.link,
        }
        for c in answer.citations
    ]
