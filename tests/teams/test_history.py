"""The bot's conversation history in the chat database: bounded, masked, reset, kept across restarts."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from rag.privacy import MASK_REPLACEMENT
from tests.rag.test_privacy import FNR
from ui.teams.history import TABLE_NAME, ConversationHistory


def _url(tmp_path) -> str:
    # The async form the chat uses; the history speaks its synchronous twin.
    return f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"


def _history(tmp_path, **kwargs) -> ConversationHistory:
    return ConversationHistory(_url(tmp_path), **{"max_turns": 4, "max_age_h": 12, **kwargs})


def test_history_is_bounded_per_conversation_and_oldest_first(tmp_path):
    history = _history(tmp_path)
    for n in range(1, 4):
        history.add_exchange("a:samtale-1", f"Spørsmål {n}?", f"Svar {n}.")
    history.add_exchange("a:samtale-2", "Annet spørsmål?", "Annet svar.")
    turns = history.history("a:samtale-1")
    assert [(t.role, t.content) for t in turns] == [
        ("user", "Spørsmål 2?"), ("assistant", "Svar 2."), ("user", "Spørsmål 3?"), ("assistant", "Svar 3."),
    ]
    with sa.create_engine(f"sqlite:///{tmp_path / 'chat.db'}").connect() as conn:
        stored = conn.execute(sa.text(f"SELECT conversation_id, count(*) FROM {TABLE_NAME} GROUP BY 1 ORDER BY 1"))
        assert stored.all() == [("a:samtale-1", 4), ("a:samtale-2", 2)]  # older turns are deleted, not hidden


def test_identity_numbers_are_masked_before_they_are_stored(tmp_path):
    history = _history(tmp_path)
    history.add_exchange("a:1", f"Pasient {FNR} har feber, hva gjør jeg?", f"For {FNR}: mål temperatur.")
    assert all(FNR not in t.content and MASK_REPLACEMENT in t.content for t in history.history("a:1"))
    assert FNR.encode() not in (tmp_path / "chat.db").read_bytes()


def test_ny_samtale_clears_only_that_conversation(tmp_path):
    history = _history(tmp_path)
    history.add_exchange("a:1", "Hvordan behandles anafylaksi?", "Adrenalin i.m. [1].")
    history.add_exchange("a:2", "Hvordan forebygges trykksår?", "Snu pasienten [1].")
    history.reset("a:1")
    assert history.history("a:1") == []
    assert len(history.history("a:2")) == 2


def test_old_turns_are_neither_used_nor_kept(tmp_path):
    now = [dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.timezone.utc)]
    history = _history(tmp_path, max_age_h=12, clock=lambda: now[0])
    history.add_exchange("a:1", "Hvordan behandles anafylaksi?", "Adrenalin i.m. [1].")
    now[0] += dt.timedelta(hours=13)
    assert history.history("a:1") == []  # a question the next day is not a follow-up
    history.add_exchange("a:2", "Ny dag?", "Ja.")
    with sa.create_engine(f"sqlite:///{tmp_path / 'chat.db'}").connect() as conn:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {TABLE_NAME}")).scalar() == 2  # the old ones deleted


def test_a_new_instance_on_the_same_database_sees_the_history(tmp_path):
    _history(tmp_path).add_exchange("a:1", "Hvordan behandles anafylaksi?", "Adrenalin i.m. [1].")
    assert [t.content for t in _history(tmp_path).history("a:1")] == [
        "Hvordan behandles anafylaksi?", "Adrenalin i.m. [1].",
    ]
