"""The shared feedback store against a real SQLite file."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import stat

import pytest
from pydantic import ValidationError

from rag.settings import Settings
from tests.security.identity import FNR, files_containing, recognised_spellings
from ui.feedback import TABLE_NAME, FeedbackRecord, FeedbackStore, export_feedback, sync_database_url


def _vote(**overrides) -> FeedbackRecord:
    fields = dict(
        channel="teams",
        user="kari@fjordbyen.no",
        conversation_id="a:1",
        message_id="m-1",
        question="Hva er behandlingen av sepsis?",
        answer="Gi antibiotika innen en time [1].",
        cited_sources=[{"number": 1, "title": "Sepsis", "doc_id": "file:sepsis.md", "heading": "Behandling", "link": "x"}],
        model="smollm2-135m",
        rating=1,
    )
    fields.update(overrides)
    return FeedbackRecord(**fields)


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path / "data")


def test_async_sqlite_url_from_settings_creates_table_in_the_chat_database(settings):
    store = FeedbackStore(settings.resolved_chat_database_url)
    store.record(_vote())
    db_file = settings.data_dir / "chat.db"
    assert db_file.exists()
    with sqlite3.connect(db_file) as conn:
        rows = conn.execute(f"select channel, user, rating, cited_sources from {TABLE_NAME}").fetchall()
    assert len(rows) == 1
    channel, user, rating, sources = rows[0]
    assert (channel, user, rating) == ("teams", "kari@fjordbyen.no", 1)
    assert json.loads(sources)[0]["doc_id"] == "file:sepsis.md"


def test_changing_the_thumb_updates_the_same_vote(settings):
    store = FeedbackStore(settings.resolved_chat_database_url)
    first = store.record(_vote(rating=1))
    second = store.record(_vote(rating=-1, comment="Feil dose"))
    votes = store.all()
    assert len(votes) == 1
    assert votes[0].rating == -1 and votes[0].comment == "Feil dose"
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at


def test_votes_are_kept_apart_by_channel_message_and_user(settings):
    store = FeedbackStore(settings.resolved_chat_database_url)
    store.record(_vote())
    store.record(_vote(channel="web"))
    store.record(_vote(message_id="m-2", rating=-1))
    store.record(_vote(user="ola@fjordbyen.no"))
    votes = store.all()
    assert len(votes) == 4
    assert sorted(v.rating for v in votes) == [-1, 1, 1, 1]


def test_a_second_store_on_the_same_database_sees_the_votes(settings):
    FeedbackStore(settings.resolved_chat_database_url).record(_vote())
    assert [v.message_id for v in FeedbackStore(settings.resolved_chat_database_url).all()] == ["m-1"]


@pytest.mark.parametrize("bad", [{"rating": 0}, {"rating": 5}, {"channel": "slack"}])
def test_invalid_votes_are_rejected(bad):
    with pytest.raises(ValidationError):
        _vote(**bad)


def test_async_urls_map_to_sync_drivers():
    assert sync_database_url("sqlite+aiosqlite:////tmp/x.db").drivername == "sqlite"
    assert sync_database_url("postgresql+asyncpg://u:p@db/fagprat").drivername == "postgresql+psycopg"
    assert sync_database_url("sqlite:////tmp/x.db").drivername == "sqlite"


def test_export_csv_and_jsonl(settings, tmp_path):
    store = FeedbackStore(settings.resolved_chat_database_url)
    store.record(_vote())
    store.record(_vote(message_id="m-2", rating=-1, comment="Mangler kilde, æøå"))

    csv_path = tmp_path / "out" / "feedback.csv"
    assert export_feedback(store, csv_path, fmt="csv") == 2
    with csv_path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["message_id"] for r in rows] == ["m-1", "m-2"]
    assert rows[1]["comment"] == "Mangler kilde, æøå"
    assert json.loads(rows[0]["cited_sources"])[0]["title"] == "Sepsis"

    jsonl_path = tmp_path / "feedback.jsonl"
    assert export_feedback(store, jsonl_path, fmt="jsonl") == 2
    lines = [json.loads(line) for line in jsonl_path.read_text(encoding="utf-8").splitlines()]
    assert [line["rating"] for line in lines] == [1, -1]
    assert lines[0]["cited_sources"][0]["number"] == 1


def test_export_rejects_unknown_format(settings, tmp_path):
    store = FeedbackStore(settings.resolved_chat_database_url)
    with pytest.raises(ValueError, match="csv or jsonl"):
        export_feedback(store, tmp_path / "x.xml", fmt="xml")


# --- no identity number kept or exported; private files ----------------------------------------


def test_votes_are_stored_without_identity_numbers(settings):
    """Finding 2: the question and comment were stored as typed."""
    typed = " og ".join(recognised_spellings(FNR))
    store = FeedbackStore(settings.resolved_chat_database_url)
    stored = store.record(_vote(question=f"Hva gjør jeg med {typed}?", comment=f"Gjelder {FNR}", answer=f"Se {FNR} [1]."))
    store.close()
    assert FNR not in stored.question + stored.comment + stored.answer
    assert "[fødselsnummer fjernet]" in stored.question
    assert files_containing(settings.data_dir, FNR) == []
    assert stat.S_IMODE(os.stat(settings.data_dir / "chat.db").st_mode) == 0o600


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_masks_rows_stored_before_masking_and_is_private(settings, tmp_path, fmt):
    """`fagprat feedback export` wrote identity numbers out; rows from before the fix are masked on the way out."""
    store = FeedbackStore(settings.resolved_chat_database_url)
    store.record(_vote())
    with sqlite3.connect(settings.data_dir / "chat.db") as db:  # a row an older version stored raw
        db.execute(f"UPDATE {TABLE_NAME} SET question = ?, comment = ?", (f"Pasient {FNR}", f"{FNR}"))
    out = tmp_path / "eksport" / f"feedback.{fmt}"
    assert export_feedback(store, out, fmt=fmt) == 1
    assert files_containing(out.parent, FNR) == []
    assert "[fødselsnummer fjernet]" in out.read_text(encoding="utf-8")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_cli_export_is_masked(settings, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from rag.settings import get_settings
    from ui.cli import app

    store = FeedbackStore(settings.resolved_chat_database_url)
    store.record(_vote(comment=f"Gjelder {FNR}"))
    store.close()
    monkeypatch.setenv("FAGPRAT_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        out = tmp_path / "ut.jsonl"
        result = CliRunner().invoke(app, ["feedback", "export", "--format", "jsonl", "--out", str(out)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert FNR not in out.read_text(encoding="utf-8") and "fjernet" in out.read_text(encoding="utf-8")
