"""Bot Framework activities shaped as Microsoft Teams sends them.

Field names and nesting follow what Teams posts to a bot's messaging endpoint
(see the Bot Framework "Activity" schema and Teams' channelData); ids use
Teams' prefixes (29: users, 28: bots, a: personal chats, 19: channels).
"""

from __future__ import annotations

import itertools
from typing import Any

TENANT_ID = "72f988bf-0000-4000-8000-0000000000aa"
BOT_APP_ID = "b1a2c3d4-0000-4000-8000-000000000b07"
BOT_ID = f"28:{BOT_APP_ID}"
BOT_NAME = "Fagprat"

KARI = {
    "id": "29:1kAri-teams-user-id",
    "name": "Kari Nordmann",
    "aadObjectId": "6f1c2a7e-0000-4000-8000-000000000001",
    "upn": "kari.nordmann@fjordbyen.no",
}
OLA = {
    "id": "29:1oLa-teams-user-id",
    "name": "Ola Nordmann",
    "aadObjectId": "6f1c2a7e-0000-4000-8000-000000000002",
    "upn": "ola.nordmann@nordlia.no",
}

_ids = itertools.count(1732435200000)


def member_json(user: dict) -> dict:
    """What the connector returns for GET /v3/conversations/{id}/members/{userId}."""
    given, _, surname = user["name"].partition(" ")
    return {
        "id": user["id"],
        "name": user["name"],
        "aadObjectId": user["aadObjectId"],
        "givenName": given,
        "surname": surname,
        "email": user["upn"],
        "userPrincipalName": user["upn"],
        "tenantId": TENANT_ID,
        "userRole": "user",
    }


def _base(service_url: str, user: dict, conversation: dict, channel_data: dict) -> dict[str, Any]:
    return {
        "id": str(next(_ids)),
        "timestamp": "2026-11-24T08:00:00.000Z",
        "localTimestamp": "2026-11-24T09:00:00.000+01:00",
        "channelId": "msteams",
        "serviceUrl": service_url.rstrip("/") + "/",
        "from": {"id": user["id"], "name": user["name"], "aadObjectId": user["aadObjectId"]},
        "conversation": conversation,
        "recipient": {"id": BOT_ID, "name": BOT_NAME},
        "channelData": {**channel_data, "tenant": {"id": TENANT_ID}},
        "locale": "nb-NO",
        "localTimezone": "Europe/Oslo",
    }


def _client_info() -> dict:
    return {"type": "clientInfo", "locale": "nb-NO", "country": "NO", "platform": "Web", "timezone": "Europe/Oslo"}


def personal_conversation(user: dict) -> dict:
    return {"conversationType": "personal", "tenantId": TENANT_ID, "id": f"a:1personal-{user['id'][3:]}"}


def personal_message(service_url: str, text: str, user: dict = KARI, conversation_id: str | None = None) -> dict:
    conversation = personal_conversation(user)
    if conversation_id:
        conversation["id"] = conversation_id
    return {
        **_base(service_url, user, conversation, {}),
        "type": "message",
        "text": text,
        "textFormat": "plain",
        "entities": [_client_info()],
    }


CHANNEL_ID = "19:3f2a0c1b5d6e4f7a8b9c0d1e2f3a4b5c@thread.tacv2"
TEAM_ID = "19:team0c1b5d6e4f7a8b9c0d1e2f3a4b5c@thread.tacv2"


def channel_message(service_url: str, text: str, *, mention_bot: bool = True, user: dict = KARI) -> dict:
    """A new channel post; with `mention_bot`, '<at>Fagprat</at>' starts the text as Teams sends it."""
    activity_id = str(next(_ids))
    conversation = {
        "isGroup": True,
        "conversationType": "channel",
        "tenantId": TENANT_ID,
        "id": f"{CHANNEL_ID};messageid={activity_id}",
    }
    channel_data = {
        "teamsChannelId": CHANNEL_ID,
        "teamsTeamId": TEAM_ID,
        "channel": {"id": CHANNEL_ID},
        "team": {"id": TEAM_ID},
    }
    entities = [_client_info()]
    if mention_bot:
        text = f"<at>{BOT_NAME}</at> {text}"
        entities.insert(0, {"type": "mention", "text": f"<at>{BOT_NAME}</at>", "mentioned": {"id": BOT_ID, "name": BOT_NAME}})
    activity = {**_base(service_url, user, conversation, channel_data), "type": "message", "text": text,
                "textFormat": "plain", "entities": entities}
    activity["id"] = activity_id
    return activity


def card_feedback_invoke(
    service_url: str,
    conversation: dict,
    reply_to_id: str,
    data: dict,
    *,
    verb: str = "fagprat.feedback",
    user: dict = KARI,
) -> dict:
    """An Action.Execute click on the bot's card ('adaptiveCard/action' invoke), inputs merged into data."""
    return {
        **_base(service_url, user, conversation, {}),
        "type": "invoke",
        "name": "adaptiveCard/action",
        "replyToId": reply_to_id,
        "value": {"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"},
    }


def native_feedback_invoke(
    service_url: str, conversation: dict, reply_to_id: str, reaction: str, text: str, user: dict = KARI
) -> dict:
    """Teams' own thumbs under a message with the feedback loop ('message/submitAction' invoke)."""
    return {
        **_base(service_url, user, conversation, {}),
        "type": "invoke",
        "name": "message/submitAction",
        "replyToId": reply_to_id,
        "value": {
            "actionName": "feedback",
            "actionValue": {"reaction": reaction, "feedback": '{"feedbackText":"%s"}' % text},
        },
    }
