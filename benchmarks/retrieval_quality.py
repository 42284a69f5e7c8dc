"""Retrieval quality with the offline defaults, and the relevance floor's calibration.

Measures hit@1, hit@5 and MRR@10 on NorQuAD test (passage found?) and on the
gold questions over the sample corpus (source document found?) for:
  - fusion choices: dense only, BM25 only, equal RRF, weighted RRF, candidate counts
  - indexing choices: chunk size, title + heading path in the indexed text
and calibrates `min_relevance` on the gold set (answerable vs unanswerable).

    python -m benchmarks.retrieval_quality [--norquad-limit N]

NorQuAD validation is kept for final measurement: pass --split validation only
after the choices are made.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import REPO, median, write_result
from eval.datasets import load_norquad
from ingest.pipeline import Ingester, ingest_path
from rag.models import Block, Document, DocumentMetadata
from rag.retrieval import Retriever
from rag.settings import Settings
from rag.sparse import BM25Encoder
from rag.store import SearchFilter, Store, close_clients

FUSIONS: dict[str, dict[str, float]] = {
    "dense only": {"dense_weight": 1.0, "sparse_weight": 0.0},
    "BM25 only": {"dense_weight": 0.0, "sparse_weight": 1.0},
    "RRF 1:1": {"dense_weight": 1.0, "sparse_weight": 1.0},
    "RRF 0.3:1": {"dense_weight": 0.3, "sparse_weight": 1.0},
    "RRF 0.1:1": {"dense_weight": 0.1, "sparse_weight": 1.0},
    "RRF 0.1:1, k=10": {"dense_weight": 0.1, "sparse_weight": 1.0, "rrf_k": 10},
}
CANDIDATES = 40
INDEX_VARIANTS = ((200, True), (200, False), (128, True))


@dataclass
class Query:
    text: str
    gold: set[str]
    groups: list[str]


def _rank_docs(store: Store, sparse: BM25Encoder, dense_vec, query: Query, settings: Settings, limit: int = 10):  # type: ignore[no-untyped-def]
    hits = store.hybrid_search(
        dense_vec,
        sparse.encode_query(query.text),
        SearchFilter(query.groups),
        limit=limit * 3,
        dense_candidates=settings.dense_candidates,
        sparse_candidates=settings.sparse_candidates,
        dense_weight=settings.dense_weight,
        sparse_weight=settings.sparse_weight,
        rrf_k=settings.rrf_k,
    )
    ranked: list[str] = []
    for hit in hits:
        doc = hit.payload["doc_id"]
        if doc not in ranked:
            ranked.append(doc)
    return ranked[:limit]


def _score(store, sparse, vectors, queries: list[Query], settings: Settings) -> dict[str, float]:  # type: ignore[no-untyped-def]
    hit1 = hit5 = rr = 0.0
    latencies = []
    for vector, query in zip(vectors, queries, strict=True):
        started = time.perf_counter()
        ranked = _rank_docs(store, sparse, vector.tolist(), query, settings)
        latencies.append((time.perf_counter() - started) * 1000)
        first = next((i for i, doc in enumerate(ranked) if doc in query.gold), None)
        hit1 += first == 0
        hit5 += first is not None and first < 5
        rr += 1 / (first + 1) if first is not None else 0.0
    n = len(queries)
    return {"hit@1": hit1 / n, "hit@5": hit5 / n, "mrr@10": rr / n, "n": n, "query_ms_p50": median(latencies)}


def _norquad_documents(path: Path) -> tuple[list[Document], list[Query]]:
    passages, questions = load_norquad(path)
    docs = [
        Document(
            meta=DocumentMetadata(doc_id=f"norquad:{i}", title=text.split(". ")[0][:120], access_groups=["nasjonal"]),
            blocks=[Block(text=paragraph) for paragraph in text.split("\n") if paragraph.strip()],
        )
        for i, text in enumerate(passages)
    ]
    queries = [Query(q, {f"norquad:{i}"}, ["nasjonal"]) for q, i in questions]
    return docs, queries


def _gold_queries() -> tuple[list[Query], list[Query]]:
    answerable, unanswerable = [], []
    for line in (REPO / "eval" / "data" / "gold.jsonl").read_text("utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        query = Query(item["question"], set(item.get("source_doc_ids") or []), item.get("access_groups") or ["nasjonal"])
        (answerable if item["answerable"] else unanswerable).append(query)
    return answerable, unanswerable


def _calibrate(settings: Settings, answerable: list[Query], unanswerable: list[Query]) -> dict[str, object]:
    retriever = Retriever(settings)
    kept = [retriever.search(q.text, access_groups=q.groups).best_relevance for q in answerable]
    refused = [retriever.search(q.text, access_groups=q.groups).best_relevance for q in unanswerable]
    best = (0.0, 0.0)
    for threshold in sorted(set(kept + refused)):
        tpr = sum(r >= threshold for r in kept) / len(kept)
        tnr = sum(r < threshold for r in refused) / len(refused)
        balanced = (tpr + tnr) / 2
        if balanced > best[1] + 1e-9:
            best = (threshold, balanced)
    threshold = best[0]
    # Place the floor midway below the chosen score, so a near-identical answerable question still passes.
    below = [r for r in kept + refused if r < threshold]
    floor = round((threshold + max(below)) / 2, 3) if below else round(threshold, 3)
    return {
        "min_relevance": floor,
        "balanced_accuracy": round(best[1], 3),
        "answerable_kept": round(sum(r >= floor for r in kept) / len(kept), 3),
        "unanswerable_refused": round(sum(r < floor for r in refused) / len(refused), 3),
        "answerable_relevance_median": round(median(kept), 3),
        "unanswerable_relevance_median": round(median(refused), 3),
        "n_answerable": len(kept),
        "n_unanswerable": len(refused),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="test", choices=["test", "validation"])
    parser.add_argument("--norquad-limit", type=int, default=0, help="Use only the first N questions (0 = all)")
    args = parser.parse_args()

    base = Settings(_env_file=None)
    datasets = base.datasets_dir if base.datasets_dir.is_absolute() else (REPO / base.datasets_dir).resolve()
    nq_docs, nq_queries = _norquad_documents(datasets / "norquad" / f"{args.split}.json")
    if args.norquad_limit:
        nq_queries = nq_queries[: args.norquad_limit]
    answerable, unanswerable = _gold_queries()
    tables: dict[str, dict[str, dict[str, float]]] = {"norquad": {}, "gold": {}}
    timings: dict[str, float] = {}

    with tempfile.TemporaryDirectory() as tmp:
        for chunk_size, with_header in INDEX_VARIANTS:
            variant = f"chunk {chunk_size}, header {'on' if with_header else 'off'}"
            settings = Settings(
                _env_file=None,
                data_dir=Path(tmp) / f"{chunk_size}-{with_header}",
                chunk_size_tokens=chunk_size,
                index_heading_context=with_header,
            )
            ingester = Ingester(settings)
            ingester.store.ensure_collection(ingester.embedder.dimension)
            started = time.perf_counter()
            for doc in nq_docs:
                ingester.index_document(doc, doc_hash="benchmark")
            timings[f"index norquad ({variant}) s"] = round(time.perf_counter() - started, 1)
            gold_settings = settings.model_copy(update={"collection": "gold"})
            ingest_path(gold_settings, REPO / "data" / "sample")
            sparse = BM25Encoder(settings)
            nq_vectors = ingester.embedder.embed_queries([q.text for q in nq_queries])
            gold_vectors = ingester.embedder.embed_queries([q.text for q in answerable])
            main_variant = (chunk_size, with_header) == INDEX_VARIANTS[0]
            # Fusion is chosen on the main index; the other indexes are compared with that choice.
            for fusion, weights in FUSIONS.items() if main_variant else [(chosen, FUSIONS[chosen])]:
                config = settings.model_copy(
                    update={**weights, "dense_candidates": CANDIDATES, "sparse_candidates": CANDIDATES}
                )
                name = f"{variant} · {fusion}"
                tables["norquad"][name] = _score(ingester.store, sparse, nq_vectors, nq_queries, config)
                tables["gold"][name] = _score(Store(gold_settings), sparse, gold_vectors, answerable, config)
                print(name, tables["norquad"][name], tables["gold"][name], flush=True)
            if main_variant:
                chosen = max(
                    FUSIONS,
                    key=lambda f: sum(
                        tables[t][f"{variant} · {f}"][m] for t in ("norquad", "gold") for m in ("hit@1", "hit@5")
                    ),
                )
                calibration = _calibrate(
                    gold_settings.model_copy(update={**FUSIONS[chosen], "dense_candidates": CANDIDATES, "sparse_candidates": CANDIDATES}),
                    answerable,
                    unanswerable,
                )
                calibration["fusion"] = chosen
            close_clients()

    lines = [
        f"Chosen fusion (best hit@1 + hit@5 summed over both sets): {calibration['fusion']}, "
        f"{CANDIDATES} candidates per retriever.",
        "",
        f"NorQuAD {args.split}: {len(nq_queries)} questions over {len(nq_docs)} passages; "
        f"gold: {len(answerable)} answerable questions over the sample corpus (hit = a gold source document ranked).",
        "",
        "| index · fusion | NorQuAD hit@1 | hit@5 | MRR@10 | gold hit@1 | hit@5 | MRR@10 | query ms p50 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, nq in tables["norquad"].items():
        gold = tables["gold"][name]
        lines.append(
            f"| {name} | {nq['hit@1']:.3f} | {nq['hit@5']:.3f} | {nq['mrr@10']:.3f} | "
            f"{gold['hit@1']:.3f} | {gold['hit@5']:.3f} | {gold['mrr@10']:.3f} | {nq['query_ms_p50']:.1f} |"
        )
    lines += ["", "Relevance floor calibrated on the gold set with the chosen fusion:", ""]
    lines += [f"- {key}: {value}" for key, value in calibration.items()]
    lines += ["", *[f"- {k}: {v}" for k, v in timings.items()]]
    path = write_result(
        "retrieval_quality",
        {"split": args.split, "results": tables, "calibration": calibration, "timings": timings},
        "\n".join(lines),
    )
    print(path.read_text())


if __name__ == "__main__":
    main()
