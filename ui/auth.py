"""Who is signed in to the web chat, and which access groups they get.

Three ways to sign in (``settings.auth_mode``):

- ``password``: users, bcrypt hashes and access groups in ``settings.users_file``
  (YAML, see ``config/users.example.yaml``; add users with ``add_user``);
- ``oauth``: Entra ID (Azure AD) through Chainlit's OAuth flow; the user and
  their Entra groups are mapped to access groups with ``settings.group_map_file``
  (``ui/access.py``, shared with the Teams bot);
- ``header``: a hospital reverse proxy that has already signed the user in
  passes the user name and groups in headers.

Everything here is independent of Chainlit: the callbacks in ``ui/app.py``
turn a `SignedInUser` into a Chainlit user. The access groups are fixed at
sign-in and travel in the signed session token; the browser never chooses them.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable, Mapping, MutableMapping
from functools import cache
from pathlib import Path
from typing import Literal

import bcrypt
import yaml
from pydantic import BaseModel, Field, ValidationError

from rag.errors import ConfigurationError
from rag.settings import Settings
from ui.access import load_group_map, resolve_access

Provider = Literal["password", "azure-ad", "azure-ad-hybrid", "header", "anonymous"]

DEMO_USER = "demo"
DEMO_PASSWORD = "demo"
DEMO_GROUPS = ["nasjonal", "fjordbyen"]


class UserEntry(BaseModel):
    """One password user as stored in the users file."""

    password_hash: str = Field(description="bcrypt hash of the password")
    groups: list[str] = Field(default_factory=list, description="Access groups (and 'admin')")
    display_name: str = ""


class UsersFile(BaseModel):
    users: dict[str, UserEntry] = Field(default_factory=dict)


class SignedInUser(BaseModel):
    """A signed-in user: who they are and what they may read."""

    identifier: str
    display_name: str = ""
    provider: Provider
    access_groups: list[str] = Field(description="Groups whose documents answers may come from")
    is_admin: bool = False

    def metadata(self) -> dict:
        """What Chainlit keeps (signed) in the session token and the users table."""
        return {
            "provider": self.provider,
            "access_groups": self.access_groups,
            "is_admin": self.is_admin,
        }

    @classmethod
    def from_metadata(cls, identifier: str, metadata: Mapping, display_name: str = "") -> SignedInUser:
        return cls(
            identifier=identifier,
            display_name=display_name or identifier,
            provider=metadata.get("provider", "anonymous"),
            access_groups=list(metadata.get("access_groups", [])),
            is_admin=bool(metadata.get("is_admin", False)),
        )


def anonymous_user(settings: Settings) -> SignedInUser:
    """The user of a chat run without sign-in (``auth_mode=none``): default groups only."""
    return SignedInUser(
        identifier="anonym",
        display_name="Anonym",
        provider="anonymous",
        access_groups=list(settings.default_access_groups),
    )


def _split_admin(settings: Settings, groups: Iterable[str]) -> tuple[list[str], bool]:
    groups = list(dict.fromkeys(g for g in groups if g))
    is_admin = settings.admin_group in groups
    return [g for g in groups if g != settings.admin_group], is_admin


# --- the users file ---------------------------------------------------------


def load_users(path: Path) -> dict[str, UserEntry]:
    """Users from the YAML file; a missing or malformed file is a clear error."""
    if not path.is_file():
        raise ConfigurationError(
            f"Users file {path} not found",
            user_message=f"Brukerfilen {path} finnes ikke. Opprett den med «fagprat users add».",
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return UsersFile.model_validate(raw).users
    except (yaml.YAMLError, ValidationError) as err:
        raise ConfigurationError(
            f"Users file {path} is malformed: {err}",
            user_message=f"Brukerfilen {path} har feil format: {err}",
        ) from err


def _save_users(path: Path, users: Mapping[str, UserEntry]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"users": {name: entry.model_dump() for name, entry in users.items()}}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=True), encoding="utf-8")


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt()).decode("ascii")


def add_user(
    path: Path, username: str, password: str, groups: Iterable[str], display_name: str = ""
) -> UserEntry:
    """Add a user to the users file (or replace their password and groups)."""
    username = username.strip()
    groups = [g.strip() for g in groups if g.strip()]
    if not username:
        raise ValueError("The user name must not be empty")
    if not password:
        raise ValueError("The password must not be empty")
    if not groups:
        raise ValueError("Give the user at least one access group")
    users = load_users(path) if path.exists() else {}
    entry = UserEntry(password_hash=hash_password(password), groups=groups, display_name=display_name)
    users[username] = entry
    _save_users(path, users)
    return entry


def ensure_users_file(path: Path) -> str | None:
    """Create a users file with the demo user if there is none.

    The README's one-command start must end in a chat one can sign in to; the
    returned warning is printed on the console. Returns None when the file exists.
    """
    if path.exists():
        return None
    add_user(path, DEMO_USER, DEMO_PASSWORD, DEMO_GROUPS, display_name="Demobruker")
    return (
        f"No users file found: created {path} with the demo user "
        f"'{DEMO_USER}' / '{DEMO_PASSWORD}' (groups {', '.join(DEMO_GROUPS)}). "
        "Replace it before real use: fagprat users add NAME -g GROUP [-g GROUP ...]"
    )


@cache
def _dummy_hash() -> bytes:
    return hash_password("not-a-user").encode("ascii")


def authenticate_password(settings: Settings, username: str, password: str) -> SignedInUser | None:
    """The user if the password matches their bcrypt hash, else None."""
    entry = load_users(settings.users_file).get(username.strip())
    if entry is None:
        # Same cost as a real check, so timing does not reveal which names exist.
        bcrypt.checkpw(password.encode("utf-8"), _dummy_hash())
        return None
    if not bcrypt.checkpw(password.encode("utf-8"), entry.password_hash.encode("ascii")):
        return None
    access_groups, is_admin = _split_admin(settings, entry.groups)
    return SignedInUser(
        identifier=username.strip(),
        display_name=entry.display_name or username.strip(),
        provider="password",
        access_groups=access_groups,
        is_admin=is_admin,
    )


# --- Entra ID (OAuth) and header sign-in ------------------------------------


def _mapped_user(
    settings: Settings,
    identifier: str,
    display_name: str,
    provider: Provider,
    raw_groups: Iterable[str],
    user_ids: Iterable[str] = (),
) -> SignedInUser:
    # The same mapping as the Teams bot's (ui/access.py), so one person gets the same groups in both.
    access = resolve_access(
        load_group_map(settings.group_map_file),
        user_ids=[identifier, *user_ids],
        group_ids=list(raw_groups),
        default_groups=settings.default_access_groups,
        admin_group=settings.admin_group,
    )
    return SignedInUser(
        identifier=identifier,
        display_name=display_name or identifier,
        provider=provider,
        access_groups=access.access_groups,
        is_admin=access.is_admin,
    )


def jwt_claims(token: str | None) -> dict:
    """The claims of a JWT without checking its signature.

    Only for tokens Chainlit has just received from Entra ID's token endpoint
    over TLS (never for tokens from the browser); anything else gives {}.
    """
    if not token or token.count(".") != 2:
        return {}
    payload = token.split(".")[1]
    try:
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, json.JSONDecodeError):
        return {}


def entra_groups(raw_user_data: Mapping, token: str | None, id_token: str | None = None) -> list[str]:
    """Entra group ids (or names) from the sign-in.

    The ``groups`` claim is in the ID token (``azure-ad-hybrid`` provider) and in
    tokens for our own API when the app registration emits group claims; a
    Graph ``memberOf`` answer in the user data is honoured too.
    """
    groups: list[str] = []
    for claims in (jwt_claims(id_token), jwt_claims(token), raw_user_data):
        value = claims.get("groups") or []
        if isinstance(value, str):
            value = [value]
        groups.extend(str(g) for g in value)
    for member in raw_user_data.get("memberOf", []) or []:
        if isinstance(member, Mapping):
            groups.extend(str(member[k]) for k in ("id", "displayName") if member.get(k))
    return list(dict.fromkeys(groups))


def oauth_user(
    settings: Settings,
    provider_id: str,
    raw_user_data: Mapping,
    identifier: str,
    token: str | None = None,
    id_token: str | None = None,
) -> SignedInUser | None:
    """The user signed in through Entra ID, with groups mapped to access groups."""
    if provider_id not in ("azure-ad", "azure-ad-hybrid"):
        return None
    name = str(raw_user_data.get("displayName") or raw_user_data.get("name") or "")
    groups = entra_groups(raw_user_data, token, id_token)
    user_ids = [str(raw_user_data[k]) for k in ("mail", "id", "oid") if raw_user_data.get(k)]
    return _mapped_user(settings, identifier, name, provider_id, groups, user_ids)  # type: ignore[arg-type]


def header_user(settings: Settings, headers: Mapping[str, str]) -> SignedInUser | None:
    """The user a trusted reverse proxy names in the headers, or None.

    Groups arrive comma-separated (``X-Forwarded-Groups: g1,g2``). Only enable
    this behind a proxy that strips these headers from client requests.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    identifier = (lowered.get(settings.header_auth_user_header.lower()) or "").strip()
    if not identifier:
        return None
    raw = lowered.get(settings.header_auth_groups_header.lower()) or ""
    groups = [g.strip() for g in raw.split(",") if g.strip()]
    return _mapped_user(settings, identifier, identifier, "header", groups)


# --- the session-token secret -------------------------------------------------

AUTH_SECRET_ENV = "CHAINLIT_AUTH_SECRET"
AUTH_SECRET_FILE = "chainlit_auth_secret"


def ensure_auth_secret(settings: Settings, environ: MutableMapping[str, str]) -> Path | None:
    """Make sure Chainlit has a secret to sign session tokens with.

    Production sets ``CHAINLIT_AUTH_SECRET``; a local run gets one generated
    once and kept in ``data_dir`` (readable by the owner only), so sign-ins
    survive restarts. Returns the file used, or None when the variable was set.
    """
    if environ.get(AUTH_SECRET_ENV):
        return None
    path = settings.data_dir / AUTH_SECRET_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48), encoding="ascii")
    environ[AUTH_SECRET_ENV] = path.read_text(encoding="ascii").strip()
    return path
