"""A Teams user's Entra groups from Microsoft Graph, with the bot's own app credentials.

Teams sends the user's Entra object id with every message, but not their
groups. The bot asks Graph for them as itself (no user sign-in):

1. a client-credentials token from Entra ID
   (``POST <authority>/<tenant>/oauth2/v2.0/token``, scope ``<graph>/.default``);
2. ``GET <graph>/users/{id}/transitiveMemberOf/microsoft.graph.group
   ?$select=id,displayName``, following ``@odata.nextLink``: direct and nested
   group memberships, which the group map (``ui/access.py``) turns into access
   groups exactly as for the web chat's Entra sign-in.

The app needs the application permission ``GroupMember.Read.All`` with admin
consent (docs/teams.md). Throttling (429) and unavailability (503, 504,
network errors) are retried after Graph's ``Retry-After``, within bounds; what
still fails is a `GraphUnavailable` for the caller to fall back on.
Credentials or permissions that Entra or Graph reject are a `GraphRejected`:
nothing a retry fixes, so it is a start-up error (`verify`).
"""

from __future__ import annotations

import email.utils
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type
from tenacity.stop import stop_base

from rag.settings import Settings

logger = logging.getLogger(__name__)

# The client-credentials scope of an API is its origin + "/.default" (Microsoft identity platform).
DEFAULT_SCOPE_SUFFIX = "/.default"
# Graph's largest page for directory-object collections (user-list-transitivememberof: default 100, max 999).
PAGE_SIZE = 999
# 50 pages of 999 groups: far beyond any real membership; a loop of nextLinks must end somewhere.
MAX_PAGES = 50
# Renew a cached token this long before it expires (Entra issues them for about an hour).
TOKEN_RENEW_MARGIN_S = 300.0
# Backoff when Graph gives no Retry-After (network errors, a bare 503): 0.5 s, 1 s, 2 s ...
BASE_BACKOFF_S = 0.5
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class EntraGroup:
    id: str
    display_name: str = ""  # for logs and diagnostics; access is granted by id only (ui/teams/identity.py)


class GraphError(Exception):
    """Graph or Entra ID could not tell us a user's groups."""


class GraphUnavailable(GraphError):
    """An outage or throttling that outlasted the retries; may clear by itself."""

    def __init__(self, detail: str, retry_after_s: float | None = None):
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class GraphRejected(GraphError):
    """Entra ID or Graph refused the bot's credentials or permissions: IT must act."""


class _Retryable(Exception):
    def __init__(self, detail: str, retry_after_s: float | None):
        super().__init__(detail)
        self.retry_after_s = retry_after_s


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date (RFC 9110)."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _StopRetrying(stop_base):
    """Stop after `max_retries` retries, or at once when Graph asks for a longer wait than we accept."""

    def __init__(self, max_retries: int, max_wait_s: float):
        self.max_retries = max_retries
        self.max_wait_s = max_wait_s

    def __call__(self, retry_state: Any) -> bool:
        if retry_state.attempt_number > self.max_retries:
            return True
        error = retry_state.outcome.exception() if retry_state.outcome else None
        wait = getattr(error, "retry_after_s", None)
        return wait is not None and wait > self.max_wait_s


def _wait(retry_state: Any) -> float:
    error = retry_state.outcome.exception() if retry_state.outcome else None
    wait = getattr(error, "retry_after_s", None)
    if wait is not None:
        return wait
    return BASE_BACKOFF_S * 2 ** (retry_state.attempt_number - 1)


