"""Chat history for the web chat: Chainlit's SQLAlchemy data layer.

Chainlit writes threads, messages (steps), elements and thumbs up/down through
hand-written SQL, but does not create its tables. ``create_schema`` creates
them (SQLite by default under ``data_dir``, Postgres in production) from the
schema Chainlit documents for its SQLAlchemy layer, with portable column types:
UUID, JSONB and TEXT[] on Postgres, TEXT on SQLite.

Known rough edge on SQLite: list parameters (thread and step ``tags``) cannot
be bound, so fagprat never sets tags (``auto_tag_thread = false`` in
``.chainlit/config.toml``). Elements (the side panel's sources) are not
persisted (Chainlit stores them only through a blob storage client), so a
resumed thread shows the answer text with its [n] markers but not the panel.

Nothing the chat keeps may hold a national identity number: `MaskingDataLayer`
masks every text Chainlit writes (thread names, message inputs and outputs,
step and thread metadata, which holds the saved user session, feedback
comments, elements) with `rag.privacy.mask_identity_numbers` before it reaches
the database. A SQLite database is created readable by its owner only.

`delete_user_history` removes one user's threads, messages, feedback and the
chat's record of the user (``fagprat users delete-history``).
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from rag.privacy import mask_identity_numbers
from ui.private_files import create_private_file

_UUID = sa.Text().with_variant(postgresql.UUID(as_uuid=False), "postgresql")
_JSON = sa.Text().with_variant(postgresql.JSONB(), "postgresql")
_TAGS = sa.Text().with_variant(postgresql.ARRAY(sa.Text()), "postgresql")

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", _UUID, primary_key=True),
    sa.Column("identifier", sa.Text, nullable=False, unique=True),
    sa.Column("metadata", _JSON, nullable=False),
    sa.Column("createdAt", sa.Text),
)

threads = sa.Table(
    "threads",
    metadata,
    sa.Column("id", _UUID, primary_key=True),
    sa.Column("createdAt", sa.Text),
    sa.Column("name", sa.Text),
    sa.Column("userId", _UUID, sa.ForeignKey("users.id", ondelete="CASCADE")),
    sa.Column("userIdentifier", sa.Text),
    sa.Column("tags", _TAGS),
    sa.Column("metadata", _JSON),
)

steps = sa.Table(
    "steps",
    metadata,
    sa.Column("id", _UUID, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("threadId", _UUID, sa.ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
    sa.Column("parentId", _UUID),
    sa.Column("streaming", sa.Boolean, nullable=False),
    sa.Column("waitForAnswer", sa.Boolean),
    sa.Column("isError", sa.Boolean),
    sa.Column("metadata", _JSON),
    sa.Column("tags", _TAGS),
    sa.Column("input", sa.Text),
    sa.Column("output", sa.Text),
    sa.Column("createdAt", sa.Text),
    sa.Column("command", sa.Text),
    sa.Column("modes", _JSON),
    sa.Column("start", sa.Text),
    sa.Column("end", sa.Text),
    sa.Column("generation", _JSON),
    sa.Column("showInput", sa.Text),
    sa.Column("language", sa.Text),
    sa.Column("indent", sa.Integer),
    sa.Column("defaultOpen", sa.Boolean),
    sa.Column("autoCollapse", sa.Boolean),
)

elements = sa.Table(
    "elements",
    metadata,
    sa.Column("id", _UUID, primary_key=True),
    sa.Column("threadId", _UUID, sa.ForeignKey("threads.id", ondelete="CASCADE")),
    sa.Column("type", sa.Text),
    sa.Column("url", sa.Text),
    sa.Column("chainlitKey", sa.Text),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("display", sa.Text),
    sa.Column("objectKey", sa.Text),
    sa.Column("size", sa.Text),
    sa.Column("page", sa.Integer),
    sa.Column("language", sa.Text),
    sa.Column("forId", _UUID),
    sa.Column("mime", sa.Text),
    sa.Column("props", _JSON),
    sa.Column("autoPlay", sa.Boolean),
    sa.Column("playerConfig", _JSON),
)

feedbacks = sa.Table(
    "feedbacks",
    metadata,
    sa.Column("id", _UUID, primary_key=True),
    sa.Column("forId", _UUID, nullable=False),
    sa.Column("threadId", _UUID, sa.ForeignKey("threads.id", ondelete="CASCADE")),
    sa.Column("value", sa.Integer, nullable=False),
    sa.Column("comment", sa.Text),
)


def sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite database URL (None for other databases and in-memory SQLite)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database)
    return None


def create_private_database(database_url: str) -> None:
    """Create a SQLite file 0600 before SQLite does (it would use the umask: world-readable).

    SQLite gives its journal and WAL files the database file's permissions.
    """
    if path := sqlite_file(database_url):
        create_private_file(path)


async def create_schema(database_url: str) -> None:
    """Create Chainlit's tables if they are missing (idempotent)."""
    url = make_url(database_url)
    create_private_database(database_url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()


def mask_text(value: str | None) -> str | None:
    return mask_identity_numbers(value)[0] if isinstance(value, str) else value


def _is_identifier(key: Any) -> bool:
    # Ids are references, never free text: left exactly as they are.
    return isinstance(key, str) and (key == "id" or key.endswith(("Id", "_id")))


def mask_json(value: Any) -> Any:
    """Every string in a JSON-like structure masked (ids excepted)."""
    if isinstance(value, str):
        return mask_identity_numbers(value)[0]
    if isinstance(value, dict):
        return {key: item if _is_identifier(key) else mask_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_json(item) for item in value]
    return value


# The free-text fields of a step (a message, a retrieval step, a run).
_STEP_TEXT_FIELDS = ("name", "input", "output")
_STEP_JSON_FIELDS = ("metadata", "generation")


def mask_step(step_dict: dict) -> dict:
    masked = dict(step_dict)
    for field in _STEP_TEXT_FIELDS:
        if field in masked:
            masked[field] = mask_text(masked[field])
    for field in _STEP_JSON_FIELDS:
        if field in masked:
            masked[field] = mask_json(masked[field])
    return masked


def _data_layer_class():  # type: ignore[no-untyped-def]
    from chainlit.data.sql_alchemy import SQLAlchemyDataLayer

    class MaskingDataLayer(SQLAlchemyDataLayer):
        """Chainlit's SQLAlchemy data layer that masks identity numbers in all it writes."""

        async def create_step(self, step_dict):  # type: ignore[no-untyped-def]
            return await super().create_step(mask_step(step_dict))

        async def update_step(self, step_dict):  # type: ignore[no-untyped-def]
            return await super().update_step(mask_step(step_dict))

        async def update_thread(self, thread_id, name=None, user_id=None, metadata=None, tags=None):  # type: ignore[no-untyped-def]
            return await super().update_thread(
                thread_id,
                name=mask_text(name),
                user_id=user_id,
                metadata=mask_json(metadata) if metadata is not None else None,
                tags=tags,
            )

        async def upsert_feedback(self, feedback):  # type: ignore[no-untyped-def]
            return await super().upsert_feedback(dataclasses.replace(feedback, comment=mask_text(feedback.comment)))

        async def create_element(self, element):  # type: ignore[no-untyped-def]
            # A copy: the element on screen stays as it is; only what is stored is masked.
            stored = copy.copy(element)
            stored.name = mask_text(stored.name) or ""
            if isinstance(stored.content, str):
                stored.content = mask_text(stored.content)
            return await super().create_element(stored)

    return MaskingDataLayer


def make_data_layer(database_url: str, storage_provider=None):  # type: ignore[no-untyped-def]
    """Chainlit's SQLAlchemy data layer on ``database_url`` (schema must exist), masking what it writes.

    ``storage_provider``: a Chainlit blob store for elements (none by default: elements are not kept).
    """
    return _data_layer_class()(conninfo=database_url, storage_provider=storage_provider)


def delete_user_history(database_url: str, identifier: str) -> dict[str, int]:
    """Delete everything the chat keeps about one user: threads, messages, elements,
    Chainlit's feedback, fagprat's feedback rows and the chat's user record.

    Returns how many rows went from each table. On SQLite the file is vacuumed
    afterwards, so the deleted text does not linger in free pages. The audit
    log is not touched (it is the hospital's record of who asked what).
    """
    from ui.feedback import feedback_table, sync_database_url

    engine = sa.create_engine(sync_database_url(database_url))
    counts: dict[str, int] = {}
    try:
        with engine.begin() as conn:
            metadata.create_all(conn)  # a database the chat never opened has nothing to delete
            feedback_table.metadata.create_all(conn, tables=[feedback_table])
            thread_ids = sa.select(threads.c.id).where(threads.c.userIdentifier == identifier)
            user_ids = sa.select(users.c.id).where(users.c.identifier == identifier)
            counts["feedbacks"] = conn.execute(feedbacks.delete().where(feedbacks.c.threadId.in_(thread_ids))).rowcount
            counts["elements"] = conn.execute(elements.delete().where(elements.c.threadId.in_(thread_ids))).rowcount
            counts["steps"] = conn.execute(steps.delete().where(steps.c.threadId.in_(thread_ids))).rowcount
            counts["threads"] = conn.execute(
                threads.delete().where(sa.or_(threads.c.userIdentifier == identifier, threads.c.userId.in_(user_ids)))
            ).rowcount
            counts["users"] = conn.execute(users.delete().where(users.c.identifier == identifier)).rowcount
            counts["fagprat_feedback"] = conn.execute(
                feedback_table.delete().where(feedback_table.c.user == identifier)
            ).rowcount
        if engine.dialect.name == "sqlite":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM")
    finally:
        engine.dispose()
    return counts
