"""Fixtures: the connector and Graph stand-ins, and the bot running on a loopback port."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from rag.settings import Settings
from tests.teams.activities import KARI, OLA, TENANT_ID, member_json
from tests.teams.connector import Connector
from tests.teams.graph_stand_in import GRAPH_APP_ID, GRAPH_SECRET, GraphStandIn
from ui.teams.server import HEALTH_ENDPOINT, TeamsServer, create_server

SERVER_START_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_bot(settings: Settings, **kwargs) -> Iterator[tuple[TeamsServer, str]]:
    """Start the bot in a thread on a free port; yield it and its base URL."""
    port = free_port()
    server = create_server(settings, "127.0.0.1", port, **kwargs)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        try:
            if httpx.get(base_url + HEALTH_ENDPOINT, timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("The Teams bot did not start")
        time.sleep(0.05)
    try:
        yield server, base_url
    finally:
        server.request_stop()
        thread.join(timeout=10)


@contextlib.contextmanager
def running_connector() -> Iterator[Connector]:
    """The connector stand-in, knowing the test users (for the UPN lookup)."""
    stand_in = Connector(members={u["id"]: member_json(u) for u in (KARI, OLA)}).start()
    try:
        yield stand_in
    finally:
        stand_in.stop()


@pytest.fixture
def connector() -> Iterator[Connector]:
    with running_connector() as stand_in:
        yield stand_in


@pytest.fixture
def graph() -> Iterator[GraphStandIn]:
    """Stand-in Entra token endpoint and Graph, with an empty directory."""
    stand_in = GraphStandIn().start()
    try:
        yield stand_in
    finally:
        stand_in.stop()


def graph_settings(tmp_path, graph: GraphStandIn, group_map: str = "", **overrides) -> Settings:
    """Settings of a dev-mode bot that reads Entra groups from the stand-in Graph."""
    from tests.conftest import make_settings

    path = tmp_path / "groups.yaml"
    path.write_text(group_map, encoding="utf-8")
    values = dict(
        teams_dev_mode=True,
        teams_tenant_id=TENANT_ID,
        teams_graph_client_id=GRAPH_APP_ID,
        teams_graph_client_secret=GRAPH_SECRET,
        teams_graph_url=graph.graph_url,
        teams_entra_authority_url=graph.url,
        group_map_file=path,
    )
    values.update(overrides)
    return make_settings(tmp_path, **values)
