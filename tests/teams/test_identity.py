"""The Teams user's identity (UPN from the connector) and access groups."""

from __future__ import annotations

from microsoft_teams.api import ApiClient, MessageActivity

from tests.conftest import make_settings
from tests.teams.activities import KARI, OLA, TENANT_ID, personal_message
from ui.access import GroupMapFile
from ui.teams.identity import IdentityResolver

GROUP_MAP = f"""
users:
  {KARI['upn']}: [fjordbyen]
  {OLA['aadObjectId']}: [nordlia]
"""


def _resolver(tmp_path, group_map: str = GROUP_MAP) -> IdentityResolver:
    path = tmp_path / "groups.yaml"
    path.write_text(group_map, encoding="utf-8")
    settings = make_settings(tmp_path, group_map_file=path)
    return IdentityResolver(settings, GroupMapFile(path), None, max_users=10)


async def test_upn_comes_from_the_connector_once_per_user(tmp_path, connector):
    resolver = _resolver(tmp_path)
    activity = MessageActivity.model_validate(personal_message(connector.url, "Hei", user=KARI))
    api = ApiClient(connector.url)
    first = await resolver.user_of(activity, api)
    second = await resolver.user_of(activity, api)
    assert first == second
    assert (first.upn, first.aad_object_id, first.tenant_id) == (KARI["upn"], KARI["aadObjectId"], TENANT_ID)
    assert first.key == KARI["upn"]
    assert (await resolver.access_of(first)).access_groups == ["nasjonal", "fjordbyen"]
    lookups = [r for r in connector.requests if r.method == "GET" and "/members/" in r.path]
    assert len(lookups) == 1


async def test_without_the_lookup_the_object_id_still_maps(tmp_path, connector):
    connector.members.clear()  # the connector answers 404
    resolver = _resolver(tmp_path)
    user = await resolver.user_of(
        MessageActivity.model_validate(personal_message(connector.url, "Hei", user=OLA)), ApiClient(connector.url)
    )
    assert user.upn == "" and user.key == OLA["aadObjectId"]
    assert (await resolver.access_of(user)).access_groups == ["nasjonal", "nordlia"]


async def test_unmapped_user_gets_national_guidelines_only(tmp_path, connector):
    resolver = _resolver(tmp_path, "users: {}\n")
    user = await resolver.user_of(
        MessageActivity.model_validate(personal_message(connector.url, "Hei", user=KARI)), ApiClient(connector.url)
    )
    assert (await resolver.access_of(user)).access_groups == ["nasjonal"]


async def test_an_edit_of_the_group_map_applies_without_a_restart_and_admin_is_not_an_access_group(
    tmp_path, connector
):
    resolver = _resolver(tmp_path)
    user = await resolver.user_of(
        MessageActivity.model_validate(personal_message(connector.url, "Hei", user=KARI)), ApiClient(connector.url)
    )
    assert (await resolver.access_of(user)).access_groups == ["nasjonal", "fjordbyen"]
    (tmp_path / "groups.yaml").write_text(f"users:\n  {KARI['upn']}: [nordlia, admin]\n", encoding="utf-8")
    access = await resolver.access_of(user)
    assert access.access_groups == ["nasjonal", "nordlia"] and access.is_admin
