"""Reading an incoming Teams message: is it for the bot, and what is asked.

In a 1:1 chat every message is for the bot. In channels and group chats the
bot only answers when @mentioned; its ``<at>Name</at>`` tag is removed from
the question, while other people's mentions keep their names as plain text.
"""

from __future__ import annotations

import html
import re

from microsoft_teams.api import MessageActivity
from microsoft_teams.api.activities.utils import StripMentionsTextOptions, strip_mentions_text

PERSONAL = "personal"
RESET_COMMANDS = frozenset({"ny samtale", "/ny"})

_TAG_RE = re.compile(r"</?[a-zA-Z][^>]*>")


def is_personal(activity: MessageActivity) -> bool:
    conversation_type = activity.conversation.conversation_type
    return conversation_type in (None, PERSONAL)


def is_addressed_to_bot(activity: MessageActivity) -> bool:
    return is_personal(activity) or activity.is_recipient_mentioned()


def question_text(activity: MessageActivity) -> str:
    """The question without the bot's mention, tags or HTML entities."""
    text = activity.text or ""
    if activity.entities and activity.recipient:
        probe = activity.model_copy(update={"text": text})
        text = strip_mentions_text(probe, StripMentionsTextOptions(account_id=activity.recipient.id)) or ""
        probe = activity.model_copy(update={"text": text})
        text = strip_mentions_text(probe, StripMentionsTextOptions(tag_only=True)) or ""
    # Channel messages may arrive as HTML ("<p>...</p>", "&nbsp;").
    text = html.unescape(_TAG_RE.sub(" ", text))
    return " ".join(text.split())


def is_reset_command(text: str) -> bool:
    return text.strip().strip(".!").lower() in RESET_COMMANDS
