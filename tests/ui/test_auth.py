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
    DEMO_PASSWORD,
    DEMO_USER,
    UVICORN_FORWARDED_ALLOW_IPS_ENV,
    SignedInUser,
    add_user,
    authenticate_password,
    ensure_auth_secret,
    entra_groups,
    header_user,
    load_users,
    oauth_user,
    prepare_sign_in,
    remove_user,
)

PROXY = "10.20.0.5"
PROXY_SECRET = "proxy-hemmelighet-" + "y" * 30


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
    return make_settings(
        tmp_path / "data",
        users_file=users,
        group_map_file=groups,
        header_auth_trusted_proxies=[f"{PROXY}/32"],
    )


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


def test_without_a_users_file_the_chat_refuses_to_start_and_creates_no_account(tmp_path):
    """Finding 3: the old start-up created demo/demo whenever the file was missing."""
    settings = make_settings(tmp_path / "data")
    with pytest.raises(ConfigurationError) as info:
        prepare_sign_in(settings, {})
    assert "fagprat users add" in str(info.value) and str(settings.resolved_users_file) in str(info.value)
    assert not settings.resolved_users_file.exists()


def test_an_empty_users_file_is_refused_too(tmp_path):
    path = tmp_path / "users.yaml"
    path.write_text("users: {}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="holds no users"):
        prepare_sign_in(make_settings(tmp_path / "data", users_file=path), {})


def test_the_users_file_lives_under_the_data_folder_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path / "data")
    assert settings.resolved_users_file == tmp_path / "data" / "users.yaml"


def test_demo_mode_creates_the_demo_user_under_the_data_folder_and_says_so(tmp_path):
    settings = make_settings(tmp_path / "data", demo_mode=True)
    warnings = prepare_sign_in(settings, {})
    assert settings.resolved_users_file == tmp_path / "data" / "users.yaml"
    assert any("DEMO MODE" in w and DEMO_USER in w for w in warnings)
    user = authenticate_password(settings, DEMO_USER, DEMO_PASSWORD)
    assert user is not None and user.access_groups == DEMO_GROUPS
    assert stat.S_IMODE(os.stat(settings.resolved_users_file).st_mode) == 0o600


def test_demo_mode_never_adds_the_demo_user_to_an_existing_file(settings):
    demo = make_settings(settings.data_dir, users_file=settings.users_file, demo_mode=True)
    prepare_sign_in(demo, {})
    assert DEMO_USER not in load_users(settings.users_file)


def test_users_file_is_created_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "users.yaml"
    add_user(path, "kari", "riktig-passord", ["nasjonal"])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    os.chmod(path, 0o644)  # a file from an older version
    add_user(path, "ola", "annet-passord", ["nasjonal"])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_remove_user(settings):
    assert remove_user(settings.users_file, "kari")
    assert not remove_user(settings.users_file, "kari")
    assert set(load_users(settings.users_file)) == {"ola"}


def test_the_example_users_file_has_no_usable_password():
    """Finding 3: config/users.example.yaml shipped an admin with the password 'endre-meg'."""
    from tests.conftest import REPO

    example = REPO / "config" / "users.example.yaml"
    users = load_users(example)
    assert users, "the example should still show the format"
    for entry in users.values():
        assert not entry.password_hash.startswith("$2"), "an example must not carry a real bcrypt hash"
    for guess in ("endre-meg", "demo", "passord", "password", "admin", ""):
        settings = make_settings(example.parent, users_file=example)
        for name in users:
            assert authenticate_password(settings, name, guess) is None


# --- Entra ID -------------------------------------------------------------------------


def test_entra_groups_are_read_from_the_id_token_and_user_data_by_id_never_by_name():
    id_token = _jwt({"groups": ["2b7d8e90-aaaa"], "oid": "x"})
    raw = {"memberOf": [{"id": "g-1", "displayName": "Nordlia-legar"}]}
    # A display name is not unique and may be chosen by anyone who can create a group.
    assert entra_groups(raw, token="opaque-token", id_token=id_token) == ["2b7d8e90-aaaa", "g-1"]


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
    headers = {"x-forwarded-user": "ola@nordlia.no", "X-Forwarded-Groups": "Nordlia-legar, annet"}
    user = header_user(settings, headers, PROXY)
    assert user is not None
    assert user.identifier == "ola@nordlia.no"
    assert user.access_groups == ["nasjonal", "nordlia"]


def test_header_user_without_the_user_header_is_refused(settings):
    assert header_user(settings, {"X-Forwarded-Groups": "Nordlia-legar"}, PROXY) is None


