"""Shared fixtures: the sample corpus indexed once per test session, with the
real embedder and embedded Qdrant, and the real answering service on it."""

from __future__ import annotations

import os
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
def indexed_settings(tmp_path_factory: pytest.TempPathFactory, sample_corpus: Path):  # type: ignore[no-untyped-def]
    """Settings whose embedded Qdrant holds the whole sample corpus."""
    from ingest.pipeline import ingest_path

    settings = make_settings(tmp_path_factory.mktemp("indexed"))
    report = ingest_path(settings, sample_corpus)
    assert report.indexed > 0 and not report.skipped, report.as_dict()
    return settings


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
