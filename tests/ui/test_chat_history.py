"""Chainlit's SQLAlchemy data layer on our SQLite schema: what the chat relies on."""

from __future__ import annotations

import json
import sqlite3
import uuid

import pytest
from chainlit.context import init_http_context
from chainlit.types import Feedback, Pagination, ThreadFilter
from chainlit.user import User

from tests.conftest import make_settings
from ui.chat_history import create_schema, make_data_layer


@pytest.fixture
async def layer(tmp_path):
    url = make_settings(tmp_path / "data").resolved_chat_database_url
    await create_schema(url)
    await create_schema(url)  # idempotent: every start runs it
    init_http_context()
    data_layer = make_data_layer(url)
    yield data_layer
    await data_layer.close()


def _step(thread_id: str, kind: str, output: str, metadata: dict | None = None) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "threadId": thread_id,
        "name": "kari" if kind == "user_message" else "Fagprat",
        "type": kind,
        "output": output,
        "streaming": False,
        "isError": False,
        "waitForAnswer": False,
        "metadata": metadata or {},
        "createdAt": "2026-01-15T10:00:00Z",
        "start": "2026-01-15T10:00:00Z",
        "end": "2026-01-15T10:00:01Z",
        "defaultOpen": False,
        "autoCollapse": False,
        "showInput": "text",
    }


async def test_threads_steps_and_feedback_round_trip_per_user(layer, tmp_path):
    kari = await layer.create_user(User(identifier="kari", metadata={"access_groups": ["fjordbyen"]}))
    ola = await layer.create_user(User(identifier="ola", metadata={"access_groups": ["nordlia"]}))
    assert kari and ola and kari.metadata["access_groups"] == ["fjordbyen"]

    thread_id = str(uuid.uuid4())
    await layer.update_thread(thread_id, name="Urinkateter", user_id=kari.id, metadata={"k": 1})
    question = _step(thread_id, "user_message", "Hvor ofte skiftes urinkateter?")
    answer = _step(thread_id, "assistant_message", "Etter 30 dager [1].", {"fagprat": {"model": "smollm2-135m"}})
    await layer.create_step(question)
    await layer.create_step(answer)
    answer["output"] = "Etter 30 dager [1]. Oppdatert."
    await layer.update_step(answer)

    feedback_id = await layer.upsert_feedback(
        Feedback(forId=answer["id"], value=0, threadId=thread_id, comment="Mangler kilde")
    )
    await layer.upsert_feedback(
        Feedback(id=feedback_id, forId=answer["id"], value=0, threadId=thread_id, comment="Mangler kilde for dosen")
    )

    threads = await layer.list_threads(Pagination(first=20), ThreadFilter(userId=kari.id))
    assert [t["id"] for t in threads.data] == [thread_id]
    thread = threads.data[0]
    assert thread["name"] == "Urinkateter"
    assert [s["output"] for s in thread["steps"]] == ["Hvor ofte skiftes urinkateter?", "Etter 30 dager [1]. Oppdatert."]
    assert thread["steps"][1]["feedback"]["comment"] == "Mangler kilde for dosen"
    assert await layer.get_thread_author(thread_id) == "kari"

    stored = await layer.get_step(answer["id"])
    metadata = stored["metadata"]
    metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
    assert metadata["fagprat"]["model"] == "smollm2-135m"

    # Another user's history is empty.
    others = await layer.list_threads(Pagination(first=20), ThreadFilter(userId=ola.id))
    assert others.data == []

    with sqlite3.connect(tmp_path / "data" / "chat.db") as db:
        assert db.execute("SELECT COUNT(*) FROM feedbacks").fetchone()[0] == 1
        assert db.execute('SELECT COUNT(*) FROM steps WHERE "threadId" = ?', (thread_id,)).fetchone()[0] == 2


async def test_thread_tags_cannot_be_stored_on_sqlite(layer):
    """The known rough edge: why auto_tag_thread is off and fagprat never tags."""
    user = await layer.create_user(User(identifier="kari"))
    thread_id = str(uuid.uuid4())
    await layer.update_thread(thread_id, user_id=user.id, tags=["fagprat"])
    assert await layer.get_thread(thread_id) is None
