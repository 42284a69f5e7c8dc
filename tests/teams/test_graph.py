"""Teams users' Entra groups from Microsoft Graph: stand-in Entra ID and Graph on
loopback, the bot's real Graph client, cache and mapping."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from rag.errors import ConfigurationError
from tests.teams.activities import KARI, OLA, TENANT_ID
from tests.teams.conftest import graph_settings
from tests.teams.graph_stand_in import GraphStandIn
from ui.access import GroupMapFile
from ui.teams.graph import GraphClient, GraphRejected, GraphUnavailable
from ui.teams.identity import EntraGroupDirectory, IdentityResolver, TeamsUser
from ui.teams.server import check_graph, create_server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _directory(graph: GraphStandIn) -> dict[str, str]:
    """Fjordbyen's groups: nurses nested in all staff; Kari is a nurse and in three other groups."""
    ids = {
        "alle": graph.add_group("Fjordbyen-alle"),
        "intensiv": graph.add_group("Fjordbyen-intensiv"),
        "kantine": graph.add_group("Kantinegruppa"),
        "nordlia": graph.add_group("Nordlia-legar"),
    }
    ids["sykepleiere"] = graph.add_group("Fjordbyen-sykepleiere", member_of=[ids["alle"]])
    graph.add_user(KARI["aadObjectId"], [ids["sykepleiere"], ids["intensiv"], ids["kantine"]])
    graph.add_user(OLA["aadObjectId"], [ids["nordlia"]])
    return ids


def _group_map(ids: dict[str, str]) -> str:
    return f"""
groups:
  {ids['alle']}: [fjordbyen]
  {ids['intensiv']}: [fjordbyen-intensiv]
  {ids['nordlia']}: [nordlia]
  Kantinegruppa: [kantine]   # a name, not an id: never matches an Entra group
"""


def _user(person: dict) -> TeamsUser:
    return TeamsUser(channel_id=person["id"], aad_object_id=person["aadObjectId"], upn=person["upn"],
                     tenant_id=TENANT_ID)


def _resolver(settings, clock=time.monotonic) -> IdentityResolver:
    graph = GraphClient.from_settings(settings)
    directory = EntraGroupDirectory(graph, ttl_s=settings.teams_graph_cache_ttl_s, max_users=100,
                                    tenant_id=settings.teams_tenant_id, clock=clock)
    return IdentityResolver(settings, GroupMapFile(settings.group_map_file), directory, max_users=100)


async def test_transitive_groups_over_several_pages_map_to_access_groups(tmp_path, graph):
    ids = _directory(graph)
    settings = graph_settings(tmp_path, graph, _group_map(ids))
    resolver = _resolver(settings)
    lookup = await resolver.entra_groups(_user(KARI))
    assert lookup.source == "graph"
    assert {g.id for g in lookup.groups} == {ids["sykepleiere"], ids["alle"], ids["intensiv"], ids["kantine"]}
    assert {g.display_name for g in lookup.groups} >= {"Fjordbyen-alle", "Fjordbyen-sykepleiere"}

    access = await resolver.access_of(_user(KARI))
    # fjordbyen only through nesting (nurses are in "alle"); the group named in the map by name gives nothing
    assert sorted(access.access_groups) == ["fjordbyen", "fjordbyen-intensiv", "nasjonal"]
    assert not access.is_admin

    pages = graph.graph_requests("/transitiveMemberOf/")
    assert len(pages) == 2  # 4 groups, 2 per page: the nextLink was followed
    first = pages[0]
    assert first.path == f"/v1.0/users/{KARI['aadObjectId']}/transitiveMemberOf/microsoft.graph.group"
    assert first.query["$select"] == ["id,displayName"]
    assert first.headers["ConsistencyLevel"] == "eventual"
    assert first.headers["Authorization"].startswith("Bearer ")
    (token_request,) = graph.token_requests()
    assert token_request.path == f"/{TENANT_ID}/oauth2/v2.0/token"
    assert token_request.form["grant_type"] == ["client_credentials"]
    assert token_request.form["scope"] == [f"{graph.url}/.default"]
    await resolver.directory.graph.aclose()


