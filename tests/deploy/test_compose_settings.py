"""The settings the containers get are real fields of `Settings`, and load as intended."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from tests.deploy.deploy_files import (
    ENV_EXAMPLE,
    STAND_IN_SECRET,
    dockerfile_stages,
    env_example,
    environment_of,
    load_compose,
    load_compose_raw,
    operator_env,
)

from rag.settings import Settings

PREFIX = "FAGPRAT_"
# Services that run the fagprat image: they read `Settings`.
APP_SERVICES = ("app", "bot", "ingest")


def _field_of(variable: str) -> str:
    """FAGPRAT_LLM_BASE_URL -> llm_base_url; FAGPRAT_MODELS__0__NAME -> models."""
    return variable[len(PREFIX) :].split("__")[0].lower()


def _fagprat_variables() -> dict[str, set[str]]:
    """Every FAGPRAT_* name, by the place it is written."""
    raw = load_compose_raw()
    found: dict[str, set[str]] = {}
    for name, service in raw["services"].items():
        found[f"docker-compose.yml:{name}"] = {k for k in environment_of(service) if k.startswith(PREFIX)}
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    found[".env.example"] = set(re.findall(r"\b(FAGPRAT_[A-Z0-9_]+)\s*=", text)) | {
        k for k in env_example() if k.startswith(PREFIX)
    }
    found["Dockerfile"] = {k for stage in dockerfile_stages() for k in stage.env() if k.startswith(PREFIX)}
    return found


def test_every_fagprat_variable_is_a_settings_field():
    fields = set(Settings.model_fields)
    unknown = {
        place: sorted(v for v in variables if _field_of(v) not in fields)
        for place, variables in _fagprat_variables().items()
    }
    assert {place: names for place, names in unknown.items() if names} == {}
    # The check looks at something: the app's own settings are found.
    assert "FAGPRAT_QDRANT_URL" in _fagprat_variables()["docker-compose.yml:app"]


def test_the_field_check_spots_an_unknown_setting():
    assert _field_of("FAGPRAT_QDRANT_URLS") not in Settings.model_fields
    assert _field_of("FAGPRAT_MODELS__0__NAME") in Settings.model_fields


def _container_settings(service: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as the container's process builds them: image ENV, then compose's environment."""
    for key in list(os.environ):
        if key.startswith(PREFIX):
            monkeypatch.delenv(key)
    image_env = dockerfile_stages()[-1].env()
    compose_env = environment_of(load_compose()["services"][service])
    for key, value in {**image_env, **compose_env}.items():
        if key.startswith(PREFIX):
            monkeypatch.setenv(key, value)
    return Settings(_env_file=None)


@pytest.mark.parametrize("service", APP_SERVICES)
def test_container_settings_point_at_the_stack(service, monkeypatch):
    env = operator_env()
    settings = _container_settings(service, monkeypatch)
    assert settings.qdrant_url == "http://qdrant:6333"
    assert settings.qdrant_api_key is not None
    assert settings.qdrant_api_key.get_secret_value() == STAND_IN_SECRET
    assert settings.llm_backend == "openai"
    assert settings.llm_base_url == env["LLM_BASE_URL"]
    assert settings.llm_api_key.get_secret_value() == STAND_IN_SECRET
    assert settings.llm_n_ctx == int(env["LLM_CTX_PER_SLOT"])
    assert settings.data_dir == Path("/data")
    assert settings.chat_file_roots == [Path("/documents")]
    assert settings.collection == env["COLLECTION"]


def test_ingest_and_chat_index_and_search_alike(monkeypatch):
    """The ingest and the surfaces must agree on collection, embedder and sharding."""
    same = (
        "qdrant_url",
        "collection",
        "embedding_model",
        "embedding_query_prefix",
        "embedding_passage_prefix",
        "qdrant_shard_number",
        "qdrant_replication_factor",
    )
    views = {s: _container_settings(s, monkeypatch) for s in APP_SERVICES}
    for name in same:
        values = {service: getattr(settings, name) for service, settings in views.items()}
        assert len(set(map(str, values.values()))) == 1, (name, values)


def test_everything_else_keeps_the_embedded_defaults(monkeypatch):
    """Only addresses, keys, names and paths differ from a plain local run."""
    allowed = {
        "qdrant_url", "qdrant_api_key", "qdrant_shard_number", "qdrant_replication_factor",
        "llm_backend", "llm_base_url", "llm_api_key", "llm_name", "llm_server_model",
        "data_dir", "chat_file_roots", "library_root", "audit_log_path", "teams_app_password", "users_file",
        "teams_max_concurrent_answers",  # the bot answers as many at once as the model server has slots
    }  # fmt: skip
    defaults = Settings(_env_file=None)
    for service in APP_SERVICES:
        settings = _container_settings(service, monkeypatch)
        changed = {n for n in Settings.model_fields if getattr(settings, n) != getattr(defaults, n)}
        assert changed - allowed == set(), service


def test_bot_writes_its_own_audit_file(monkeypatch):
    bot = _container_settings("bot", monkeypatch)
    app = _container_settings("app", monkeypatch)
    assert bot.resolved_audit_log_path != app.resolved_audit_log_path
    assert bot.resolved_audit_log_path.parent == app.data_dir


def test_runtime_state_defaults_live_outside_the_checkout(monkeypatch):
    """A plain run (no FAGPRAT_DATA_DIR) and the eval cache keep their state out of the repository."""
    from pathlib import Path

    from eval.config import EvalConfig

    monkeypatch.delenv("FAGPRAT_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", "/home/sykepleier")
    repo = Path(__file__).resolve().parents[2]
    data_dir = Settings(_env_file=None).data_dir
    cache_dir = EvalConfig(setups=[{"name": "a"}]).cache_dir
    assert data_dir == Path("/home/sykepleier/.local/share/fagprat")
    assert cache_dir == data_dir / "eval-cache"
    for path in (data_dir, cache_dir, Settings(_env_file=None).resolved_audit_log_path):
        assert path.is_absolute() and repo not in path.parents