def test_header_names_come_from_settings(tmp_path):
    settings = make_settings(
        tmp_path,
        header_auth_user_header="Remote-User",
        header_auth_groups_header="Remote-Groups",
        header_auth_trusted_proxies=[PROXY],
    )
    user = header_user(settings, {"Remote-User": "eva", "X-Forwarded-User": "mallory"}, PROXY)
    assert user is not None and user.identifier == "eva"


FORGED = {"X-Forwarded-User": "kari.nordmann@fjordbyen.no", "X-Forwarded-Groups": "admin"}


@pytest.mark.parametrize("peer", ["10.20.0.6", "127.0.0.1", "::1", None, "not-an-address"])
def test_header_sign_in_from_an_untrusted_peer_is_refused(settings, peer):
    """Finding 1: anyone who reached the port could sign in as anyone."""
    assert header_user(settings, FORGED, peer) is None


def test_header_sign_in_from_a_trusted_network_and_its_ipv4_mapped_form(tmp_path):
    settings = make_settings(tmp_path, header_auth_trusted_proxies=["10.20.0.0/24"])
    assert header_user(settings, {"X-Forwarded-User": "eva"}, "10.20.0.77") is not None
    assert header_user(settings, {"X-Forwarded-User": "eva"}, "::ffff:10.20.0.77") is not None
    assert header_user(settings, {"X-Forwarded-User": "eva"}, "10.20.1.1") is None


def test_header_sign_in_with_a_shared_secret(tmp_path):
    settings = make_settings(tmp_path, header_auth_secret=PROXY_SECRET)
    signed = {"X-Forwarded-User": "eva", "X-Fagprat-Proxy-Secret": PROXY_SECRET}
    assert header_user(settings, signed, "192.0.2.1") is not None
    assert header_user(settings, {**signed, "X-Fagprat-Proxy-Secret": "gjett"}, "192.0.2.1") is None
    assert header_user(settings, {"X-Forwarded-User": "eva"}, "192.0.2.1") is None


def test_with_proxies_and_a_secret_both_must_hold(tmp_path):
    settings = make_settings(tmp_path, header_auth_secret=PROXY_SECRET, header_auth_trusted_proxies=[PROXY])
    signed = {"X-Forwarded-User": "eva", "X-Fagprat-Proxy-Secret": PROXY_SECRET}
    assert header_user(settings, signed, PROXY) is not None
    assert header_user(settings, signed, "10.20.0.6") is None
    assert header_user(settings, {"X-Forwarded-User": "eva"}, PROXY) is None


def test_header_mode_without_proxies_or_secret_trusts_nobody_and_does_not_start(tmp_path):
    settings = make_settings(tmp_path, auth_mode="header")
    assert header_user(settings, FORGED, "127.0.0.1") is None
    with pytest.raises(ConfigurationError, match="FAGPRAT_HEADER_AUTH_TRUSTED_PROXIES"):
        prepare_sign_in(settings, {})


def test_header_mode_makes_uvicorn_report_the_real_peer(tmp_path):
    env: dict[str, str] = {UVICORN_FORWARDED_ALLOW_IPS_ENV: "127.0.0.1"}
    prepare_sign_in(make_settings(tmp_path, auth_mode="header", header_auth_trusted_proxies=[PROXY]), env)
    assert env[UVICORN_FORWARDED_ALLOW_IPS_ENV] == ""


def test_a_raw_admin_group_grants_nothing_unless_mapped(settings):
    """Finding 1: a proxy or Entra group merely named 'admin' made the user an admin."""
    user = header_user(settings, {"X-Forwarded-User": "mallory@fjordbyen.no", "X-Forwarded-Groups": "admin"}, PROXY)
    assert user is not None and not user.is_admin and user.access_groups == ["nasjonal"]
    token = _jwt({"groups": ["admin"]})
    entra = oauth_user(settings, "azure-ad", {}, "mallory@fjordbyen.no", token)
    assert entra is not None and not entra.is_admin
    # Mapped, it counts.
    mapped = header_user(settings, {"X-Forwarded-User": "per@x.no", "X-Forwarded-Groups": "fagprat-admins"}, PROXY)
    assert mapped is not None and mapped.is_admin


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


def test_an_empty_secret_setting_is_no_secret(tmp_path):
    """Compose passes FAGPRAT_HEADER_AUTH_SECRET="" when unset: that must not make "" the password."""
    settings = make_settings(tmp_path, auth_mode="header", header_auth_secret="")
    assert settings.header_auth_secret is None
    assert header_user(settings, {"X-Forwarded-User": "eva", "X-Fagprat-Proxy-Secret": ""}, "127.0.0.1") is None
    with pytest.raises(ConfigurationError):
        prepare_sign_in(settings, {})
