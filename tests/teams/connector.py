"""A stand-in for the Bot Framework connector (Teams' side of the conversation).

The bot sends its replies to the ``serviceUrl`` of the activity it received;
pointing that at this loopback server lets a test see exactly what the bot
sends: every request is recorded with its method, path, headers and JSON body.
It also answers the member lookup (``GET .../members/{id}``) with the user's
UPN, as the real connector does.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    response_id: str = ""
    at: float = field(default_factory=time.monotonic)
    """When it arrived (time.monotonic), for the load benchmark's time to reply."""


@dataclass
class Connector:
    members: dict[str, dict] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Connector:
        connector = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> Recorded:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                record = Recorded(self.command, self.path, dict(self.headers), body)
                with connector._lock:
                    connector.requests.append(record)
                return record

            def _reply(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                record = self._record()
                if "/activities" in record.path:
                    record.response_id = f"bot-activity-{next(connector._ids)}"
                    self._reply(201, {"id": record.response_id})
                else:
                    self._reply(404, {"error": "not found"})

            def do_PUT(self) -> None:  # noqa: N802
                self._record()
                self._reply(200, {"id": self.path.rsplit("/", 1)[-1]})

            def do_GET(self) -> None:  # noqa: N802
                record = self._record()
                member_id = record.path.rsplit("/", 1)[-1]
                if "/members/" in record.path and member_id in connector.members:
                    self._reply(200, connector.members[member_id])
                else:
                    self._reply(404, {"error": "not found"})

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    # --- what the bot sent ----------------------------------------------------
    def activities(self) -> list[dict]:
        """Bodies of the activities the bot posted, in order."""
        with self._lock:
            return [r.body for r in self.requests if r.method == "POST" and "/activities" in r.path]

    def messages(self) -> list[dict]:
        return [a for a in self.activities() if a.get("type") == "message"]

    def sent_id(self, activity: dict) -> str:
        """The id this stand-in gave a posted activity (what Teams' replyToId refers to)."""
        with self._lock:
            return next(r.response_id for r in self.requests if r.body is activity)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def wait_for(self, predicate, timeout_s: float, what: str) -> list[dict]:
        """Poll until `predicate(activities)` holds; the bot answers in a background task."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            activities = self.activities()
            if predicate(activities):
                return activities
            time.sleep(0.05)
        raise AssertionError(f"Timed out waiting for {what}; the bot sent: {json.dumps(self.activities())[:2000]}")
