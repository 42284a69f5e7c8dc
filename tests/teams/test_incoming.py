"""Which messages are for the bot, and the question they ask."""

from __future__ import annotations

import pytest
from microsoft_teams.api import MessageActivity

from tests.teams.activities import BOT_ID, channel_message, personal_message
from ui.teams.incoming import is_addressed_to_bot, is_reset_command, question_text

SERVICE_URL = "https://smba.trafficmanager.net/emea/"


def _activity(data: dict) -> MessageActivity:
    return MessageActivity.model_validate(data)


def test_personal_message_is_for_the_bot_as_written():
    activity = _activity(personal_message(SERVICE_URL, "  Hva er   dosen av paracetamol? "))
    assert is_addressed_to_bot(activity)
    assert question_text(activity) == "Hva er dosen av paracetamol?"


def test_channel_mention_is_stripped_from_the_question():
    activity = _activity(channel_message(SERVICE_URL, "Hva sier prosedyren om sepsis?\n"))
    assert activity.text.startswith("<at>Fagprat</at>")
    assert is_addressed_to_bot(activity)
    assert question_text(activity) == "Hva sier prosedyren om sepsis?"


def test_channel_message_without_a_bot_mention_is_ignored():
    assert not is_addressed_to_bot(_activity(channel_message(SERVICE_URL, "Lunsj kl 12?", mention_bot=False)))


def test_other_mentions_keep_the_persons_name_and_html_is_flattened():
    data = channel_message(SERVICE_URL, "spør <at>Kari Nordmann</at> om&nbsp;<b>KOLS</b>")
    data["entities"].append({"type": "mention", "text": "<at>Kari Nordmann</at>",
                             "mentioned": {"id": "29:1kAri", "name": "Kari Nordmann"}})
    activity = _activity(data)
    assert activity.is_recipient_mentioned() and activity.recipient.id == BOT_ID
    assert question_text(activity) == "spør Kari Nordmann om KOLS"


@pytest.mark.parametrize("text", ["ny samtale", "Ny samtale.", "/ny", " NY SAMTALE! "])
def test_reset_commands(text):
    assert is_reset_command(text)


@pytest.mark.parametrize("text", ["ny samtale om sepsis", "nytt spørsmål", "ny"])
def test_not_reset_commands(text):
    assert not is_reset_command(text)
