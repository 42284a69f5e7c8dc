"""Answering speed on the default model and CPU.

1. Retrieval latency p50/p95 (hybrid query: embed + dense & BM25 candidates +
   RRF) on the sample corpus and, with --sizes, on generated collections with
   random unit dense vectors and BM25 vectors of sample-corpus text. The store
   at scale, with real embeddings and recall, is benchmarks/store_scale.py.
2. Time to first token and decode tokens/s through the service versus
   llama-cpp-python called directly with the same messages and settings
   (runs alternate, medians reported), and peak memory.

    python -m benchmarks.answer_latency [--sizes 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from benchmarks.common import REPO, median, peak_rss_mib, percentile, write_result
from ingest.pipeline import ingest_path
from rag.embeddings import get_embedder
from rag.llm import load_llm
from rag.models import Question, TokenEvent
from rag.prompting import build_answer_messages
from rag.retrieval import Retriever
from rag.service import AnsweringService
from rag.settings import Settings
from rag.sparse import BM25Encoder
from rag.store import ChunkPoint, Store, close_clients

QUESTIONS = [
    "Hvor ofte skal innstikkstedet for PVK inspiseres?",
    "Hva er dosen av adrenalin ved anafylaksi hos voksne?",
    "Når skal antibiotika gis ved mistanke om sepsis?",
    "Hvordan behandles hypoglykemi hos en våken pasient?",
    "Hvor ofte skal pasienter med høy risiko for trykksår snus?",
    "Kva skal ein gjere ved delirium hos eldre?",
    "Hvilke tiltak gjelder ved kontaktsmitte?",
    "Hvordan kontrolleres identiteten før blodtransfusjon?",
]
GROUPS = ["nasjonal", "fjordbyen", "nordlia"]


def _retrieval_latencies(settings: Settings, repeats: int) -> list[float]:
    retriever = Retriever(settings)
    retriever.search(QUESTIONS[0], access_groups=GROUPS)  # warm-up
    latencies = []
    for _ in range(repeats):
        for question in QUESTIONS:
            started = time.perf_counter()
            retriever.search(question, access_groups=GROUPS)
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def _query_embedding_latencies(settings: Settings, repeats: int) -> dict[str, object]:
    """Embedding one question, alone: the embedder's share of retrieval latency."""
    embedder = get_embedder(settings)
    embedder.embed_queries(QUESTIONS[:1])  # warm-up
    latencies = []
    for _ in range(repeats):
        for question in QUESTIONS:
            started = time.perf_counter()
            embedder.embed_queries([question])
            latencies.append((time.perf_counter() - started) * 1000)
    return {
        "embedder": embedder.identity,
        "threads": settings.embedding_threads,
        "p50_ms": percentile(latencies, 0.5),
        "p95_ms": percentile(latencies, 0.95),
    }


