"""Identity -> access groups, shared by the web chat and the Teams bot."""

from __future__ import annotations

import pytest

from rag.errors import ConfigurationError
from ui.access import GroupMap, access_groups_for, load_group_map

GROUP_MAP_YAML = """
users:
  Kari.Nordmann@Fjordbyen.no: [fjordbyen, admin]
  6F1C2A7E-0000-4000-8000-000000000002: nordlia
groups:
  2b7d8e90-0000-4000-8000-0000000000aa: [fjordbyen]
  Nordlia-legar: [nordlia]
"""


@pytest.fixture
def group_map(tmp_path) -> GroupMap:
    path = tmp_path / "groups.yaml"
    path.write_text(GROUP_MAP_YAML, encoding="utf-8")
    return load_group_map(path)


def test_user_by_upn_matches_case_insensitively_and_keeps_the_defaults(group_map):
    groups = access_groups_for(group_map, user_ids=["kari.nordmann@fjordbyen.no"], default_groups=["nasjonal"])
    assert groups == ["nasjonal", "fjordbyen", "admin"]


def test_user_by_object_id_with_a_single_group_written_as_a_string(group_map):
    groups = access_groups_for(
        group_map, user_ids=["6f1c2a7e-0000-4000-8000-000000000002"], default_groups=["nasjonal"]
    )
    assert groups == ["nasjonal", "nordlia"]


def test_groups_by_entra_id_and_by_name_without_duplicates(group_map):
    groups = access_groups_for(
        group_map,
        user_ids=["kari.nordmann@fjordbyen.no"],
        group_ids=["2B7D8E90-0000-4000-8000-0000000000AA", "nordlia-legar"],
        default_groups=["nasjonal"],
    )
    assert groups == ["nasjonal", "fjordbyen", "admin", "nordlia"]


def test_unmapped_user_gets_only_the_defaults(group_map):
    groups = access_groups_for(
        group_map, user_ids=["ukjent@fjordbyen.no", None, ""], group_ids=["annen-gruppe"], default_groups=["nasjonal"]
    )
    assert groups == ["nasjonal"]


def test_missing_file_is_an_empty_map(tmp_path):
    group_map = load_group_map(tmp_path / "missing.yaml")
    assert access_groups_for(group_map, user_ids=["kari"], default_groups=["nasjonal"]) == ["nasjonal"]


@pytest.mark.parametrize("content", ["users: [a, b]", "- just\n- a list", "users: {kari: [a]\n"])
def test_broken_file_is_a_configuration_error_with_a_norwegian_message(tmp_path, content):
    path = tmp_path / "groups.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigurationError) as info:
        load_group_map(path)
    assert "gruppekartet" in info.value.user_message