async def test_groups_are_cached_for_the_ttl_and_asked_again_after_it(tmp_path, graph):
    ids = _directory(graph)
    clock = Clock()
    resolver = _resolver(graph_settings(tmp_path, graph, _group_map(ids), teams_graph_cache_ttl_s=60), clock)
    assert (await resolver.entra_groups(_user(OLA))).source == "graph"
    clock.now += 59
    assert (await resolver.entra_groups(_user(OLA))).source == "cache"
    assert len(graph.graph_requests("/transitiveMemberOf/")) == 1

    graph.add_user(OLA["aadObjectId"], [])  # IT removed Ola from the group
    clock.now += 2
    lookup = await resolver.entra_groups(_user(OLA))
    assert lookup.source == "graph" and lookup.groups == []
    assert (await resolver.access_of(_user(OLA))).access_groups == ["nasjonal"]
    assert len(graph.token_requests()) == 1  # the token is reused within its lifetime
    await resolver.directory.graph.aclose()


async def test_a_cached_user_keeps_their_groups_during_an_outage(tmp_path, graph, caplog):
    ids = _directory(graph)
    clock = Clock()
    settings = graph_settings(tmp_path, graph, _group_map(ids), teams_graph_cache_ttl_s=60,
                              teams_graph_max_retries=1, teams_graph_max_retry_wait_s=0.2)
    resolver = _resolver(settings, clock)
    before = await resolver.access_of(_user(KARI))

    graph.outage = True
    clock.now += 3600  # long past the TTL: Graph is asked, and fails
    with caplog.at_level(logging.WARNING, logger="ui.teams.identity"):
        lookup = await resolver.entra_groups(_user(KARI))
        during = await resolver.access_of(_user(KARI))
    assert lookup.source == "stale-cache"
    assert during == before
    assert sorted(during.access_groups) == ["fjordbyen", "fjordbyen-intensiv", "nasjonal"]
    assert "Graph unavailable" in caplog.text and "using the groups read" in caplog.text
    await resolver.directory.graph.aclose()


async def test_an_unknown_user_during_an_outage_gets_the_least_access_with_a_warning(tmp_path, graph, caplog):
    ids = _directory(graph)
    # Kari is also named in the map by UPN: that local entry needs no Graph and still applies.
    group_map = _group_map(ids) + f"users:\n  {KARI['upn']}: [fjordbyen-fag]\n"
    settings = graph_settings(tmp_path, graph, group_map, teams_graph_max_retries=1,
                              teams_graph_max_retry_wait_s=0.2)
    resolver = _resolver(settings)
    graph.outage = True
    with caplog.at_level(logging.WARNING, logger="ui.teams.identity"):
        ola = await resolver.access_of(_user(OLA))
        kari = await resolver.access_of(_user(KARI))
    assert ola.access_groups == ["nasjonal"]
    assert kari.access_groups == ["nasjonal", "fjordbyen-fag"]  # never a group only Graph could vouch for
    assert "least access" in caplog.text
    # After the failure Graph is left alone for a while: Kari's question made no second round of retries.
    assert len(graph.graph_requests("/transitiveMemberOf/")) == 2  # Ola's first try and its one retry

    graph.outage = False
    await resolver.directory.graph.aclose()


async def test_a_429_is_retried_after_its_retry_after(tmp_path, graph):
    ids = _directory(graph)
    resolver = _resolver(graph_settings(tmp_path, graph, _group_map(ids)))
    graph.fail_next(429, retry_after=1)
    started = time.monotonic()
    lookup = await resolver.entra_groups(_user(OLA))
    elapsed = time.monotonic() - started
    assert lookup.source == "graph" and [g.id for g in lookup.groups] == [ids["nordlia"]]
    assert elapsed >= 1.0
    assert len(graph.graph_requests("/transitiveMemberOf/")) == 2
    await resolver.directory.graph.aclose()


