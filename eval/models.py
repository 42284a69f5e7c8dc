"""Where an evaluated set-up's GGUF file is.

`model_path` may be empty (the bundled SmolLM2, as everywhere in fagprat) or
name a bundled model as `bundled:<name>`, so that configs for CI need no
machine-specific paths."""

from __future__ import annotations

from pathlib import Path

from rag import bundled
from rag.errors import ConfigurationError
from rag.settings import ModelSetup

BUNDLED_PREFIX = "bundled:"


def _bundled(name: str) -> Path:
    if name == bundled.BUNDLED_LLM_NAME:
        return bundled.smollm2_path()
    if name == bundled.BUNDLED_GEMMA_NAME:
        return bundled.gemma_path()
    known = f"{bundled.BUNDLED_LLM_NAME}, {bundled.BUNDLED_GEMMA_NAME}"
    raise ConfigurationError(
        f"unknown bundled model {name!r}", user_message=f"Ukjent innebygd modell '{name}'. Kjente: {known}."
    )


def resolve_model_path(model_path: str) -> str:
    """'' -> bundled SmolLM2; 'bundled:<name>' -> that file; else unchanged."""
    if not model_path:
        return str(bundled.smollm2_path())
    if model_path.startswith(BUNDLED_PREFIX):
        return str(_bundled(model_path.removeprefix(BUNDLED_PREFIX)))
    return model_path


def resolved(setup: ModelSetup) -> ModelSetup:
    """The set-up with a concrete GGUF path (in-process backend only)."""
    if setup.backend != "llamacpp":
        return setup
    path = resolve_model_path(setup.model_path)
    if not Path(path).is_file():
        raise ConfigurationError(
            f"model file not found: {path}", user_message=f"Fant ikke modellfilen {path} (oppsett '{setup.name}')."
        )
    return setup.model_copy(update={"model_path": path})
