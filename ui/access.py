"""Who may read what: a signed-in identity's access groups.

The web chat (Entra ID sign-in, or groups from a reverse proxy's header) and the
Teams bot map identities the same way, from one YAML file
(``settings.group_map_file``)::

    users:                                  # UPN, e-mail or Entra object id
      kari.nordmann@fjordbyen.no: [fjordbyen, admin]
      6f1c2a7e-0000-4000-8000-000000000001: [nordlia]
    groups:                                 # Entra group object id (or a proxy's group name)
      2b7d8e90-0000-4000-8000-0000000000aa: [fjordbyen]
      Nordlia-legar: [nordlia]              # matches header sign-in only

Keys match case-insensitively (UPNs and GUIDs are case-insensitive in Entra ID).
Everyone gets ``settings.default_access_groups`` (national guidelines); the file
adds groups on top. A missing file means nobody has more than the defaults.
The group named ``settings.admin_group`` is not an access group: it makes the
user an administrator (`resolve_access`).

Where the Entra groups come from differs by surface (the web chat: the sign-in
token's ``groups`` claim; Teams: Microsoft Graph, ``ui/teams/graph.py``); the
mapping is this one function for both, so one person gets the same access
groups in both. Key Entra groups by object id: the token carries ids only, and
a display name is not unique (staff may be able to create a Microsoft 365
group of any name), so Teams matches Entra groups by id alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from rag.errors import ConfigurationError

logger = logging.getLogger(__name__)


def _normalized(mapping: dict[str, list[str]]) -> dict[str, list[str]]:
    return {str(key).strip().lower(): [str(g).strip() for g in groups if str(g).strip()] for key, groups in mapping.items()}


class GroupMap(BaseModel):
    """Identity -> access groups, as read from the group map file."""

    users: dict[str, list[str]] = Field(default_factory=dict, description="UPN / e-mail / object id -> groups")
    groups: dict[str, list[str]] = Field(default_factory=dict, description="Entra group id or name -> groups")

    @field_validator("users", "groups", mode="before")
    @classmethod
    def _lowercase_keys(cls, value: object) -> object:
        if value is None:
            return {}
        if isinstance(value, dict):
            return _normalized({k: ([v] if isinstance(v, str) else v or []) for k, v in value.items()})
        return value


def load_group_map(path: Path) -> GroupMap:
    """Read the group map file; a missing file is an empty map, a broken one an error."""
    if not path.exists():
        logger.info("No group map at %s: every user gets the default access groups", path)
        return GroupMap()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError("the file must hold a mapping with 'users' and/or 'groups'")
        return GroupMap.model_validate(data)
    except (yaml.YAMLError, ValidationError, ValueError) as err:
        raise ConfigurationError(
            f"Invalid group map {path}: {err}",
            user_message="Tilgangsoppsettet (gruppekartet) er ugyldig. Kontakt IT.",
        ) from err


def access_groups_for(
    group_map: GroupMap,
    *,
    user_ids: Iterable[str | None] = (),
    group_ids: Iterable[str | None] = (),
    default_groups: Iterable[str] = (),
) -> list[str]:
    """The access groups of one identity: the defaults plus every match in the map.

    ``user_ids`` are the identity's names (UPN, e-mail, object id); ``group_ids``
    the Entra groups (ids or names) it belongs to. Order is stable: defaults
    first, then matches in the order given, without duplicates.
    """
    result: list[str] = []

    def add(groups: Iterable[str]) -> None:
        for group in groups:
            if group not in result:
                result.append(group)

    add(default_groups)
    for user_id in user_ids:
        if user_id:
            add(group_map.users.get(user_id.strip().lower(), []))
    for group_id in group_ids:
        if group_id:
            add(group_map.groups.get(group_id.strip().lower(), []))
    return result


@dataclass(frozen=True)
class Access:
    """What a signed-in identity may read, and whether it administers fagprat."""

    access_groups: list[str]
    is_admin: bool = False


def resolve_access(
    group_map: GroupMap,
    *,
    user_ids: Iterable[str | None] = (),
    group_ids: Iterable[str | None] = (),
    default_groups: Iterable[str] = (),
    admin_group: str = "admin",
) -> Access:
    """The access of one identity, the same for every surface.

    The admin group is taken out of the access groups and sets ``is_admin``.
    Like every other group it comes only from the group map: an Entra or proxy
    group that is merely *named* like the admin group grants nothing (anyone
    may be able to create a group of that name).
    """
    group_ids = [g for g in group_ids if g]
    mapped = access_groups_for(group_map, user_ids=user_ids, group_ids=group_ids, default_groups=default_groups)
    is_admin = admin_group in mapped
    return Access(access_groups=[g for g in mapped if g != admin_group], is_admin=is_admin)


class GroupMapFile:
    """The group map file, re-read when it changes (a long-running bot picks up
    IT's edits without a restart, as the web chat does at each sign-in)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._map: GroupMap | None = None

    def current(self) -> GroupMap:
        try:
            stat = self.path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if self._map is None or stamp != self._stamp:
                self._map = load_group_map(self.path)
                self._stamp = stamp
            return self._map
