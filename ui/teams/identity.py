"""The Teams user behind an activity, and their access groups.

An activity carries the user's Entra object id (``from.aadObjectId``) and
tenant, but not their UPN: that comes from the connector's member lookup
(``GET /v3/conversations/{id}/members/{userId}``), cached per user. Their Entra
groups come from Microsoft Graph (``ui/teams/graph.py``), cached per user for
``teams_graph_cache_ttl_s``. The mapping to access groups is `ui.access`, the
same as the web chat's Entra sign-in.

When Graph cannot answer (an outage, throttling beyond the retries, revoked
consent), a user whose groups were read before keeps them; anyone else gets
the least access: the default groups and what the group map gives their UPN or
object id, never a group that only Graph could vouch for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from microsoft_teams.api import ActivityBase, ApiClient

from rag.settings import Settings
from ui.access import Access, GroupMapFile, resolve_access
from ui.teams.graph import EntraGroup, GraphClient, GraphRejected, GraphUnavailable
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


# After Graph failed, it is not asked again for this long (or its Retry-After, if longer), so an
# outage delays one question's answer by the retries, not every question's.
OUTAGE_BACKOFF_S = 30.0

GroupSource = Literal["graph", "cache", "stale-cache", "unavailable", "off"]


@dataclass(frozen=True)
class GroupLookup:
    groups: list[EntraGroup]
    source: GroupSource
    """graph: just read; cache: within the TTL; stale-cache: Graph failed, last known groups;
    unavailable: Graph failed and nothing is known (least access); off: Graph is not used."""


class EntraGroupDirectory:
    """Per-user Entra groups from Graph: cached with a TTL, one lookup at a time per user,
    and the last known groups (or none) while Graph is failing."""

    def __init__(
        self,
        graph: GraphClient,
        *,
        ttl_s: float,
        max_users: int,
        tenant_id: str = "",
        clock: Callable[[], float] = time.monotonic,
    ):
        self._graph = graph
        self._ttl_s = ttl_s
        self._tenant_id = tenant_id.strip()
        self._clock = clock
        self._cache: BoundedDict[str, tuple[list[EntraGroup], float]] = BoundedDict(max_users)
        self._in_flight: dict[str, asyncio.Future[GroupLookup]] = {}
        self._failing_until = 0.0

    @property
    def graph(self) -> GraphClient:
        return self._graph

    async def groups_of(self, object_id: str, tenant_id: str) -> GroupLookup:
        key = object_id.strip().lower()
        if not key:
            return GroupLookup([], "unavailable")
        cached = self._cache.get(key)
        if cached and self._clock() - cached[1] < self._ttl_s:
            return GroupLookup(cached[0], "cache")
        pending = self._in_flight.get(key)
        if pending is not None:  # another question of the same user is already asking
            return await asyncio.shield(pending)
        future: asyncio.Future[GroupLookup] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            lookup = await self._lookup(key, tenant_id, cached)
            future.set_result(lookup)
            return lookup
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as err:
            future.set_exception(err)
            future.exception()  # mark it retrieved: waiters re-raise it, nobody else needs to
            raise
        finally:
            del self._in_flight[key]

    async def _lookup(self, key: str, tenant_id: str, cached: tuple[list[EntraGroup], float] | None) -> GroupLookup:
        tenant = self._tenant_id or tenant_id.strip()
        if self._clock() < self._failing_until:
            return self._fallback(key, cached, "Graph failed recently; not asking again yet")
        if not tenant:
            return self._fallback(key, cached, "no tenant id to ask Graph in")
        try:
            groups = await self._graph.member_groups(key, tenant)
        except GraphUnavailable as err:
            self._failing_until = self._clock() + max(OUTAGE_BACKOFF_S, err.retry_after_s or 0.0)
            return self._fallback(key, cached, f"Graph unavailable: {err}")
        except GraphRejected as err:
            self._failing_until = self._clock() + OUTAGE_BACKOFF_S
            logger.error("Microsoft Graph refused the bot (IT must check the app's credentials and consent): %s", err)
            return self._fallback(key, cached, "Graph refused the bot's credentials or permissions")
        except Exception as err:  # anything unexpected (a malformed answer ...) fails closed too
            logger.exception("Unexpected error reading Entra groups from Graph")
            return self._fallback(key, cached, f"Graph error: {type(err).__name__}")
        self._cache.set(key, (groups, self._clock()))
        return GroupLookup(groups, "graph")

    def _fallback(self, key: str, cached: tuple[list[EntraGroup], float] | None, why: str) -> GroupLookup:
        if cached:
            logger.warning("%s: using the groups read %.0f s ago for user %s", why, self._clock() - cached[1], key)
            return GroupLookup(cached[0], "stale-cache")
        logger.warning("%s: user %s gets the least access (default groups) until Graph answers", why, key)
        return GroupLookup([], "unavailable")


class IdentityResolver:
    """Finds the user's UPN once per user, their Entra groups through the
    directory, and maps both to access groups."""

    def __init__(
        self,
        settings: Settings,
        group_map: GroupMapFile,
        directory: EntraGroupDirectory | None,
        max_users: int,
    ):
        self._settings = settings
        self._group_map = group_map
        self._directory = directory
        self._members: BoundedDict[str, TeamsUser] = BoundedDict(max_users)

    @property
    def directory(self) -> EntraGroupDirectory | None:
        return self._directory

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

    async def entra_groups(self, user: TeamsUser) -> GroupLookup:
        group_map = self._group_map.current()
        if self._directory is None or not group_map.groups:
            return GroupLookup([], "off")  # nothing in the map is keyed by group: no need to ask Graph
        return await self._directory.groups_of(user.aad_object_id, user.tenant_id)

    async def access_of(self, user: TeamsUser) -> Access:
        lookup = await self.entra_groups(user)
        return resolve_access(
            self._group_map.current(),
            user_ids=user.ids,
            # By object id only: a display name is not unique, and staff may be able to create a
            # Microsoft 365 group with any name. (The web chat's token carries ids only, too.)
            group_ids=[group.id for group in lookup.groups],
            default_groups=self._settings.default_access_groups,
            admin_group=self._settings.admin_group,
        )
