"""The bot end to end: Teams activities over HTTP to the running endpoint, the
real answering service on the indexed sample corpus, Entra groups from the
stand-in Graph, replies recorded by the connector stand-in, the question the
service saw read from its audit log."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from tests.teams.activities import (
    KARI,
    OLA,
    card_feedback_invoke,
    channel_message,
    native_feedback_invoke,
    personal_conversation,
    personal_message,
)
from tests.teams.conftest import graph_settings, running_bot, running_connector
from tests.teams.graph_stand_in import GraphStandIn
from ui.feedback import FeedbackStore
from ui.teams.bot import RESET_CONFIRMATION
from ui.teams.reply import REFUSAL_HINT, cited_numbers
from ui.teams.server import MESSAGING_ENDPOINT

pytestmark = pytest.mark.slow

# The bundled model on a shared CPU takes tens of seconds per answer.
ANSWER_TIMEOUT_S = 600
QUIET_PERIOD_S = 1.0

FIRST_QUESTION = "Hvordan behandles anafylaksi?"
FOLLOW_UP = "Hva med barn?"


@pytest.fixture(scope="module")
def module_graph():
    """Fjordbyen's nurses (Kari) are a nested group of its staff; Ola is unknown to this tenant's Graph."""
    stand_in = GraphStandIn().start()
    staff = stand_in.add_group("Fjordbyen-alle")
    stand_in.add_user(KARI["aadObjectId"], [stand_in.add_group("Fjordbyen-sykepleiere", member_of=[staff])])
    try:
        yield stand_in
    finally:
        stand_in.stop()


@pytest.fixture(scope="module")
def bot_settings(indexed_settings, module_graph, tmp_path_factory):
    folder = tmp_path_factory.mktemp("teams-config")
    staff = next(gid for gid, name in module_graph.groups.items() if name == "Fjordbyen-alle")
    graph = graph_settings(folder, module_graph, f"groups:\n  {staff}: [fjordbyen]\n")
    return indexed_settings.model_copy(
        update={
            **{k: getattr(graph, k) for k in graph.model_fields_set if k.startswith(("teams_", "group_map"))},
            # Short answers keep the CPU time of these tests bearable.
            "llm_max_tokens": 96,
        }
    )


@pytest.fixture(scope="module")
def module_connector():
    with running_connector() as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def bot(bot_settings):
    with running_bot(bot_settings) as (server, base_url):
        yield server, base_url + MESSAGING_ENDPOINT


def _post(url: str, activity: dict) -> httpx.Response:
    return httpx.post(url, json=activity, timeout=60)


def _in_conversation(activities: list[dict], conversation_id: str) -> list[dict]:
    return [a for a in activities if a["conversation"]["id"] == conversation_id]


def _wait_for_messages(connector, conversation_id: str, count: int) -> list[dict]:
    activities = connector.wait_for(
        lambda acts: len([a for a in _in_conversation(acts, conversation_id) if a["type"] == "message"]) >= count,
        ANSWER_TIMEOUT_S,
        f"{count} message(s) in {conversation_id}",
    )
    return _in_conversation(activities, conversation_id)


def _eventually(read, done, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while not done(value := read()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def _audit(settings, question: str) -> dict:
    lines = settings.resolved_audit_log_path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    matching = [r for r in records if r["question"] == question]
    assert matching, f"the service never saw {question!r}: {[r['question'] for r in records]}"
    return matching[-1]


def _card(message: dict) -> dict:
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return attachment["content"]


def _card_numbers_and_titles(card: dict) -> list[tuple[int, str]]:
    texts = [item["text"] for block in card["body"] if block["type"] == "Container" for item in block["items"]
             if item["type"] == "TextBlock"]
    return [(int(m.group(1)), m.group(2)) for t in texts if (m := re.fullmatch(r"\[(\d+)\] (.+)", t))]


def _claims(message: dict) -> list[dict]:
    return [claim for e in message.get("entities", []) for claim in e.get("citation", [])]


@pytest.fixture(scope="module")
def first_exchange(bot, module_connector):
    """Kari asks in a 1:1 chat; the activities the bot sent for it."""
    _, url = bot
    activity = personal_message(module_connector.url, FIRST_QUESTION, user=KARI)
    response = _post(url, activity)
    assert response.status_code == 200
    sent = _wait_for_messages(module_connector, activity["conversation"]["id"], 1)
    return activity, sent


def test_personal_question_gets_typing_then_a_cited_reply_with_card(first_exchange, bot_settings):
    activity, sent = first_exchange
    assert sent[0]["type"] == "typing"
    messages = [a for a in sent if a["type"] == "message"]
    assert len(messages) == 1
    (message,) = messages
    audit = _audit(bot_settings, FIRST_QUESTION)
    assert audit["user"] == KARI["upn"]
    assert audit["access_groups"] == ["nasjonal", "fjordbyen"]

    text_numbers = cited_numbers(message["text"])
    card = _card(message)
    card_sources = _card_numbers_and_titles(card)
    assert [n for n, _ in card_sources] == text_numbers
    assert [c["position"] for c in _claims(message)] == text_numbers
    assert [c["number"] for c in audit["cited"]] == text_numbers
    retrieved_titles = {r["title"] for r in audit["retrieved"]}
    assert {title for _, title in card_sources} <= retrieved_titles
    if audit["refused"]:
        assert REFUSAL_HINT in message["text"] and not text_numbers
    else:
        assert text_numbers, "a non-refused answer must cite its sources"
        assert REFUSAL_HINT not in message["text"]

    assert any("AIGeneratedContent" in e.get("additionalType", []) for e in message["entities"])
    assert card["version"] == "1.5" and card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert [(a["type"], a["data"]["rating"]) for a in card["actions"]] == [("Action.Execute", 1), ("Action.Execute", -1)]
    assert message["channelData"]["feedbackLoop"]["type"] == "default"
    assert message["from"]["id"] == activity["recipient"]["id"]


def test_card_feedback_and_teams_feedback_are_stored_as_one_vote(first_exchange, bot, module_connector, bot_settings):
    _, url = bot
    activity, sent = first_exchange
    (message,) = [a for a in sent if a["type"] == "message"]
    answer_id = _card(message)["actions"][0]["data"]["answer_id"]
    conversation = activity["conversation"]
    store = FeedbackStore(bot_settings.resolved_chat_database_url)

    def votes():
        return [v for v in store.all() if v.channel == "teams" and v.message_id == answer_id]

    thumbs_down = card_feedback_invoke(module_connector.url, conversation, module_connector.sent_id(message),
                                       {"answer_id": answer_id, "rating": -1, "comment": "Mangler dose til barn"})
    response = _post(url, thumbs_down)
    assert response.status_code == 200
    assert response.json() == {"statusCode": 200, "type": "application/vnd.microsoft.activity.message",
                               "value": "Takk for tilbakemeldingen!"}
    (vote,) = votes()
    assert (vote.user, vote.rating, vote.comment) == (KARI["upn"], -1, "Mangler dose til barn")
    assert vote.question == FIRST_QUESTION
    # The message shows the service's lines as Teams paragraphs.
    assert vote.answer and message["text"].startswith("\n\n".join(l for l in vote.answer.splitlines() if l.strip()))
    assert [s["number"] for s in vote.cited_sources] == cited_numbers(message["text"])
    assert vote.model == _audit(bot_settings, FIRST_QUESTION)["model"]  # "" for a quote answer (no model)
    assert vote.conversation_id == conversation["id"]

    # Teams' own thumbs under the same message update the same vote.
    native = native_feedback_invoke(module_connector.url, conversation, module_connector.sent_id(message),
                                    "like", "Bra svar likevel")
    assert _post(url, native).status_code == 200
    (vote,) = votes()
    assert (vote.rating, vote.comment) == (1, "Bra svar likevel")

    # Invalid feedback is refused (Universal Actions carry the status in the body) and stores nothing.
    bad = card_feedback_invoke(module_connector.url, conversation, "x", {"answer_id": answer_id, "rating": 5})
    body = _post(url, bad).json()
    assert (body["statusCode"], body["type"]) == (400, "application/vnd.microsoft.error")
    assert len(votes()) == 1


def test_follow_up_uses_the_history_and_ny_samtale_resets_it(first_exchange, bot, module_connector, bot_settings):
    server, url = bot
    activity, _ = first_exchange
    conversation_id = activity["conversation"]["id"]
    history = server.bot.history

    assert _post(url, personal_message(module_connector.url, FOLLOW_UP, user=KARI)).status_code == 200
    _wait_for_messages(module_connector, conversation_id, 2)
    follow_up = _audit(bot_settings, FOLLOW_UP)
    assert follow_up["standalone_question"] != FOLLOW_UP  # condensed with the earlier turns
    turns = _eventually(lambda: history.history(conversation_id), lambda t: len(t) >= 4)  # written after sending
    assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[0].content == FIRST_QUESTION and turns[2].content == FOLLOW_UP

    assert _post(url, personal_message(module_connector.url, "Ny samtale", user=KARI)).status_code == 200
    sent = _wait_for_messages(module_connector, conversation_id, 3)
    assert sent[-1]["type"] == "message" and sent[-1]["text"] == RESET_CONFIRMATION
    assert history.history(conversation_id) == []

    assert _post(url, personal_message(module_connector.url, FOLLOW_UP, user=KARI)).status_code == 200
    _wait_for_messages(module_connector, conversation_id, 4)
    fresh = _audit(bot_settings, FOLLOW_UP)
    assert fresh["standalone_question"] == FOLLOW_UP  # no history after the reset
    assert personal_conversation(KARI)["id"] == conversation_id


def test_channel_question_needs_a_mention_which_is_stripped(bot, module_connector, bot_settings):
    _, url = bot
    question = "Hvordan forebygges trykksår?"
    ignored = channel_message(module_connector.url, "Hvem tar vakta i morgen?", mention_bot=False, user=OLA)
    assert _post(url, ignored).status_code == 200
    mentioned = channel_message(module_connector.url, question, user=OLA)
    assert mentioned["text"].startswith("<at>Fagprat</at> ")
    assert _post(url, mentioned).status_code == 200

    sent = _wait_for_messages(module_connector, mentioned["conversation"]["id"], 1)
    assert sent[0]["type"] == "typing"
    audit = _audit(bot_settings, question)  # the service saw the question without the mention
    assert audit["user"] == OLA["upn"]
    assert audit["access_groups"] == ["nasjonal"]  # Ola is not in the group map
    time.sleep(QUIET_PERIOD_S)
    assert _in_conversation(module_connector.activities(), ignored["conversation"]["id"]) == []


def test_a_service_error_is_shown_as_its_message_not_a_traceback(bot, module_connector, bot_settings):
    _, url = bot
    too_long = "Hva er riktig dose paracetamol? " * (bot_settings.max_question_chars // 20)
    activity = personal_message(module_connector.url, too_long, user=OLA)
    assert _post(url, activity).status_code == 200
    sent = _wait_for_messages(module_connector, activity["conversation"]["id"], 1)
    (message,) = [a for a in sent if a["type"] == "message"]
    assert message["text"].startswith("Spørsmålet er for langt")
    assert "Traceback" not in message["text"] and "attachments" not in message
