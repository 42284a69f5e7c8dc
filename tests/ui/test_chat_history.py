"""Chainlit's SQLAlchemy data layer on our SQLite schema: what the chat relies on."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import uuid
from pathlib import Path

import pytest
from chainlit.context import init_http_context
from chainlit.types import Feedback, Pagination, ThreadFilter
from chainlit.user import User

from tests.conftest import make_settings
from tests.security.identity import FNR, files_containing, recognised_spellings
from ui.chat_history import create_schema, delete_user_history, make_data_layer
from ui.feedback import FeedbackRecord, FeedbackStore


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


# --- no identity number kept; private file; deleting a user's history ------------------------


async def test_nothing_written_through_the_data_layer_keeps_an_identity_number(layer, tmp_path):
    """Finding 2: the thread name, the steps, the saved session and the feedback comment
    kept a fødselsnummer as typed."""
    typed = " / ".join(recognised_spellings(FNR))
    question = f"Pasient {typed} har feber, hva gjør jeg?"
    user = await layer.create_user(User(identifier="kari", metadata={"access_groups": ["fjordbyen"]}))
    thread_id = str(uuid.uuid4())
    await layer.update_thread(thread_id, name=question, user_id=user.id)
    asked = _step(thread_id, "user_message", question)
    asked["input"] = question
    answer = _step(thread_id, "assistant_message", "Gi paracetamol [1].", {"fagprat": {"question": question}})
    await layer.create_step(asked)
    await layer.create_step(answer)
    answer["output"] = f"Gi paracetamol [1]. ({FNR})"
    await layer.update_step(answer)
    # What Chainlit saves of the user session (thread metadata): the chat's history and answer records.
    session = {"history": [{"role": "user", "content": question}], "answers": {answer["id"]: {"question": question}}}
    await layer.update_thread(thread_id, metadata=session)
    await layer.upsert_feedback(Feedback(forId=answer["id"], value=0, threadId=thread_id, comment=f"Gjelder {typed}"))

    thread = await layer.get_thread(thread_id)
    assert "[fødselsnummer fjernet]" in thread["name"]
    assert [s["id"] for s in thread["steps"]] == [asked["id"], answer["id"]]  # ids untouched
    db_file = tmp_path / "data" / "chat.db"
    assert files_containing(db_file.parent, FNR) == []
    assert stat.S_IMODE(os.stat(db_file).st_mode) == 0o600


async def test_elements_are_stored_masked_and_shown_as_they_are(tmp_path):
    """Chainlit stores elements (the side panel) only through a blob store; when a hospital
    configures one, what reaches it and the elements table is masked too."""
    from chainlit.data.storage_clients.base import BaseStorageClient
    from chainlit.element import Text

    class FolderStorage(BaseStorageClient):  # a blob store at the system's edge: files in a folder
        def __init__(self, root: Path):
            self.root = root

        async def upload_file(self, object_key, data, mime="application/octet-stream", overwrite=True, content_disposition=None):
            path = self.root / object_key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data.encode() if isinstance(data, str) else data)
            return {"object_key": object_key, "url": path.as_uri()}

        async def delete_file(self, object_key):
            return True

        async def get_read_url(self, object_key):
            return (self.root / object_key).as_uri()

        async def close(self):
            return None

    url = make_settings(tmp_path / "data").resolved_chat_database_url
    await create_schema(url)
    init_http_context()
    layer = make_data_layer(url, storage_provider=FolderStorage(tmp_path / "data" / "blobs"))
    user = await layer.create_user(User(identifier="kari"))
    thread_id = str(uuid.uuid4())
    await layer.update_thread(thread_id, name="Feber", user_id=user.id)
    element = Text(name=f"Notat {FNR}", content=f"Pasient {FNR} har feber", display="side", for_id=str(uuid.uuid4()))
    element.thread_id = thread_id
    await layer.create_element(element)
    await layer.close()

    assert list((tmp_path / "data" / "blobs").rglob("*")), "the element was stored"
    assert files_containing(tmp_path / "data", FNR) == []
    assert FNR in element.content  # what the user sees is not changed


async def test_delete_user_history_removes_only_that_users_rows(layer, tmp_path):
    url = make_settings(tmp_path / "data").resolved_chat_database_url
    ids = {}
    for name in ("kari", "ola"):
        user = await layer.create_user(User(identifier=name))
        thread_id = str(uuid.uuid4())
        await layer.update_thread(thread_id, name=f"Samtale {name}", user_id=user.id)
        step = _step(thread_id, "assistant_message", f"Svar til {name} om urinkateter")
        await layer.create_step(step)
        await layer.upsert_feedback(Feedback(forId=step["id"], value=1, threadId=thread_id, comment=f"takk {name}"))
        ids[name] = thread_id
    store = FeedbackStore(url)
    for name in ("kari", "ola"):
        store.record(
            FeedbackRecord(channel="web", user=name, conversation_id=ids[name], message_id="m", rating=1, question="q")
        )
    store.close()

    counts = delete_user_history(url, "kari")
    assert counts == {"feedbacks": 1, "elements": 0, "steps": 1, "threads": 1, "users": 1, "fagprat_feedback": 1}
    assert await layer.get_thread(ids["kari"]) is None
    assert (await layer.get_thread(ids["ola"]))["name"] == "Samtale ola"
    assert [r.user for r in FeedbackStore(url).all()] == ["ola"]
    content = (tmp_path / "data" / "chat.db").read_bytes()
    assert b"Svar til kari" not in content and b"takk kari" not in content  # vacuumed, not only unlinked
    assert b"Svar til ola" in content
