"""Which answer mode should the main job start in? Quote answers vs the bundled
model writing (and then being verified), on the same gold questions, in one run.

    python -m benchmarks.answer_modes              # 40 questions, writes benchmarks/results/answer_modes.{json,md}
    python -m benchmarks.answer_modes --limit 0    # the whole gold set (slow with a model)

Per mode: what the user was shown (a generated answer, a quote answer because
the model's text failed verification or missed the question, a refusal), the
share of answerable questions whose shown text holds every key fact, and the
time per answer (median and p95). The question sample takes every n-th gold
question so that all languages and topics are in it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.common import percentile, write_result
from eval.questions import load_questions
from ingest.pipeline import ingest_path
from rag.models import Question
from rag.service import AnsweringService
from rag.settings import Settings

REPO = Path(__file__).resolve().parents[1]
MODES = ("quote", "generate")


def _contains(text: str, fact: str) -> bool:
    return " ".join(fact.lower().split()) in " ".join(text.lower().split())


def sample(limit: int):  # type: ignore[no-untyped-def]
    gold = load_questions(REPO / "eval" / "data" / "gold.jsonl")
    if not limit or limit >= len(gold):
        return gold
    step = len(gold) / limit
    return [gold[int(i * step)] for i in range(limit)]


def run(data_dir: Path, limit: int) -> dict:
    base = Settings(data_dir=data_dir, qdrant_url="", _env_file=None, audit_enabled=False)
    ingest_path(base, REPO / "data" / "sample", progress=False)
    questions = sample(limit)
    results = {}
    for mode in MODES:
        service = AnsweringService(base.model_copy(update={"answer_mode": mode}))
        rows = []
        for item in questions:
            started = time.perf_counter()
            answer = service.answer(Question(text=item.question, access_groups=item.access_groups))
            seconds = time.perf_counter() - started
            shown = "" if answer.refused else answer.text
            rows.append(
                {
                    "id": item.id,
                    "answerable": item.answerable,
                    "shown": answer.kind + (f" ({answer.fallback_reason})" if answer.fallback_reason and answer.kind != "generated" else ""),
                    "all_facts": bool(item.key_facts) and all(_contains(shown, f) for f in item.key_facts),
                    "seconds": seconds,
                }
            )
        answerable = [r for r in rows if r["answerable"]]
        unanswerable = [r for r in rows if not r["answerable"]]
        seconds = [r["seconds"] for r in rows]
        results[mode] = {
            "questions": len(rows),
            "shown": dict(Counter(r["shown"] for r in rows)),
            "key_fact_recall": round(sum(r["all_facts"] for r in answerable) / max(1, len(answerable)), 3),
            "unanswerable_refused": round(
                sum(r["shown"].startswith("refusal") for r in unanswerable) / max(1, len(unanswerable)), 3
            ),
            "seconds_p50": round(statistics.median(seconds), 2),
            "seconds_p95": round(percentile(seconds, 0.95), 2),
            "rows": rows,
        }
    return {"model": base.llm_name, "limit": limit, "modes": results}


def markdown(result: dict) -> str:
    lines = [
        "# Answer modes with the bundled model: quote answers vs generated-and-verified",
        "",
        f"Model: {result['model']} (bundled, in-process). Same {result['modes']['quote']['questions']} gold questions "
        "in each mode (every n-th of the gold set).",
        "",
        "| Mode | Answerable with every key fact shown | Unanswerable refused | Seconds p50 | Seconds p95 | What was shown |",
        "|---|---|---|---|---|---|",
    ]
    for mode, r in result["modes"].items():
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(r["shown"].items()))
        lines.append(
            f"| {mode} | {r['key_fact_recall']:.0%} | {r['unanswerable_refused']:.0%} | {r['seconds_p50']} | {r['seconds_p95']} | {shown} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=40, help="Questions per mode (0 = the whole gold set)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(Path(tmp), args.limit)
    write_result("answer_modes", result, markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
