"""The Teams user behind an activity, and their access groups.

An activity carries the user's Entra object id (``from.aadObjectId``) and
tenant, but not their UPN: that comes from the connector's member lookup
(``GET /v3/conversations/{id}/members/{userId}``), cached per user. The
mapping itself is `ui.access`, shared with the web chat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from microsoft_teams.api import ActivityBase, ApiClient

from ui.access import GroupMap, access_groups_for
from ui.teams.lru import BoundedDict

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TeamsUser:
    channel_id: str
    """Teams' id for the user in this bot (``29:...``)."""
    name: str = ""
    aad_object_id: str = ""
    upn: str = ""
    email: str = ""
    tenant_id: str = ""

    @property
    def key(self) -> str:
        """The name fagprat records (audit, feedback): UPN, else object id."""
        return self.upn or self.email or self.aad_object_id or self.channel_id

    @property
    def ids(self) -> list[str]:
        return [i for i in (self.upn, self.email, self.aad_object_id) if i]


def tenant_of(activity: ActivityBase) -> str:
    """The tenant an activity came from (channelData first, as Teams fills it)."""
    channel_data = activity.channel_data
    tenant = getattr(channel_data, "tenant", None) if channel_data else None
    return (getattr(tenant, "id", None) or activity.conversation.tenant_id or "").strip()


class IdentityResolver:
    """Finds the user's UPN once per user and maps them to access groups."""

    def __init__(self, group_map: GroupMap, default_groups: list[str], max_users: int):
        self._group_map = group_map
        self._default_groups = list(default_groups)
        self._members: BoundedDict[str, TeamsUser] = BoundedDict(max_users)

    async def user_of(self, activity: ActivityBase, api: ApiClient) -> TeamsUser:
        sender = activity.from_
        cached = self._members.get(sender.id)
        if cached:
            return cached
        user = TeamsUser(
            channel_id=sender.id,
            name=sender.name or "",
            aad_object_id=sender.aad_object_id or "",
            tenant_id=tenant_of(activity),
        )
        try:
            member = await api.conversations.get_member_by_id(activity.conversation.id, sender.id)
        except Exception as err:  # the lookup only adds the UPN; the object id still maps
            logger.warning("Teams member lookup failed for %s: %s", user.aad_object_id or sender.id, err)
            return user
        user = TeamsUser(
            channel_id=sender.id,
            name=member.name or user.name,
            aad_object_id=member.aad_object_id or user.aad_object_id,
            upn=member.user_principal_name or "",
            email=member.email or "",
            tenant_id=member.tenant_id or user.tenant_id,
        )
        self._members.set(sender.id, user)
        return user

    def access_groups(self, user: TeamsUser) -> list[str]:
        # Teams does not send group memberships (that would take a Microsoft Graph
        # call per user), so Teams users are mapped by UPN, e-mail or object id.
        return access_groups_for(self._group_map, user_ids=user.ids, default_groups=self._default_groups)
