"""Sign-in for the web chat: password users, Entra ID group mapping, proxy headers."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest
import yaml

from rag.errors import ConfigurationError
from tests.conftest import make_settings
from ui.auth import (
    AUTH_SECRET_ENV,
    DEMO_GROUPS,
    DEMO_USER,
    SignedInUser,
    add_user,
    authenticate_password,
    ensure_auth_secret,
    ensure_users_file,
    entra_groups,
    header_user,
    load_users,
    oauth_user,
)


@pytest.fixture
def settings(tmp_path):
    users = tmp_path / "users.yaml"
    add_user(users, "kari", "riktig-passord", ["nasjonal", "fjordbyen"], display_name="Kari")
    add_user(users, "ola", "annet-passord", ["nasjonal", "nordlia", "admin"])
    groups = tmp_path / "groups.yaml"
    groups.write_text(
        yaml.safe_dump(
            {
                "users": {"Kari.Nordmann@fjordbyen.no": ["fjordbyen"]},
                "groups": {"2b7d8e90-aaaa": ["fjordbyen"], "Nordlia-legar": ["nordlia"], "fagprat-admins": ["admin"]},
            }
        ),
        encoding="utf-8",
    )
    return make_settings(tmp_path / "data", users_file=users, group_map_file=groups)


def _jwt(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


# --- password ---------------------------------------------------------------------


def test_right_password_gives_the_users_access_groups(settings):
    user = authenticate_password(settings, "kari", "riktig-passord")
    assert user is not None
    assert user.identifier == "kari"
    assert user.display_name == "Kari"
    assert user.access_groups == ["nasjonal", "fjordbyen"]
    assert not user.is_admin


def test_wrong_password_is_refused(settings):
    assert authenticate_password(settings, "kari", "feil-passord") is None
    assert authenticate_password(settings, "kari", "") is None


def test_unknown_user_is_refused(settings):
    assert authenticate_password(settings, "per", "riktig-passord") is None


def test_admin_group_makes_an_admin_but_is_no_access_group(settings):
    user = authenticate_password(settings, "ola", "annet-passord")
    assert user is not None and user.is_admin
    assert user.access_groups == ["nasjonal", "nordlia"]


def test_users_file_stores_bcrypt_hashes_not_passwords(settings):
    text = settings.users_file.read_text(encoding="utf-8")
    assert "riktig-passord" not in text
    assert load_users(settings.users_file)["kari"].password_hash.startswith("$2b$")


def test_add_user_replaces_password_and_groups(settings):
    add_user(settings.users_file, "kari", "nytt-passord", ["nasjonal"])
    assert authenticate_password(settings, "kari", "riktig-passord") is None
    user = authenticate_password(settings, "kari", "nytt-passord")
    assert user is not None and user.access_groups == ["nasjonal"]
    assert set(load_users(settings.users_file)) == {"kari", "ola"}


@pytest.mark.parametrize(
    ("username", "password", "groups"), [("", "x", ["nasjonal"]), ("per", "", ["nasjonal"]), ("per", "x", [" "])]
)
def test_add_user_rejects_incomplete_input(tmp_path, username, password, groups):
    with pytest.raises(ValueError):
        add_user(tmp_path / "users.yaml", username, password, groups)


def test_malformed_users_file_is_a_configuration_error(tmp_path):
    path = tmp_path / "users.yaml"
    path.write_text("users:\n  kari: [not, a, mapping]\n", encoding="utf-8")
    settings = make_settings(tmp_path / "data", users_file=path)
    with pytest.raises(ConfigurationError) as info:
        authenticate_password(settings, "kari", "x")
    assert "users.yaml" in info.value.user_message


def test_first_start_creates_a_demo_user_once(tmp_path):
    path = tmp_path / "config" / "users.yaml"
    settings = make_settings(tmp_path / "data", users_file=path)
    warning = ensure_users_file(path)
    assert warning and DEMO_USER in warning
    user = authenticate_password(settings, DEMO_USER, "demo")
    assert user is not None and user.access_groups == DEMO_GROUPS
    assert ensure_users_file(path) is None


# --- Entra ID -------------------------------------------------------------------------


def test_entra_groups_are_read_from_the_id_token_and_user_data():
    id_token = _jwt({"groups": ["2b7d8e90-aaaa"], "oid": "x"})
    raw = {"memberOf": [{"id": "g-1", "displayName": "Nordlia-legar"}]}
    assert entra_groups(raw, token="opaque-token", id_token=id_token) == ["2b7d8e90-aaaa", "g-1", "Nordlia-legar"]


def test_oauth_user_gets_default_plus_mapped_groups(settings):
    id_token = _jwt({"groups": ["2B7D8E90-AAAA", "unmapped-group"]})
    user = oauth_user(
        settings,
        "azure-ad-hybrid",
        {"displayName": "Per Hansen", "userPrincipalName": "per@fjordbyen.no"},
        "per@fjordbyen.no",
        token="opaque",
        id_token=id_token,
    )
    assert user is not None
    assert user.display_name == "Per Hansen"
    assert user.access_groups == ["nasjonal", "fjordbyen"]
    assert not user.is_admin


def test_oauth_user_mapped_by_upn_and_admin_group(settings):
    token = _jwt({"groups": ["fagprat-admins"]})
    user = oauth_user(settings, "azure-ad", {"mail": "kari.nordmann@fjordbyen.no"}, "KARI.NORDMANN@fjordbyen.no", token)
    assert user is not None
    assert user.access_groups == ["nasjonal", "fjordbyen"]
    assert user.is_admin


def test_oauth_user_without_groups_gets_only_the_defaults(settings):
    user = oauth_user(settings, "azure-ad", {}, "ny@nordlia.no", token="opaque")
    assert user is not None and user.access_groups == ["nasjonal"]


def test_other_oauth_providers_are_refused(settings):
    assert oauth_user(settings, "github", {"groups": ["Nordlia-legar"]}, "x") is None


# --- reverse proxy headers ----------------------------------------------------------------


def test_header_user_maps_proxy_groups(settings):
    user = header_user(settings, {"x-forwarded-user": "ola@nordlia.no", "X-Forwarded-Groups": "Nordlia-legar, annet"})
    assert user is not None
    assert user.identifier == "ola@nordlia.no"
    assert user.access_groups == ["nasjonal", "nordlia"]


def test_header_user_without_the_user_header_is_refused(settings):
    assert header_user(settings, {"X-Forwarded-Groups": "Nordlia-legar"}) is None


def test_header_names_come_from_settings(tmp_path):
    settings = make_settings(tmp_path, header_auth_user_header="Remote-User", header_auth_groups_header="Remote-Groups")
    user = header_user(settings, {"Remote-User": "eva", "X-Forwarded-User": "mallory"})
    assert user is not None and user.identifier == "eva"


# --- the session --------------------------------------------------------------------------


def test_signed_in_user_round_trips_through_session_metadata():
    user = SignedInUser(identifier="kari", display_name="Kari", provider="password", access_groups=["a"], is_admin=True)
    again = SignedInUser.from_metadata("kari", json.loads(json.dumps(user.metadata())), "Kari")
    assert again == user


def test_auth_secret_is_generated_once_and_kept_private(tmp_path):
    settings = make_settings(tmp_path)
    env: dict[str, str] = {}
    path = ensure_auth_secret(settings, env)
    assert path is not None and len(env[AUTH_SECRET_ENV]) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again: dict[str, str] = {}
    ensure_auth_secret(settings, again)
    assert again == env
    assert ensure_auth_secret(settings, {AUTH_SECRET_ENV: "given"}) is None
