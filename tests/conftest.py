"""Shared fixtures: the sample corpus indexed once per test session, with the
real embedder and embedded Qdrant, and the real answering service on it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

pytest_plugins = ["tests.fixtures.llama_server"]

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CORPUS = REPO / "data" / "sample"
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def sample_corpus() -> Path:
    if not SAMPLE_CORPUS.exists():
        pytest.fail("data/sample is missing: run scripts/build_sample_corpus.py")
    return SAMPLE_CORPUS


def make_settings(data_dir: Path, **overrides):  # type: ignore[no-untyped-def]
    """Settings for a test: its own data folder, nothing from the developer's environment that matters."""
    from rag.settings import Settings

    return Settings(data_dir=data_dir, qdrant_url="", _env_file=None, **overrides)


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory, sample_corpus: Path) -> Path:
    """A data folder holding the whole sample corpus, ingested once per session. Tests copy it
    (`copy_sample_index`) and never write to it: embedding the corpus is the slow part. The
    ingest runs in its own process, so nothing in this one still holds or tidies the folder."""
    data_dir = tmp_path_factory.mktemp("sample-index") / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAGPRAT_", "CHAINLIT_"))}
    result = subprocess.run(
        [sys.executable, "-m", "ui.cli", "ingest", str(sample_corpus), "--json", "--no-progress"],
        cwd=REPO, env={**env, "FAGPRAT_DATA_DIR": str(data_dir)}, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout)
    assert report["indexed"] > 0 and not report["skipped"], report
    return data_dir


def copy_sample_index(sample_index: Path, data_dir: Path) -> Path:
    """A data folder of one's own with the sample corpus indexed, as `fagprat ingest data/sample`
    leaves it (published store generations are immutable, so a copy is a consistent one)."""
    shutil.copytree(sample_index, data_dir)
    return data_dir


@pytest.fixture(scope="session")
def indexed_settings(tmp_path_factory: pytest.TempPathFactory, sample_index: Path):  # type: ignore[no-untyped-def]
    """Settings whose embedded Qdrant holds the whole sample corpus."""
    return make_settings(copy_sample_index(sample_index, tmp_path_factory.mktemp("indexed") / "data"))


@pytest.fixture(scope="session")
def service(indexed_settings) -> Iterator:  # type: ignore[no-untyped-def]
    from rag.service import get_service

    yield get_service(indexed_settings)


@pytest.fixture(scope="session", autouse=True)
def _release_qdrant_clients() -> Iterator[None]:
    """Close embedded Qdrant cleanly at the end (not in __del__ at interpreter shutdown)."""
    yield
    from rag.store import close_clients

    close_clients()
