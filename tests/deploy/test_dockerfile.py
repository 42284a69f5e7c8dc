"""The Dockerfile builds a slim, non-root, offline image; checked by reading it (no Docker here)."""

from __future__ import annotations

import json
import re
import shlex
import tomllib

import pytest
from tests.deploy.deploy_files import DOCKERIGNORE, REPO, Stage, dockerfile_stages, load_compose

COMPILERS = {"build-essential", "gcc", "g++", "cmake", "clang", "make", "ninja-build"}


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return dockerfile_stages()


@pytest.fixture(scope="module")
def final(stages) -> Stage:
    return stages[-1]


def _apt_packages(stage: Stage) -> set[str]:
    packages: set[str] = set()
    for command in stage.arguments("RUN"):
        for install in re.findall(r"apt-get install ([^&;|]+)", command):
            packages |= {token for token in shlex.split(install) if not token.startswith("-")}
    return packages


def test_parser_reads_stages_and_continued_lines():
    stages = dockerfile_stages(
        "FROM python:3.11-slim AS build\n# comment\nRUN apt-get install -y \\\n    gcc \\\n    # inner comment\n    make\n"
        "FROM python:3.11-slim\nUSER app\n"
    )
    assert [s.name for s in stages] == ["build", "1"]
    assert _apt_packages(stages[0]) == {"gcc", "make"}
    assert stages[1].arguments("USER") == ["app"]


def test_multi_stage_build_on_slim_python(stages):
    assert len(stages) >= 2
    assert stages[0].name == "builder"
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in text
    assert {s.base for s in stages} == {"${PYTHON_IMAGE}"}


def test_builder_compiles_and_installs_cpu_torch(stages):
    builder = stages[0]
    assert {"build-essential", "cmake"} <= _apt_packages(builder)
    runs = " ".join(builder.arguments("RUN"))
    assert '--index-url "${TORCH_INDEX_URL}"' in runs
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in (REPO / "Dockerfile").read_text()
    assert "pip install ." in runs


def test_final_stage_has_no_compiler(final):
    assert _apt_packages(final) & COMPILERS == set()
    # Only the virtual environment and Chainlit's app root come over from the builder.
    for source in final.arguments("COPY"):
        if "--from=" in source:
            assert "/opt/venv" in source or "chainlit-root" in source, source


def test_final_stage_runs_as_a_non_root_user(final):
    users = final.arguments("USER")
    assert users, "no USER in the final stage"
    assert users[-1].split(":")[0] not in {"root", "0"}
    # USER comes after the last RUN, so nothing later runs as root.
    keywords = [keyword for keyword, _ in final.instructions]
    assert max(i for i, k in enumerate(keywords) if k == "RUN") < keywords.index("USER")


def test_final_stage_is_offline_and_keeps_state_in_data(final):
    env = final.env()
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["TRANSFORMERS_OFFLINE"] == "1"
    assert env["FAGPRAT_DATA_DIR"] == "/data"


def test_model_files_are_mounted_not_baked_in(stages):
    for stage in stages:
        for rest in stage.arguments("COPY") + stage.arguments("ADD"):
            assert ".gguf" not in rest and "models" not in rest, rest
    ignored = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    for entry in ("models/", "*.gguf", ".venv/", ".git/", "data/", ".env", "documents/"):
        assert entry in ignored, entry


def test_healthcheck_entrypoint_and_default_command(final):
    (healthcheck,) = final.arguments("HEALTHCHECK")
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    compile(command[2], "<healthcheck>", "exec")  # the one-liner is valid Python
    (entrypoint,) = final.arguments("ENTRYPOINT")
    assert json.loads(entrypoint) == ["fagprat"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert "fagprat" in scripts
    (default,) = final.arguments("CMD")
    assert json.loads(default) == load_compose()["services"]["app"]["command"]


def test_compose_health_checks_in_python_are_valid_python():
    for name, service in load_compose()["services"].items():
        test = (service.get("healthcheck") or {}).get("test") or []
        if test[1:3] == ["python", "-c"]:
            compile(test[3], f"<{name} healthcheck>", "exec")
