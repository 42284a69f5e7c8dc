"""Who is signed in to the web chat, and which access groups they get.

Three ways to sign in (``settings.auth_mode``):

- ``password``: users, bcrypt hashes and access groups in the users file
  (``settings.resolved_users_file``, by default ``<data_dir>/users.yaml``; add
  users with ``fagprat users add``). Without a users file the chat does not
  start, except in the explicit demo mode (``settings.demo_mode``), which
  creates ``demo``/``demo`` and says so;
- ``oauth``: Entra ID (Azure AD) through Chainlit's OAuth flow; the user and
  their Entra groups are mapped to access groups with ``settings.group_map_file``
  (``ui/access.py``, shared with the Teams bot);
- ``header``: a hospital reverse proxy that has already signed the user in
  passes the user name and groups in headers. Those headers are believed only
  from a trusted proxy: its address is in ``settings.header_auth_trusted_proxies``
  and/or it sends the shared secret ``settings.header_auth_secret``; anyone
  else gets 401. The address is the TCP peer of the connection
  (`RequestPeerMiddleware`), never a forwarded-for header.

Everything here is independent of Chainlit: the callbacks in ``ui/app.py``
turn a `SignedInUser` into a Chainlit user. The access groups are fixed at
sign-in and travel in the signed session token; the browser never chooses them.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import json
import logging
import secrets
from collections.abc import Iterable, Mapping, MutableMapping
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Literal

import bcrypt
import yaml
from pydantic import BaseModel, Field, ValidationError

from rag.errors import ConfigurationError
from rag.settings import Settings
from ui.access import load_group_map, resolve_access
from ui.private_files import create_private_file, write_private_text

logger = logging.getLogger(__name__)

Provider = Literal["password", "azure-ad", "azure-ad-hybrid", "header", "anonymous"]

# The demo mode's user (settings.demo_mode, turned on by scripts/run.sh only).
DEMO_USER = "demo"
DEMO_PASSWORD = "demo"
DEMO_GROUPS = ["nasjonal", "fjordbyen"]
DEMO_NOTICE = (
    "Demomodus: innlogging demo/demo og eksempeldokumenter som ikke er til klinisk bruk. "
    "Ikke skriv inn pasientopplysninger."
)
ADD_USER_HINT = "fagprat users add NAME -g GROUP [-g GROUP ...]"


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
    data = {"users": {name: entry.model_dump() for name, entry in users.items()}}
    # Password hashes: readable by the owner only (0600), replaced atomically.
    write_private_text(path, yaml.safe_dump(data, allow_unicode=True, sort_keys=True))


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


def remove_user(path: Path, username: str) -> bool:
    """Take a user out of the users file; False when there was no such user."""
    users = load_users(path)
    if users.pop(username.strip(), None) is None:
        return False
    _save_users(path, users)
    return True


def ensure_demo_user(path: Path) -> str | None:
    """Demo mode: create a users file holding only the demo user, if there is none.

    Returns the warning to log, or None when a users file already exists (it is
    used as it is: demo mode never adds a user to a real file).
    """
    if path.exists():
        return None
    add_user(path, DEMO_USER, DEMO_PASSWORD, DEMO_GROUPS, display_name="Demobruker")
    return (
        f"DEMO MODE (FAGPRAT_DEMO_MODE=true): created {path} with the user "
        f"'{DEMO_USER}' / '{DEMO_PASSWORD}' (groups {', '.join(DEMO_GROUPS)}). Not for real use: "
        f"turn demo mode off and add real users with `{ADD_USER_HINT}`."
    )


def require_users(path: Path) -> None:
    """Refuse to run password sign-in without a users file that holds at least one user."""
    if not path.is_file():
        raise ConfigurationError(
            f"FAGPRAT_AUTH_MODE=password, but there is no users file at {path}. Add a user with "
            f"`{ADD_USER_HINT}` (it creates the file), point FAGPRAT_USERS_FILE at your users file, "
            "or choose another FAGPRAT_AUTH_MODE (oauth, header). For a demo on one PC: FAGPRAT_DEMO_MODE=true.",
            user_message=f"Brukerfilen {path} finnes ikke. Legg til en bruker med «{ADD_USER_HINT}».",
        )
    if not load_users(path):
        raise ConfigurationError(
            f"The users file {path} holds no users. Add one with `{ADD_USER_HINT}`.",
            user_message=f"Brukerfilen {path} har ingen brukere. Legg til en med «{ADD_USER_HINT}».",
        )


@cache
def _dummy_hash() -> bytes:
    return hash_password("not-a-user").encode("ascii")


def authenticate_password(settings: Settings, username: str, password: str) -> SignedInUser | None:
    """The user if the password matches their bcrypt hash, else None."""
    entry = load_users(settings.resolved_users_file).get(username.strip())
    if entry is None:
        # Same cost as a real check, so timing does not reveal which names exist.
        bcrypt.checkpw(password.encode("utf-8"), _dummy_hash())
        return None
    try:
        matches = bcrypt.checkpw(password.encode("utf-8"), entry.password_hash.encode("utf-8"))
    except ValueError:
        # Not a bcrypt hash (e.g. the example file's placeholder): nobody signs in with it.
        logger.warning("User %r in %s has no valid password hash", username.strip(), settings.resolved_users_file)
        return None
    if not matches:
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
    """Entra group object ids from the sign-in.

    The ``groups`` claim is in the ID token (``azure-ad-hybrid`` provider) and in
    tokens for our own API when the app registration emits group claims; a
    Graph ``memberOf`` answer in the user data is honoured too. Only ids: display
    names are not unique, and staff may create groups with any name, so a name
    could grant access (the Teams bot matches by id for the same reason).
    """
    groups: list[str] = []
    for claims in (jwt_claims(id_token), jwt_claims(token), raw_user_data):
        value = claims.get("groups") or []
        if isinstance(value, str):
            value = [value]
        groups.extend(str(g) for g in value)
    for member in raw_user_data.get("memberOf", []) or []:
        if isinstance(member, Mapping):
            if member.get("id"):
                groups.append(str(member["id"]))
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


# The TCP peer of the HTTP request being handled (set by RequestPeerMiddleware).
_request_peer: ContextVar[str | None] = ContextVar("fagprat_request_peer", default=None)


class RequestPeerMiddleware:
    """ASGI middleware: remembers the address each HTTP request's connection came from.

    Chainlit hands the header sign-in callback only the headers; the callback
    reads the peer from `request_peer`. The server must not replace the peer
    with a forwarded-for header (`use_connection_addresses`).
    """

    def __init__(self, app):  # type: ignore[no-untyped-def]
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        token = _request_peer.set(client[0] if client else None)
        try:
            await self.app(scope, receive, send)
        finally:
            _request_peer.reset(token)


def request_peer() -> str | None:
    """The address of the connection the current request came from (None outside a request)."""
    return _request_peer.get()


# uvicorn (under Chainlit) replaces the peer address with X-Forwarded-For when the
# peer is in FORWARDED_ALLOW_IPS (default: 127.0.0.1). Header sign-in needs the
# real peer, so that list is emptied: read by uvicorn.Config, which Chainlit
# creates after it has imported ui/app.py.
UVICORN_FORWARDED_ALLOW_IPS_ENV = "FORWARDED_ALLOW_IPS"


def use_connection_addresses(environ: MutableMapping[str, str]) -> None:
    environ[UVICORN_FORWARDED_ALLOW_IPS_ENV] = ""


def check_header_auth(settings: Settings) -> None:
    """Header sign-in must name whom to trust; without a proxy list or a secret it cannot start."""
    if not settings.header_auth_trusted_proxies and not settings.header_auth_secret:
        raise ConfigurationError(
            "FAGPRAT_AUTH_MODE=header needs to know which proxy to believe: set "
            "FAGPRAT_HEADER_AUTH_TRUSTED_PROXIES (the proxy's address or network) and/or "
            "FAGPRAT_HEADER_AUTH_SECRET (a secret the proxy sends in "
            f"{settings.header_auth_secret_header}). See docs/security.md.",
            user_message="Innlogging via proxy er ikke satt opp. Kontakt IT.",
        )


def _peer_trusted(settings: Settings, peer: str | None) -> bool:
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:  # ::ffff:10.0.0.5 is 10.0.0.5
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.header_auth_trusted_proxies)


def header_sign_in_refusal(settings: Settings, headers: Mapping[str, str], peer: str | None) -> str | None:
    """Why a header sign-in request is not believed, or None when it came from a trusted proxy.

    With both a proxy list and a secret configured, both must hold. With
    neither, nothing is trusted.
    """
    if not settings.header_auth_trusted_proxies and not settings.header_auth_secret:
        return "header sign-in has no trusted proxy or secret configured"
    if settings.header_auth_trusted_proxies and not _peer_trusted(settings, peer):
        return f"peer {peer or 'unknown'} is not a trusted proxy"
    if settings.header_auth_secret:
        lowered = {k.lower(): v for k, v in headers.items()}
        sent = lowered.get(settings.header_auth_secret_header.lower()) or ""
        expected = settings.header_auth_secret.get_secret_value()
        if not hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8")):
            return f"the proxy secret header {settings.header_auth_secret_header} is missing or wrong"
    return None


def header_user(settings: Settings, headers: Mapping[str, str], peer: str | None) -> SignedInUser | None:
    """The user a trusted reverse proxy names in the headers, or None (Chainlit answers 401).

    ``peer`` is the address of the connection (`request_peer`). Groups arrive
    comma-separated (``X-Forwarded-Groups: g1,g2``) and count only through the
    group map. The proxy must also strip these headers from its clients' requests.
    """
    if reason := header_sign_in_refusal(settings, headers, peer):
        logger.warning("Header sign-in refused: %s", reason)
        return None
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
        write_private_text(path, secrets.token_urlsafe(48))
    create_private_file(path)  # narrows a file from an older version to 0600
    environ[AUTH_SECRET_ENV] = path.read_text(encoding="ascii").strip()
    return path


def prepare_sign_in(settings: Settings, environ: MutableMapping[str, str]) -> list[str]:
    """Check (and in demo mode, set up) sign-in before the chat starts.

    Returns warnings for the console; raises ConfigurationError when the chat
    must not start (no users file, header sign-in that trusts nobody).
    """
    warnings: list[str] = []
    if settings.auth_mode == "password":
        if settings.demo_mode and (created := ensure_demo_user(settings.resolved_users_file)):
            warnings.append(created)
        elif settings.demo_mode:
            warnings.append(
                f"DEMO MODE (FAGPRAT_DEMO_MODE=true) with the existing users file {settings.resolved_users_file}."
            )
        require_users(settings.resolved_users_file)
    elif settings.demo_mode:
        warnings.append(f"FAGPRAT_DEMO_MODE=true has no effect with FAGPRAT_AUTH_MODE={settings.auth_mode}.")
    if settings.auth_mode == "header":
        check_header_auth(settings)
        use_connection_addresses(environ)
    if settings.auth_mode != "none":
        if secret_file := ensure_auth_secret(settings, environ):
            logger.info("Session tokens are signed with the secret in %s", secret_file)
    return warnings
