"""The HAPI client against a stand-in Helsedirektoratet API on 127.0.0.1.

The stand-in serves fixture nodes in the API's shape, demands the subscription
key, and answers 503 to the first request for one recommendation: the client
must retry, fetch every node once, and save a file the HAPI loader reads.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ingest.hapi_client import (
    SUBSCRIPTION_KEY_HEADER,
    HapiAuthError,
    HapiNotFoundError,
    HapiUnavailableError,
    fetch_guideline,
)
from ingest.loaders import load_file
from rag.errors import FagpratError
from rag.settings import Settings

FIXTURE = Path(__file__).parent / "fixtures" / "hapi_sepsis_nodes.json"
KEY = "test-abonnementsnokkel"
TOP_ID = "5b1c0a52-0000-4000-8000-000000000001"
FLAKY_ID = "5b1c0a52-0000-4000-8000-000000000005"  # answers 503 once


@dataclass
class StandInApi:
    base_url: str
    requests: Counter[str] = field(default_factory=Counter)
    always_unavailable: set[str] = field(default_factory=set)


@pytest.fixture
def api() -> Iterator[StandInApi]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    base_url = f"http://127.0.0.1:{server.server_port}/innhold"
    nodes = json.loads(FIXTURE.read_text(encoding="utf-8").replace("{base}", base_url))
    by_id = {node["id"]: node for node in nodes}
    state = StandInApi(base_url=base_url)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.headers.get(SUBSCRIPTION_KEY_HEADER) != KEY:
                return self._send(401, {"statusCode": 401, "message": "Access denied due to missing subscription key."})
            node_id = self.path.rstrip("/").rsplit("/", 1)[-1]
            if not self.path.startswith("/innhold/innhold/") or node_id not in by_id:
                return self._send(404, {"message": "Not found"})
            with lock:
                state.requests[node_id] += 1
                first_time = state.requests[node_id] == 1
            if node_id in state.always_unavailable or (node_id == FLAKY_ID and first_time):
                return self._send(503, {"message": "Service unavailable"}, retry_after="0")
            return self._send(200, by_id[node_id])

        def _send(self, status: int, payload: object, retry_after: str | None = None) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def settings_for(api: StandInApi, key: str | None = KEY, retries: int = 3) -> Settings:
    return Settings(hapi_base_url=api.base_url, hapi_subscription_key=key, hapi_max_retries=retries, hapi_timeout_s=5)


def test_fetches_every_node_once_retries_503_and_saves_a_loadable_guideline(api: StandInApi, tmp_path: Path):
    out_dir = tmp_path / "hapi"

    saved = fetch_guideline(TOP_ID, out_dir, settings_for(api))

    assert saved == out_dir / "sepsis-hos-voksne.json"
    # No temp file left behind; folder defaults so that ingest gives it access groups (issue 13).
    assert sorted(p.name for p in out_dir.iterdir()) == ["_mappe.yaml", "sepsis-hos-voksne.json"]
    nodes = json.loads(saved.read_text(encoding="utf-8"))
    assert len(nodes) == 6 and nodes[0]["id"] == TOP_ID
    assert api.requests[FLAKY_ID] == 2  # the 503, then the retry
    assert all(count == 1 for node_id, count in api.requests.items() if node_id != FLAKY_ID)
    assert len(api.requests) == 6
    # Breadth-first: both chapters before any recommendation.
    assert [n["tittel"] for n in nodes[1:3]] == ["Tidlig identifisering", "Behandling"]

    document = load_file(saved, out_dir)

    assert document.meta.publisher == "Helsedirektoratet"
    assert document.meta.access_groups == ["nasjonal"]
    assert document.meta.title == "Sepsis hos voksne"
    recommendations = {b.heading_path[-1]: b.text for b in document.blocks if b.kind == "recommendation"}
    assert len(recommendations) == 3
    shock = recommendations["Gi bredspektret antibiotika innen én time ved sepsis med sjokk"]
    assert "Styrke: sterk" in shock
    assert "Praktisk: Ta blodkultur først dersom det ikke forsinker behandlingen." in shock
    assert "Rasjonale: Hver times forsinkelse øker dødeligheten ved septisk sjokk." in shock
    assert "Styrke: svak" in recommendations["Vurder laktatmåling ved mistenkt sepsis"]


def test_start_can_be_a_node_url(api: StandInApi, tmp_path: Path):
    saved = fetch_guideline(f"{api.base_url}/innhold/{TOP_ID}", tmp_path, settings_for(api))

    assert len(json.loads(saved.read_text(encoding="utf-8"))) == 6


def test_missing_or_wrong_key_is_an_auth_error(api: StandInApi, tmp_path: Path):
    with pytest.raises(HapiAuthError) as missing:
        fetch_guideline(TOP_ID, tmp_path, settings_for(api, key=None))
    with pytest.raises(HapiAuthError):
        fetch_guideline(TOP_ID, tmp_path, settings_for(api, key="feil-nokkel"))

    assert isinstance(missing.value, FagpratError)
    assert "FAGPRAT_HAPI_SUBSCRIPTION_KEY" in missing.value.user_message
    assert list(tmp_path.iterdir()) == []


def test_unknown_guideline_is_not_found(api: StandInApi, tmp_path: Path):
    with pytest.raises(HapiNotFoundError) as caught:
        fetch_guideline("finnes-ikke", tmp_path, settings_for(api))

    assert "404" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_gives_up_after_max_retries(api: StandInApi, tmp_path: Path):
    api.always_unavailable.add(TOP_ID)

    with pytest.raises(HapiUnavailableError):
        fetch_guideline(TOP_ID, tmp_path, settings_for(api, retries=2))

    assert api.requests[TOP_ID] == 3  # the first try and two retries
    assert list(tmp_path.iterdir()) == []


def test_connection_refused_is_retried_then_reported(tmp_path: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    closed_port = server.server_port
    server.server_close()  # nothing listens there any more
    settings = Settings(
        hapi_base_url=f"http://127.0.0.1:{closed_port}/innhold", hapi_subscription_key=KEY, hapi_max_retries=1
    )

    with pytest.raises(HapiUnavailableError, match="ConnectError"):
        fetch_guideline(TOP_ID, tmp_path, settings)
