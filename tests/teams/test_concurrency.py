"""Many staff at once, end to end: Teams activities from several conversations
posted together to the running bot, the real answering service, a model server
stand-in with two parallel slots (``slotted_llm.py``)."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.teams.activities import KARI, personal_message
from tests.teams.conftest import running_bot, running_connector
from tests.teams.slotted_llm import SlottedLLMServer
from ui.teams.bot import BUSY_NOTICE
from ui.teams.server import MESSAGING_ENDPOINT

pytestmark = pytest.mark.slow

QUESTIONS = [
    "Hvordan behandles anafylaksi?",
    "Hvordan forebygges trykksår?",
    "Hvordan utføres hånddesinfeksjon?",
    "Hvordan behandles KOLS-forverring?",
]
ANSWER_TIMEOUT_S = 300


def test_conversations_are_answered_side_by_side_up_to_the_slots_and_the_rest_hear_that_many_ask(indexed_settings):
    with SlottedLLMServer(2, prompt_s=2.0, token_s=0.02) as llm, running_connector() as connector:
        settings = indexed_settings.model_copy(update={
            "teams_dev_mode": True,
            "llm_backend": "openai",
            "llm_base_url": llm.base_url,
            "llm_name": "slotted-stand-in",
            "answer_mode": "generate",
            "teams_max_concurrent_answers": 2,
            "teams_busy_notice_s": 1.0,
        })
        with running_bot(settings) as (server, base_url):
            activities = [
                personal_message(connector.url, question, user=KARI, conversation_id=f"a:samtidig-{n}")
                for n, question in enumerate(QUESTIONS)
            ]
            posts = [threading.Thread(target=httpx.post, args=(base_url + MESSAGING_ENDPOINT,),
                                      kwargs={"json": a, "timeout": 60}) for a in activities]
            for post in posts:
                post.start()
            for post in posts:
                post.join()

            def replied(acts: list[dict]) -> bool:  # an answer or an error message, but not the notice
                done = {a["conversation"]["id"] for a in acts if a["type"] == "message" and a.get("text") != BUSY_NOTICE}
                return len(done) == len(QUESTIONS)

            sent = connector.wait_for(replied, ANSWER_TIMEOUT_S, "a reply in every conversation")
            assert server.bot.queue.stats() == {"slots": 2, "answering": 0, "waiting": 0}

    assert llm.max_running == 2  # side by side, never more than the server's slots
    by_conversation = {a["conversation"]["id"]: [x for x in sent if x["conversation"]["id"] == a["conversation"]["id"]]
                       for a in activities}
    for conversation, acts in by_conversation.items():
        answers = [a for a in acts if a["type"] == "message" and "attachments" in a]
        assert len(answers) == 1, (conversation, [a.get("text") for a in acts])
        assert acts[0]["type"] == "typing"
    waited = [acts for acts in by_conversation.values() if any(a.get("text") == BUSY_NOTICE for a in acts)]
    assert waited, "no conversation waited long enough for the busy notice"
    for acts in waited:
        notice = next(i for i, a in enumerate(acts) if a.get("text") == BUSY_NOTICE)
        answer = next(i for i, a in enumerate(acts) if "attachments" in a)
        assert notice < answer
        # The typing indicator was kept alive while the question waited and was answered.
        assert sum(1 for a in acts[:answer] if a["type"] == "typing") >= 2
