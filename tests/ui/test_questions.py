"""The question built for a signed-in user: their access groups, and nothing else."""

from __future__ import annotations

import pytest

from rag.models import ChatTurn, Question
from tests.conftest import make_settings
from ui.auth import SignedInUser
from ui.questions import ALL, build_question, load_starters, setting_choices, starter_questions

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


def test_chat_settings_offer_only_real_choices(tmp_path):
    one_model = make_settings(tmp_path)
    facets = {"doc_types": ["prosedyre", "retningslinje"], "publishers": ["Helsedirektoratet"]}
    choices = setting_choices(one_model, facets)
    assert [(c.id, c.values) for c in choices] == [("doc_type", [ALL, "prosedyre", "retningslinje"])]
    assert setting_choices(one_model, {}) == []  # nothing to choose: no settings at all
    extra = [{"name": "mistral-7b", "backend": "openai", "base_url": "http://127.0.0.1:1/v1"}]
    two_models = make_settings(tmp_path, models=extra)
    model = [c for c in setting_choices(two_models, facets) if c.id == "model"]
    assert len(model) == 1 and len(model[0].values) == 2
    quote = make_settings(tmp_path, models=extra, answer_mode="quote")
    assert not [c for c in setting_choices(quote, facets) if c.id == "model"]  # no model writes in quote mode
    # What is chosen reaches the question under the same keys.
    chosen = {c.id: c.values[-1] for c in setting_choices(two_models, facets)}
    question = build_question(two_models, KARI, "Spørsmål", chat_settings=chosen)
    assert question.doc_types == ["retningslinje"] and question.model == "mistral-7b"


def test_unknown_model_falls_back_to_the_default(settings):
    assert build_question(settings, KARI, "Spørsmål", chat_settings={"model": "gpt-x"}).model == ""


def test_history_is_limited_to_the_condensing_window(tmp_path):
    settings = make_settings(tmp_path, condense_history_turns=1)
    history = [ChatTurn(role="user", content=f"q{i}") for i in range(5)]
    assert [t.content for t in build_question(settings, KARI, "ny", history).history] == ["q3", "q4"]


def test_starters_are_whole_questions_the_user_can_get_answered(settings):
    kari = starter_questions(settings, KARI)
    ola = starter_questions(settings, OLA)
    assert kari and ola
    assert "Hvor raskt etter innleggelse skal fallrisiko vurderes?" in kari  # Fjordbyen's procedure
    assert not any("munnstell" in q for q in kari)  # Nordlia's
    assert any("munnstell" in q for q in ola) and not any("fallrisiko" in q for q in ola)
    for question in kari + ola:
        assert question[0].isupper() and question.endswith("?") and len(question.split()) >= 5, question


@pytest.mark.slow
def test_every_starter_gets_an_answer_with_its_fact(service):
    """Asked as a user with exactly the starter's groups, with the default answer mode."""
    for starter in load_starters():
        answer = service.answer(Question(text=starter.question, access_groups=starter.access_groups))
        assert not answer.refused, (starter.question, answer.refusal_reason)
        shown = " ".join(s.text for s in answer.sentences) or answer.text
        assert starter.expect in shown, (starter.question, shown)


def test_fixed_starters_from_settings_win(tmp_path):
    settings = make_settings(tmp_path, chat_starters=["A?", "B?", "C?"], chat_starter_count=2)
    assert starter_questions(settings, KARI, tmp_path / "missing.yaml") == ["A?", "B?"]


@pytest.mark.slow
def test_retrieval_for_a_user_only_returns_their_groups_documents(service, indexed_settings):
    for user in (KARI, OLA):
        question = build_question(indexed_settings, user, "Hvor ofte skal perifert venekateter skiftes?")
        result = service.search(question)
        assert result.passages, "the sample corpus has venous catheter procedures for both hospitals"
        for passage in result.passages:
            assert set(passage.access_groups) & set(user.access_groups), passage.doc_id