def _error_text(response: httpx.Response) -> str:
    """The useful part of an Entra or Graph error body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # Graph: {"error": {"code", "message"}}
            return f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
        if isinstance(error, str):  # Entra token endpoint: {"error", "error_description"}
            description = str(body.get("error_description") or "").splitlines()
            return f"{error}: {description[0]}" if description else error
    return response.text[:200]


class GraphClient:
    """Entra tokens (cached per tenant) and group memberships from Graph."""

    def __init__(
        self,
        settings: Settings,
        client_id: str,
        client_secret: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self._settings = settings
        self._client_id = client_id
        self._client_secret = client_secret
        self._graph_url = settings.teams_graph_url.rstrip("/")
        origin = urlsplit(self._graph_url)
        self._graph_origin = (origin.scheme, origin.netloc)
        self._scope = f"{origin.scheme}://{origin.netloc}{DEFAULT_SCOPE_SUFFIX}"
        self._authority = settings.teams_entra_authority_url.rstrip("/")
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._tokens: dict[str, tuple[str, float]] = {}

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> GraphClient | None:
        """The client for the configured credentials, or None when Graph is off or has none."""
        if not settings.teams_graph_groups:
            return None
        client_id = (settings.teams_graph_client_id or settings.teams_app_id).strip()
        secret = settings.teams_graph_client_secret or settings.teams_app_password
        secret_value = secret.get_secret_value().strip() if secret else ""
        if not client_id or not secret_value:
            return None
        return cls(settings, client_id, secret_value, **kwargs)

    @property
    def client_id(self) -> str:
        return self._client_id

    def _client(self) -> httpx.AsyncClient:
        # Created on first use, inside the event loop that serves the bot.
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._settings.teams_graph_timeout_s, transport=self._transport)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # --- requests with retries ----------------------------------------------
    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, retried on throttling, 5xx and network errors within the configured bounds."""
        settings = self._settings
        retrying = AsyncRetrying(
            stop=_StopRetrying(settings.teams_graph_max_retries, settings.teams_graph_max_retry_wait_s),
            wait=_wait,
            retry=retry_if_exception_type(_Retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    try:
                        response = await self._client().request(method, url, **kwargs)
                    except httpx.TransportError as err:
                        raise _Retryable(f"{type(err).__name__}: {err}", None) from err
                    if response.status_code in RETRY_STATUSES:
                        after = retry_after_seconds(response)
                        logger.info("Graph/Entra answered %s (Retry-After %s) for %s", response.status_code, after, url)
                        raise _Retryable(f"HTTP {response.status_code}: {_error_text(response)}", after)
                    return response
        except _Retryable as err:
            raise GraphUnavailable(f"{method} {urlsplit(url).path}: {err}", err.retry_after_s) from err
        raise AssertionError("unreachable")  # AsyncRetrying either returns or raises

    # --- tokens -----------------------------------------------------------
    def token_url(self, tenant: str) -> str:
        return f"{self._authority}/{tenant}/oauth2/v2.0/token"

    async def token(self, tenant: str) -> str:
        cached = self._tokens.get(tenant)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        response = await self._send(
            "POST",
            self.token_url(tenant),
            data={
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "scope": self._scope,
            },
        )
        if response.status_code in (400, 401):
            raise GraphRejected(
                f"Entra ID rejected the app credentials (app id {self._client_id}, tenant {tenant}): "
                f"{_error_text(response)}"
            )
        if response.status_code != 200:
            raise GraphUnavailable(f"token endpoint answered {response.status_code}: {_error_text(response)}")
        try:
            body = response.json()
        except ValueError as err:
            raise GraphUnavailable(f"token endpoint answered with invalid JSON: {err}") from err
        token = str(body.get("access_token") or "")
        if not token:
            raise GraphUnavailable("token endpoint answered without an access_token")
        lifetime = float(body.get("expires_in") or 0)
        self._tokens[tenant] = (token, time.monotonic() + max(0.0, lifetime - TOKEN_RENEW_MARGIN_S))
        return token

    # --- Graph ------------------------------------------------------------
    async def _get(self, url: str, tenant: str, params: dict[str, str] | None = None) -> httpx.Response:
        """GET with the app's token; a 401 (an expired or revoked token) gets one fresh token."""
        for fresh_token in (False, True):
            if fresh_token:
                self._tokens.pop(tenant, None)
            headers = {"Authorization": f"Bearer {await self.token(tenant)}", "ConsistencyLevel": "eventual"}
            response = await self._send("GET", url, params=params, headers=headers)
            if response.status_code != 401:
                return response
        raise GraphRejected(f"Graph refused the app's token: {_error_text(response)}")

    def _same_origin(self, url: str) -> bool:
        """nextLinks must stay on Graph: the token goes with them."""
        parts = urlsplit(url)
        return (parts.scheme, parts.netloc) == self._graph_origin

    async def member_groups(self, object_id: str, tenant: str) -> list[EntraGroup]:
        """The user's direct and transitive groups; [] for a user Graph does not know."""
        url = f"{self._graph_url}/users/{object_id}/transitiveMemberOf/microsoft.graph.group"
        # $count and ConsistencyLevel: eventual are what Graph documents for an OData cast.
        params: dict[str, str] | None = {"$select": "id,displayName", "$top": str(PAGE_SIZE), "$count": "true"}
        groups: list[EntraGroup] = []
        for _ in range(MAX_PAGES):
            response = await self._get(url, tenant, params)
            if response.status_code == 404:
                logger.info("Graph does not know user %s: no Entra groups", object_id)
                return []
            if response.status_code == 403:
                raise GraphRejected(
                    f"Graph denied reading groups of {object_id} (admin consent for GroupMember.Read.All "
                    f"missing or revoked?): {_error_text(response)}"
                )
            if response.status_code != 200:
                raise GraphUnavailable(f"Graph answered {response.status_code}: {_error_text(response)}")
            try:
                page = response.json()
            except ValueError as err:
                raise GraphUnavailable(f"Graph answered with invalid JSON: {err}") from err
            for item in page.get("value") or []:
                if isinstance(item, dict) and item.get("id"):
                    groups.append(EntraGroup(id=str(item["id"]), display_name=str(item.get("displayName") or "")))
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return groups
            if not self._same_origin(str(next_link)):
                raise GraphUnavailable(f"Graph's nextLink leaves {self._graph_url}: {next_link}")
            url, params = str(next_link), None  # the nextLink carries every parameter
        raise GraphUnavailable(f"more than {MAX_PAGES} pages of groups for {object_id}")

    async def verify(self, tenant: str) -> None:
        """Start-up check: a token, and permission to read group memberships.

        Lists one group of the tenant (``GET /groups?$top=1``), which needs the
        same consent (GroupMember.Read.All or broader) as reading a user's groups.
        Raises `GraphRejected` for bad credentials or missing consent,
        `GraphUnavailable` when Entra ID or Graph cannot be reached.
        """
        response = await self._get(f"{self._graph_url}/groups", tenant, {"$select": "id", "$top": "1"})
        if response.status_code == 403:
            raise GraphRejected(
                f"Graph denied reading groups with app id {self._client_id}: grant the application permission "
                f"GroupMember.Read.All with admin consent ({_error_text(response)})"
            )
        if response.status_code != 200:
            raise GraphUnavailable(f"Graph answered {response.status_code}: {_error_text(response)}")