async def test_a_503_is_retried_and_a_retry_after_beyond_the_limit_is_an_outage(tmp_path, graph):
    ids = _directory(graph)
    settings = graph_settings(tmp_path, graph, _group_map(ids), teams_graph_max_retry_wait_s=5)
    client = GraphClient.from_settings(settings)
    graph.fail_next(503)  # no Retry-After: a short backoff
    assert [g.id for g in await client.member_groups(OLA["aadObjectId"], TENANT_ID)] == [ids["nordlia"]]

    graph.fail_next(429, retry_after=120)
    started = time.monotonic()
    with pytest.raises(GraphUnavailable) as info:
        await client.member_groups(OLA["aadObjectId"], TENANT_ID)
    assert time.monotonic() - started < 5  # not waited out
    assert info.value.retry_after_s == 120
    await client.aclose()


async def test_a_user_graph_does_not_know_has_no_groups(tmp_path, graph):
    _directory(graph)
    client = GraphClient.from_settings(graph_settings(tmp_path, graph))
    assert await client.member_groups("00000000-0000-4000-8000-00000000dead", TENANT_ID) == []
    await client.aclose()


async def test_concurrent_questions_of_one_user_share_one_lookup(tmp_path, graph):
    ids = _directory(graph)
    resolver = _resolver(graph_settings(tmp_path, graph, _group_map(ids)))
    graph.fail_next(429, retry_after=0.5)  # keeps the first lookup in flight while the others arrive
    results = await asyncio.gather(*(resolver.access_of(_user(KARI)) for _ in range(5)))
    assert len({tuple(r.access_groups) for r in results}) == 1
    assert len(graph.graph_requests("/transitiveMemberOf/")) == 3  # 429, then 2 pages: once for all five
    await resolver.directory.graph.aclose()


async def test_a_next_link_to_another_host_is_not_followed(tmp_path, graph):
    settings = graph_settings(tmp_path, graph)
    client = GraphClient.from_settings(settings)
    client._graph_origin = ("https", "graph.microsoft.com")  # the stand-in's nextLinks now lead elsewhere
    ids = _directory(graph)
    assert ids
    with pytest.raises(GraphUnavailable, match="nextLink"):
        await client.member_groups(KARI["aadObjectId"], TENANT_ID)
    await client.aclose()


async def test_a_wrong_secret_is_rejected_with_entras_reason(tmp_path, graph):
    client = GraphClient.from_settings(graph_settings(tmp_path, graph, teams_graph_client_secret="feil"))
    with pytest.raises(GraphRejected, match="invalid_client: AADSTS7000215"):
        await client.token(TENANT_ID)
    await client.aclose()


def test_a_bad_client_secret_stops_the_bot_at_start_with_a_clear_error(tmp_path, graph):
    settings = graph_settings(tmp_path, graph, teams_graph_client_secret="utløpt-hemmelighet")
    with pytest.raises(ConfigurationError) as info:
        create_server(settings)
    assert "AADSTS7000215" in str(info.value) and "FAGPRAT_TEAMS_GRAPH_CLIENT_SECRET" in str(info.value)
    assert "hemmeligheten er feil" in info.value.user_message
    assert "utløpt-hemmelighet" not in str(info.value)  # the secret itself is never echoed


def test_missing_admin_consent_stops_the_bot_at_start(tmp_path, graph):
    graph.roles.clear()
    with pytest.raises(ConfigurationError, match="GroupMember.Read.All"):
        check_graph(graph_settings(tmp_path, graph))


def test_an_unreachable_graph_at_start_is_a_warning_not_a_failure(tmp_path, graph, caplog):
    graph.token_outage = True
    settings = graph_settings(tmp_path, graph, teams_graph_max_retries=0)
    with caplog.at_level(logging.WARNING, logger="ui.teams.server"):
        check_graph(settings)
    assert "least access" in caplog.text


def test_without_graph_credentials_the_bot_does_not_ask_graph(tmp_path, graph):
    settings = graph_settings(tmp_path, graph, teams_graph_client_id="", teams_graph_client_secret=None)
    assert GraphClient.from_settings(settings) is None
    assert GraphClient.from_settings(graph_settings(tmp_path, graph, teams_graph_groups=False)) is None
    create_server(settings)
    assert graph.requests == []