def _generated_collection(settings: Settings, size: int, texts: list[str]) -> None:
    embedder = get_embedder(settings)
    store = Store(settings, identity=embedder.identity)
    store.ensure_collection(embedder.dimension)
    sparse = BM25Encoder(settings)
    rng = np.random.default_rng(7)
    batch = 1000
    with store.writing():  # one session: published (and HNSW built) once, at the end
        for start in range(0, size, batch):
            vectors = rng.normal(size=(min(batch, size - start), embedder.dimension)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            points = []
            for offset, vector in enumerate(vectors):
                text = texts[(start + offset) % len(texts)]
                points.append(
                    ChunkPoint(
                        id=str(uuid.UUID(int=start + offset + 1)),
                        dense=vector.tolist(),
                        sparse=sparse.encode_document(text),
                        payload={
                            "doc_id": f"file:generated/{(start + offset) // 20}.md",
                            "chunk_index": (start + offset) % 20,
                            "title": "Generert dokument",
                            "text": text,
                            "access_groups": [random.Random(start + offset).choice(GROUPS)],
                            "heading_path": [],
                        },
                    )
                )
            store.upsert(points)


def _generation(settings: Settings, runs: int) -> dict[str, float]:
    # The model must write for its speed to be measured: with the bundled model the default answers are quotes.
    settings = settings.model_copy(update={"answer_mode": "generate", "answerability_gate": "off"})
    service = AnsweringService(settings)
    llm = load_llm(settings.model_setup())
    question = Question(text=QUESTIONS[0], access_groups=GROUPS)
    result = service.search(question)
    messages, _ = build_answer_messages(
        result.standalone_question, result.passages, "nb", llm, max_answer_tokens=settings.llm_max_tokens
    )
    llama = getattr(llm, "llama", None)  # the in-process llama_cpp.Llama
    direct_messages = [{"role": "system" if m.type == "system" else "user", "content": str(m.content)} for m in messages]

    service_ttft, service_tps, direct_ttft, direct_tps = [], [], [], []
    for run in range(runs):
        events = list(service.stream(question))
        answer = events[-1].answer  # type: ignore[union-attr]
        if answer.timings.first_token_ms is not None:
            service_ttft.append(answer.timings.first_token_ms)
        if answer.timings.tokens_per_s:
            service_tps.append(answer.timings.tokens_per_s)
        if llama is None:
            continue
        setup = llm.setup
        started = time.perf_counter()
        first = None
        text = ""
        for chunk in llama.create_chat_completion(
            messages=direct_messages,
            max_tokens=setup.max_tokens,
            temperature=setup.temperature,
            seed=setup.seed,
            stream=True,
        ):
            piece = chunk["choices"][0]["delta"].get("content") or ""
            if piece and first is None:
                first = time.perf_counter()
            text += piece
        finished = time.perf_counter()
        tokens = llm.count_tokens(text.strip())
        if first is not None:
            direct_ttft.append((first - started) * 1000)
            if tokens > 1 and finished > first:
                direct_tps.append((tokens - 1) / (finished - first))
        assert not isinstance(events[0], str) and isinstance(events[0], TokenEvent)
    service_rate, direct_rate = median(service_tps), median(direct_tps)
    return {
        "model": llm.version,
        "runs": runs,
        "service_first_token_ms_median": round(median(service_ttft), 1),
        "direct_first_token_ms_median": round(median(direct_ttft), 1),
        "service_tokens_per_s_median": round(service_rate, 2),
        "direct_tokens_per_s_median": round(direct_rate, 2),
        "service_overhead_pct": round((direct_rate - service_rate) / direct_rate * 100, 2) if direct_rate else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5, help="Passes over the question list per corpus")
    parser.add_argument("--name", default="answer_latency", help="Results file name (benchmarks/results/NAME.md)")
    args = parser.parse_args()
    figures: dict[str, object] = {"retrieval": {}}
    rows = ["| corpus | chunks | retrieval p50 ms | p95 ms |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        sample = Settings(_env_file=None, data_dir=Path(tmp) / "sample")
        report = ingest_path(sample, REPO / "data" / "sample")
        latencies = _retrieval_latencies(sample, args.repeats)
        texts = [p["text"] for _, p in Store(sample).points(["text"])]
        figures["retrieval"]["sample"] = {"chunks": report.chunks_written, "p50_ms": percentile(latencies, 0.5), "p95_ms": percentile(latencies, 0.95)}
        rows.append(f"| sample | {report.chunks_written} | {percentile(latencies, 0.5):.1f} | {percentile(latencies, 0.95):.1f} |")
        print(rows[-1], flush=True)
        figures["query_embedding"] = _query_embedding_latencies(sample, args.repeats)
        print(figures["query_embedding"], flush=True)
        figures["generation"] = _generation(sample, args.runs)
        print(figures["generation"], flush=True)
        for size in args.sizes:
            settings = Settings(_env_file=None, data_dir=Path(tmp) / f"gen{size}")
            started = time.perf_counter()
            _generated_collection(settings, size, texts)
            build_s = time.perf_counter() - started
            latencies = _retrieval_latencies(settings, max(1, args.repeats // 5))
            figures["retrieval"][f"generated {size}"] = {
                "chunks": size,
                "p50_ms": percentile(latencies, 0.5),
                "p95_ms": percentile(latencies, 0.95),
                "build_s": round(build_s, 1),
            }
            rows.append(f"| generated | {size} | {percentile(latencies, 0.5):.1f} | {percentile(latencies, 0.95):.1f} |")
            print(rows[-1], flush=True)
            close_clients()
    figures["peak_rss_mib"] = round(peak_rss_mib())
    gen, embedding = figures["generation"], figures["query_embedding"]
    rows += [
        "",
        f"Embedding one question ({embedding['embedder']['model']}): p50 {embedding['p50_ms']:.1f} ms, "  # type: ignore[index]
        f"p95 {embedding['p95_ms']:.1f} ms.",  # type: ignore[index]
        "",
        "| generation (bundled model, CPU) | through the service | llama-cpp-python directly |",
        "|---|---|---|",
        f"| time to first token, median ms | {gen['service_first_token_ms_median']} | {gen['direct_first_token_ms_median']} |",
        f"| decode tokens/s, median | {gen['service_tokens_per_s_median']} | {gen['direct_tokens_per_s_median']} |",
        "",
        f"Service overhead on decode speed: {gen['service_overhead_pct']}% ({gen['runs']} alternating runs, same messages, "
        f"same sampling settings; model {gen['model']}). Peak RSS of the benchmark process: {figures['peak_rss_mib']} MiB.",
        "Retrieval latency includes embedding the question. Generated collections use random dense vectors and "
        "BM25 vectors of sample text (see the script's docstring).",
    ]
    path = write_result(args.name, figures, "\n".join(rows))
    print(path.read_text())


if __name__ == "__main__":
    main()
