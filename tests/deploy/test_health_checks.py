"""The health-check commands, run for real against a stand-in HTTP server on 127.0.0.1.

Each command is taken from docker-compose.yml or the Dockerfile as written, with only the port
moved to the stand-in's, and must pass on 200 and fail otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.deploy.deploy_files import dockerfile_stages, load_compose


class StandIn:
    """An HTTP server answering every GET with a status the test chooses."""

    def __init__(self) -> None:
        self.status = 200
        self.requests: list[tuple[str, dict[str, str]]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                stand_in.requests.append((self.path, dict(self.headers)))
                body = b"all shards are ready"
                self.send_response(stand_in.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    def stop(self) -> None:
        """Stop listening: the port refuses connections, like a service that is not up."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.stop()


def _run(command: list[str], env: dict[str, str] | None = None) -> int:
    full_env = {"PATH": os.environ.get("PATH", ""), **(env or {})}
    return subprocess.run(command, env=full_env, capture_output=True, timeout=30, check=False).returncode


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_qdrant_check_asks_readyz_with_the_key(stand_in):
    test = load_compose()["services"]["qdrant"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "bash", "-c"]
    script = test[3].replace("/6333", f"/{stand_in.port}")
    env = {"QDRANT__SERVICE__API_KEY": "the-key"}
    assert _run(["bash", "-c", script], env) == 0
    path, headers = stand_in.requests[-1]
    assert path == "/readyz"
    assert headers.get("api-key") == "the-key"
    stand_in.status = 503  # still loading shards
    assert _run(["bash", "-c", script], env) != 0


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_qdrant_check_fails_when_nothing_listens(stand_in):
    script = load_compose()["services"]["qdrant"]["healthcheck"]["test"][3]
    port = stand_in.port
    stand_in.stop()
    assert _run(["bash", "-c", script.replace("/6333", f"/{port}")]) != 0


def test_image_check_asks_the_chat_health_endpoint(stand_in):
    stage = dockerfile_stages()[-1]
    (healthcheck,) = stage.arguments("HEALTHCHECK")
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    command[0] = sys.executable  # the image's python; here the test's own
    url = stage.env()["HEALTHCHECK_URL"].replace(":8000", f":{stand_in.port}")
    assert _run(command, {"HEALTHCHECK_URL": url}) == 0
    assert stand_in.requests[-1][0] == "/health"
    stand_in.status = 500
    assert _run(command, {"HEALTHCHECK_URL": url}) != 0


def test_bot_check_asks_the_bot_health_endpoint(stand_in):
    test = load_compose()["services"]["bot"]["healthcheck"]["test"]
    code = test[3].replace("3978", str(stand_in.port))
    assert _run([sys.executable, "-c", code]) == 0
    assert stand_in.requests[-1][0] == "/healthz"
    stand_in.status = 503
    assert _run([sys.executable, "-c", code]) != 0
    stand_in.stop()
    assert _run([sys.executable, "-c", code]) != 0
