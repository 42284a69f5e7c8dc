"""The question built for a signed-in user: their access groups, and nothing else."""

from __future__ import annotations

import json

import pytest

from rag.models import ChatTurn
from tests.conftest import make_settings
from ui.auth import SignedInUser
from ui.questions import ALL, build_question, starter_questions

KARI = SignedInUser(identifier="kari", provider="password", access_groups=["nasjonal", "fjordbyen"])
OLA = SignedInUser(identifier="ola", provider="password", access_groups=["nasjonal", "nordlia"])


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


def test_question_carries_exactly_the_users_groups(settings):
    sneaky = {"doc_type": ALL, "publisher": ALL, "access_groups": ["nordlia"], "model": ""}
    question = build_question(settings, KARI, "Hvor ofte skiftes urinkateter?", chat_settings=sneaky)
    assert question.user == "kari"
    assert question.access_groups == ["nasjonal", "fjordbyen"]
    assert question.doc_types == [] and question.publishers == []
    assert question.model == ""


def test_chat_settings_narrow_the_search(settings):
    chosen = {"doc_type": "prosedyre", "publisher": "Fjordbyen sykehus", "model": "smollm2-135m"}
    question = build_question(settings, KARI, "Spørsmål", chat_settings=chosen)
    assert question.doc_types == ["prosedyre"]
    assert question.publishers == ["Fjordbyen sykehus"]
    assert question.model == "smollm2-135m"


def test_unknown_model_falls_back_to_the_default(settings):
    assert build_question(settings, KARI, "Spørsmål", chat_settings={"model": "gpt-x"}).model == ""


def test_history_is_limited_to_the_condensing_window(tmp_path):
    settings = make_settings(tmp_path, condense_history_turns=1)
    history = [ChatTurn(role="user", content=f"q{i}") for i in range(5)]
    assert [t.content for t in build_question(settings, KARI, "ny", history).history] == ["q3", "q4"]


def _gold(tmp_path, rows):
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


def _row(qid, question, groups, topic, answerable=True, language="nb"):
    return {
        "id": qid,
        "question": question,
        "language": language,
        "answerable": answerable,
        "reference_answer": "Svar." if answerable else "",
        "key_facts": ["fakta"] if answerable else [],
        "source_doc_ids": ["file:x.md"] if answerable else [],
        "access_groups": groups,
        "topic": topic,
    }


def test_starters_are_answerable_gold_questions_the_user_may_see(tmp_path, settings):
    gold = _gold(
        tmp_path,
        [
            _row("1", "Sepsis?", [], "sepsis"),
            _row("2", "Sepsis igjen?", ["nasjonal"], "sepsis"),
            _row("3", "Urinkateter i Fjordbyen?", ["nasjonal", "fjordbyen"], "kateter"),
            _row("4", "Venekateter på Nordlia?", ["nasjonal", "nordlia"], "kateter"),
            _row("5", "Ukjent?", [], "annet", answerable=False),
            _row("6", "Pressure ulcers?", [], "trykksår", language="en"),
        ],
    )
    kari = starter_questions(settings, KARI, gold)
    assert kari == ["Sepsis?", "Urinkateter i Fjordbyen?", "Sepsis igjen?"]  # one per topic first
    assert "Venekateter på Nordlia?" in starter_questions(settings, OLA, gold)
    assert "Urinkateter i Fjordbyen?" not in starter_questions(settings, OLA, gold)


def test_fixed_starters_from_settings_win(tmp_path):
    settings = make_settings(tmp_path, chat_starters=["A?", "B?", "C?"], chat_starter_count=2)
    assert starter_questions(settings, KARI, tmp_path / "missing.jsonl") == ["A?", "B?"]


@pytest.mark.slow
def test_retrieval_for_a_user_only_returns_their_groups_documents(service, indexed_settings):
    for user in (KARI, OLA):
        question = build_question(indexed_settings, user, "Hvor ofte skal perifert venekateter skiftes?")
        result = service.search(question)
        assert result.passages, "the sample corpus has venous catheter procedures for both hospitals"
        for passage in result.passages:
            assert set(passage.access_groups) & set(user.access_groups), passage.doc_id
