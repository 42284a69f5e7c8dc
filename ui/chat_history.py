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
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

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


async def create_schema(database_url: str) -> None:
    """Create Chainlit's tables if they are missing (idempotent)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()


def make_data_layer(database_url: str):
    """Chainlit's SQLAlchemy data layer on ``database_url`` (schema must exist)."""
    from chainlit.data.sql_alchemy import SQLAlchemyDataLayer

    return SQLAlchemyDataLayer(conninfo=database_url)
