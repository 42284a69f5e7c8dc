"""One person, the same access groups in the web chat (Entra sign-in) and in Teams (Graph).

The web chat learns the groups from the sign-in token's ``groups`` claim (the
object ids of the user's groups, nested ones included); the bot asks Graph for
the same user's transitive memberships. Both go through one group map."""

from __future__ import annotations

import base64
import json

from tests.teams.activities import KARI, OLA, TENANT_ID
from tests.teams.conftest import graph_settings
from ui.access import GroupMapFile
from ui.auth import oauth_user
from ui.teams.graph import GraphClient
from ui.teams.identity import EntraGroupDirectory, IdentityResolver, TeamsUser


def _unsigned_jwt(claims: dict) -> str:
    """An ID token as Entra ID issues it (header.claims.signature); ui.auth reads the claims only."""
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'typ': 'JWT', 'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


def _web_chat_sign_in(settings, person: dict, group_ids: list[str]):
    raw_user_data = {"id": person["aadObjectId"], "displayName": person["name"], "mail": person["upn"],
                     "userPrincipalName": person["upn"]}
    id_token = _unsigned_jwt({"oid": person["aadObjectId"], "tid": TENANT_ID, "upn": person["upn"],
                              "groups": group_ids})
    return oauth_user(settings, "azure-ad-hybrid", raw_user_data, person["upn"], token=None, id_token=id_token)


async def test_the_same_object_id_gets_the_same_access_in_the_web_chat_and_in_teams(tmp_path, graph):
    staff = graph.add_group("Fjordbyen-alle")
    nurses = graph.add_group("Fjordbyen-sykepleiere", member_of=[staff])
    admins = graph.add_group("Fagprat-administratorer")
    doctors = graph.add_group("Nordlia-legar")
    graph.add_user(KARI["aadObjectId"], [nurses, admins])
    graph.add_user(OLA["aadObjectId"], [doctors])
    group_map = f"""
groups:
  {staff}: [fjordbyen]
  {admins}: [admin]
  {doctors}: [nordlia]
users:
  {OLA['upn']}: [nordlia-fag]
"""
    settings = graph_settings(tmp_path, graph, group_map)
    directory = EntraGroupDirectory(GraphClient.from_settings(settings), ttl_s=60, max_users=10,
                                    tenant_id=TENANT_ID)
    resolver = IdentityResolver(settings, GroupMapFile(settings.group_map_file), directory, max_users=10)

    expected = {KARI["upn"]: (["nasjonal", "fjordbyen"], True), OLA["upn"]: (["nasjonal", "nordlia-fag", "nordlia"], False)}
    for person in (KARI, OLA):
        # Entra puts the ids of every group the user is in, directly or through nesting, in the claim.
        web = _web_chat_sign_in(settings, person, graph.transitive_groups(person["aadObjectId"]))
        teams = await resolver.access_of(TeamsUser(channel_id=person["id"], aad_object_id=person["aadObjectId"],
                                                   upn=person["upn"], tenant_id=TENANT_ID))
        assert (sorted(web.access_groups), web.is_admin) == (sorted(teams.access_groups), teams.is_admin)
        groups, is_admin = expected[person["upn"]]
        assert sorted(teams.access_groups) == sorted(groups) and teams.is_admin is is_admin
    await directory.graph.aclose()
