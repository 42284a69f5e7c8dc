"""Ingest throughput: the sample corpus and a larger generated corpus.

Reports documents/s, chunks/s, PDF pages/s, peak memory, and the share of
time spent outside the embedder (target: under 20%: embedding should
dominate). Each corpus is ingested in a fresh process (cold start, own peak
memory) into a fresh embedded Qdrant; the median of --runs runs is reported.

    python -m benchmarks.ingest_throughput [--copies 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import tempfile
import time
from pathlib import Path

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


def _ingest_once(corpus: str, data_dir: str, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    from ingest.pipeline import ingest_path
    from rag.embeddings import get_embedder
    from rag.settings import Settings

    settings = Settings(_env_file=None, data_dir=Path(data_dir))
    started = time.perf_counter()
    get_embedder(settings)  # model load is start-up, not throughput
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
        }
    )


def _measure(corpus: Path, runs: int) -> dict[str, float]:
    results = []
    context = mp.get_context("spawn")
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as data_dir:
            queue = context.Queue()
            process = context.Process(target=_ingest_once, args=(str(corpus), data_dir, queue))
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
        "share_outside_embedder": round(outside, 3),
        "peak_rss_mib": round(median([r["peak_rss_mib"] for r in results]), 0),
        "model_load_seconds": round(median([r["model_load_seconds"] for r in results]), 2),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=10, help="Copies of the sample corpus in the large corpus")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    figures = {"sample": _measure(SAMPLE, args.runs)}
    with tempfile.TemporaryDirectory() as tmp:
        figures[f"generated ({args.copies}x sample)"] = _measure(_generated_corpus(Path(tmp), args.copies), args.runs)

    rows = ["| corpus | files | chunks | s (median) | docs/s | chunks/s | PDF pages/s | outside embedder | peak RSS MiB |"]
    rows.append("|---|---|---|---|---|---|---|---|---|")
    for name, f in figures.items():
        rows.append(
            f"| {name} | {f['files']} | {f['chunks']} | {f['seconds_median']} | {f['documents_per_s']} | "
            f"{f['chunks_per_s']} | {f['pdf_pages_per_s']} | {f['share_outside_embedder']:.1%} | {f['peak_rss_mib']:.0f} |"
        )
    rows.append("")
    rows.append(
        f"Median of {args.runs} runs, each in a fresh process into a fresh embedded Qdrant; model load "
        "(excluded from the ingest seconds) is reported separately in the JSON. Embedder: bundled all-MiniLM-L6-v2 on CPU."
    )
    path = write_result("ingest_throughput", {"corpora": figures}, "\n".join(rows))
    print(path.read_text())


if __name__ == "__main__":
    main()
