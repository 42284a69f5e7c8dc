"""Stand-ins for Entra ID's token endpoint and Microsoft Graph, on loopback.

They speak the real wire formats, so the bot's Graph client is exercised as
against the real services:

- ``POST /{tenant}/oauth2/v2.0/token`` (client credentials, form-encoded):
  ``{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
  "access_token": ...}``; a wrong secret gets Entra's 401 ``invalid_client``
  (AADSTS7000215), an unknown tenant 400 (AADSTS90002);
- ``GET /v1.0/users/{id}/transitiveMemberOf/microsoft.graph.group`` with
  ``$select``/``$top``: ``{"@odata.context", "value": [{"id", "displayName"}],
  "@odata.nextLink"}`` pages (the stand-in's own page size, as Graph may use
  a smaller one than asked), nested groups resolved transitively; an unknown
  user gets Graph's 404 ``Request_ResourceNotFound``; without consent 403
  ``Authorization_RequestDenied``; a bad token 401 ``InvalidAuthenticationToken``;
- ``GET /v1.0/groups`` (the bot's start-up consent check).

Faults are scripted: `fail_next` queues 429/503 answers with ``Retry-After``,
`outage` makes every Graph (or token) request fail with 503.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.teams.activities import TENANT_ID

GRAPH_APP_ID = "3c9e1f2a-0000-4000-8000-00000000a11d"
GRAPH_SECRET = "riktig~hemmelighet.0123456789"
GROUP_READ_ROLE = "GroupMember.Read.All"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    form: dict[str, list[str]]


@dataclass
class GraphStandIn:
    groups: dict[str, str] = field(default_factory=dict)
    """group id -> displayName"""
    member_of: dict[str, list[str]] = field(default_factory=dict)
    """user object id or group id -> the groups it is a direct member of"""
    clients: dict[str, str] = field(default_factory=lambda: {GRAPH_APP_ID: GRAPH_SECRET})
    tenants: set[str] = field(default_factory=lambda: {TENANT_ID})
    roles: set[str] = field(default_factory=lambda: {GROUP_READ_ROLE})
    page_size: int = 2
    expires_in: int = 3599
    outage: bool = False
    token_outage: bool = False
    requests: list[Recorded] = field(default_factory=list)
    _faults: deque = field(default_factory=deque)
    _tokens: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    # --- set-up -----------------------------------------------------------
    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def graph_url(self) -> str:
        return f"{self.url}/v1.0"

    def add_group(self, name: str, member_of: list[str] = ()) -> str:
        group_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"group:{name}"))
        self.groups[group_id] = name
        self.member_of[group_id] = list(member_of)
        return group_id

    def add_user(self, object_id: str, groups: list[str]) -> None:
        self.member_of[object_id.lower()] = list(groups)

    def transitive_groups(self, object_id: str) -> list[str]:
        seen: list[str] = []
        todo = list(self.member_of.get(object_id.lower(), []))
        while todo:
            group = todo.pop(0)
            if group not in seen:
                seen.append(group)
                todo.extend(self.member_of.get(group, []))
        return seen

    def fail_next(self, status: int, retry_after: float | None = None, count: int = 1) -> None:
        """The next `count` Graph requests get `status` (with Retry-After seconds, if given)."""
        for _ in range(count):
            self._faults.append((status, retry_after))

    def graph_requests(self, path_part: str = "") -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith("/v1.0") and path_part in r.path]

    def token_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/oauth2/v2.0/token")]

    # --- the servers --------------------------------------------------------
    def start(self) -> GraphStandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> Recorded:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                record = Recorded(self.command, parts.path, parse_qs(parts.query), dict(self.headers), parse_qs(body))
                with stand_in._lock:
                    stand_in.requests.append(record)
                return record

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                record = self._record()
                segments = record.path.strip("/").split("/")
                if segments[1:] != ["oauth2", "v2.0", "token"]:
                    self._reply(404, {"error": "not_found"})
                    return
                stand_in._token(self, segments[0], record)

            def do_GET(self) -> None:  # noqa: N802
                record = self._record()
                stand_in._graph(self, record)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    # --- Entra ID -----------------------------------------------------------
    @staticmethod
    def _entra_error(handler: Any, status: int, error: str, code: int, description: str) -> None:
        trace = str(uuid.uuid4())
        handler._reply(status, {
            "error": error,
            "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\n"
                                 f"Correlation ID: {uuid.uuid4()}\r\nTimestamp: 2026-11-24 08:00:00Z",
            "error_codes": [code],
            "timestamp": "2026-11-24 08:00:00Z",
            "trace_id": trace,
            "correlation_id": str(uuid.uuid4()),
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        })

    def _token(self, handler: Any, tenant: str, record: Recorded) -> None:
        form = {k: v[0] for k, v in record.form.items()}
        if self.token_outage:
            handler._reply(503, {"error": "temporarily_unavailable", "error_description": "AADSTS90033"},
                           {"Retry-After": "1"})
            return
        if tenant not in self.tenants:
            self._entra_error(handler, 400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
            return
        if form.get("grant_type") != "client_credentials":
            self._entra_error(handler, 400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
            return
        client_id = form.get("client_id", "")
        if client_id not in self.clients:
            self._entra_error(handler, 400, "unauthorized_client", 700016,
                              f"Application with identifier '{client_id}' was not found in the directory.")
            return
        if form.get("client_secret") != self.clients[client_id]:
            self._entra_error(handler, 401, "invalid_client", 7000215,
                              "Invalid client secret provided. Ensure the secret being sent in the request is the "
                              f"client secret value, not the client secret ID, for a secret added to app '{client_id}'.")
            return
        if form.get("scope") != f"{self.url}/.default":
            self._entra_error(handler, 400, "invalid_scope", 1002012, f"The provided value for scope {form.get('scope')} is not valid.")
            return
        token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens.add(token)
        handler._reply(200, {"token_type": "Bearer", "expires_in": self.expires_in,
                             "ext_expires_in": self.expires_in, "access_token": token})

    # --- Graph --------------------------------------------------------------
    @staticmethod
    def _graph_error(handler: Any, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        handler._reply(status, {"error": {"code": code, "message": message, "innerError": {
            "date": "2026-11-24T08:00:00", "request-id": str(uuid.uuid4()), "client-request-id": str(uuid.uuid4())}}},
            headers)

    def _graph(self, handler: Any, record: Recorded) -> None:
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            token_ok = record.headers.get("Authorization", "").removeprefix("Bearer ") in self._tokens
        if self.outage:
            fault = (503, None)
        if fault:
            status, retry_after = fault
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            if status == 429:
                self._graph_error(handler, 429, "TooManyRequests", "Too many requests.", headers)
            else:
                self._graph_error(handler, status, "serviceNotAvailable", "Service unavailable.", headers)
            return
        if not token_ok:
            self._graph_error(handler, 401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
            return
        if GROUP_READ_ROLE not in self.roles:
            self._graph_error(handler, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
            return
        segments = record.path.strip("/").split("/")
        if segments == ["v1.0", "groups"]:
            page = [{"id": gid} for gid in list(self.groups)[:1]]
            handler._reply(200, {"@odata.context": f"{self.graph_url}/$metadata#groups(id)", "value": page})
            return
        if len(segments) == 5 and segments[:2] == ["v1.0", "users"] and segments[3:] == [
                "transitiveMemberOf", "microsoft.graph.group"]:
            self._member_groups(handler, segments[2], record)
            return
        self._graph_error(handler, 400, "BadRequest", f"Resource not found for the segment '{segments[-1]}'.")

    def _member_groups(self, handler: Any, object_id: str, record: Recorded) -> None:
        if object_id.lower() not in self.member_of:
            self._graph_error(handler, 404, "Request_ResourceNotFound",
                              f"Resource '{object_id}' does not exist or one of its queried reference-property "
                              "objects are not present.")
            return
        skip = int(record.query.get("$skiptoken", ["0"])[0])
        groups = self.transitive_groups(object_id)
        page = groups[skip: skip + self.page_size]
        body: dict[str, Any] = {
            "@odata.context": f"{self.graph_url}/$metadata#groups(id,displayName)",
            "value": [{"@odata.type": "#microsoft.graph.group", "id": gid, "displayName": self.groups[gid]}
                      for gid in page],
        }
        if "$count" in record.query:
            body["@odata.count"] = len(groups)
        if skip + self.page_size < len(groups):
            query = {k: v[0] for k, v in record.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = str(skip + self.page_size)
            body["@odata.nextLink"] = f"{self.graph_url}{record.path.removeprefix('/v1.0')}?{urlencode(query)}"
        handler._reply(200, body)
