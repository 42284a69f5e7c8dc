"""`fagprat users add | remove | delete-history` against real files and a real SQLite history."""

from __future__ import annotations

import os
import stat
import uuid

import pytest
from typer.testing import CliRunner

from rag.settings import get_settings
from tests.conftest import make_settings
from ui.auth import load_users
from ui.chat_history import create_schema, make_data_layer
from ui.cli import app
from ui.feedback import FeedbackRecord, FeedbackStore


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Runs `fagprat` with the data folder under tmp_path, from another working directory."""
    for key in list(os.environ):
        if key.startswith("FAGPRAT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FAGPRAT_DATA_DIR", str(tmp_path / "data"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    get_settings.cache_clear()

    def run(*args: str, input: str | None = None):
        get_settings.cache_clear()
        return CliRunner().invoke(app, list(args), input=input)

    yield run
    get_settings.cache_clear()


def test_users_add_writes_a_private_users_file_under_the_data_folder(cli, tmp_path):
    result = cli("users", "add", "kari", "-g", "nasjonal", "-g", "fjordbyen", input="hemmelig\nhemmelig\n")
    assert result.exit_code == 0, result.output
    users = tmp_path / "data" / "users.yaml"
    assert load_users(users)["kari"].groups == ["nasjonal", "fjordbyen"]
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o600
    assert not (tmp_path / "elsewhere" / "config").exists()


def test_users_remove(cli, tmp_path):
    cli("users", "add", "kari", "-g", "nasjonal", input="a\na\n")
    cli("users", "add", "ola", "-g", "nasjonal", input="b\nb\n")
    assert cli("users", "remove", "kari").exit_code == 0
    assert set(load_users(tmp_path / "data" / "users.yaml")) == {"ola"}
    missing = cli("users", "remove", "kari")
    assert missing.exit_code == 1 and "finnes ikke" in missing.output


async def test_users_delete_history(cli, tmp_path):
    url = make_settings(tmp_path / "data").resolved_chat_database_url
    await create_schema(url)
    from chainlit.context import init_http_context
    from chainlit.user import User

    init_http_context()
    layer = make_data_layer(url)
    user = await layer.create_user(User(identifier="kari"))
    thread_id = str(uuid.uuid4())
    await layer.update_thread(thread_id, name="Urinkateter", user_id=user.id)
    await layer.close()
    FeedbackStore(url).record(FeedbackRecord(channel="web", user="kari", conversation_id=thread_id, message_id="m", rating=1))

    refused = cli("users", "delete-history", "kari", input="n\n")
    assert refused.exit_code != 0
    assert FeedbackStore(url).all()  # nothing deleted without confirmation
    result = cli("users", "delete-history", "kari", "--yes")
    assert result.exit_code == 0, result.output
    assert "1 samtaler" in result.output and "1 tilbakemeldinger" in result.output
    assert FeedbackStore(url).all() == []
