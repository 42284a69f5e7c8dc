"""Bot Framework authentication: with credentials, no valid token means 401 and no answer."""

from __future__ import annotations

import logging
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from rag.errors import ConfigurationError
from tests.conftest import make_settings
from tests.teams.activities import BOT_APP_ID, TENANT_ID, personal_message
from tests.teams.conftest import running_bot
from ui.teams.server import MESSAGING_ENDPOINT, auth_options, create_server

QUIET_PERIOD_S = 1.0


class CountingFactory:
    """Stands in for the service factory: any call would mean an answer was started."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        raise AssertionError("the answering service must not be reached")


def _forged_token(service_url: str) -> str:
    """A well-formed Bot Framework token with the right claims, signed by a key Microsoft never issued."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"iss": "https://api.botframework.com", "aud": BOT_APP_ID, "serviceurl": service_url,
              "iat": now, "nbf": now, "exp": now + 600}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "forged-key"})


@pytest.mark.parametrize("tenant_id", [TENANT_ID, ""], ids=["single-tenant", "multi-tenant"])
def test_requests_without_a_valid_token_get_401_and_no_answer(tmp_path, connector, tenant_id):
    settings = make_settings(tmp_path, teams_app_id=BOT_APP_ID, teams_app_password="hemmelig-passord",
                             teams_tenant_id=tenant_id)
    factory = CountingFactory()
    with running_bot(settings, service_factory=factory) as (server, base_url):
        assert server.app.credentials.client_id == BOT_APP_ID
        assert server.app.credentials.tenant_id == (tenant_id or None)
        url = base_url + MESSAGING_ENDPOINT
        activity = personal_message(connector.url, "Hva er behandlingen av sepsis?")
        headers_tried = [
            {},
            {"Authorization": "Bearer this-is-not-a-jwt"},
            {"Authorization": "Basic dXNlcjpwYXNz"},
            {"Authorization": f"Bearer {_forged_token(activity['serviceUrl'])}"},
        ]
        statuses = [httpx.post(url, json=activity, headers=h, timeout=60).status_code for h in headers_tried]
        time.sleep(QUIET_PERIOD_S)
    assert statuses == [401, 401, 401, 401]
    assert connector.requests == []
    assert factory.calls == 0


def test_no_credentials_and_no_dev_mode_refuses_to_start(tmp_path):
    with pytest.raises(ConfigurationError) as info:
        create_server(make_settings(tmp_path))
    assert "FAGPRAT_TEAMS_DEV_MODE" in str(info.value)
    assert "FAGPRAT_TEAMS_APP_ID" in info.value.user_message


@pytest.mark.parametrize("partial", [{"teams_app_id": BOT_APP_ID}, {"teams_app_password": "hemmelig"}])
def test_half_configured_credentials_are_an_error_even_in_dev_mode(tmp_path, partial):
    with pytest.raises(ConfigurationError):
        auth_options(make_settings(tmp_path, teams_dev_mode=True, **partial))


def test_dev_mode_without_credentials_warns(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ui.teams.server"):
        options = auth_options(make_settings(tmp_path, teams_dev_mode=True))
    assert options == {"dangerously_allow_unauthenticated_requests": True}
    assert "NOT authenticated" in caplog.text


def test_credentials_win_over_dev_mode(tmp_path):
    options = auth_options(make_settings(tmp_path, teams_dev_mode=True, teams_app_id=BOT_APP_ID,
                                         teams_app_password="hemmelig"))
    assert options["dangerously_allow_unauthenticated_requests"] is False


def test_single_tenant_bot_ignores_other_tenants(tmp_path, connector):
    settings = make_settings(tmp_path, teams_dev_mode=True, teams_tenant_id=TENANT_ID)
    factory = CountingFactory()
    activity = personal_message(connector.url, "Hva er behandlingen av sepsis?")
    other_tenant = "0000aaaa-0000-4000-8000-000000000999"
    activity["channelData"]["tenant"]["id"] = other_tenant
    activity["conversation"]["tenantId"] = other_tenant
    with running_bot(settings, service_factory=factory) as (_, base_url):
        status = httpx.post(base_url + MESSAGING_ENDPOINT, json=activity, timeout=30).status_code
        time.sleep(QUIET_PERIOD_S)
    assert status == 200
    assert connector.requests == []
    assert factory.calls == 0
