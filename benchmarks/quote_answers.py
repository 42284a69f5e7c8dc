"""Quote answers (sitatsvar) on the gold set: key-fact recall, refusals, latency.

    python -m benchmarks.quote_answers              # writes benchmarks/results/quote_answers.{json,md}

For every gold question the service answers with `answer_mode=quote` through
the real pipeline (embedded Qdrant over data/sample, the default embedder):

- key-fact recall: for answerable questions, the share whose every key fact
  is in the quoted text (and the share with at least one);
- refusals: answerable questions refused (false refusals) and unanswerable ones
  refused, per language, at the configured thresholds;
- latency: p50/p95 of the whole answer (retrieval + quote selection), and of
  the quote step alone, in three passes over the gold set after a warm-up:
  without the sentence-vector cache (every candidate sentence embedded for
  every answer: the baseline), with a cache that starts empty (questions
  share passages, as a ward's questions do), and again with that cache full
  (the same questions again). The answers of all passes must be the same.

It also sweeps the threshold of how well the best quote must address the
question (`addresses_threshold`), which is how that default was chosen, and
checks the same threshold as the test a *generated* answer must pass: the gold
reference answers should pass it, while the reference answers of other
questions on the same document (true, but about something else: the PVK case)
should not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import percentile, write_result
from eval.questions import load_questions
from ingest.pipeline import ingest_path
from rag.messages import REASON_NOT_FOUND, REASON_UNKNOWN_TERM
from rag.models import Question
from rag.service import AnsweringService
from rag.settings import Settings

REPO = Path(__file__).resolve().parents[1]
THRESHOLDS = [round(0.05 * i, 2) for i in range(0, 15)]
RETRIEVAL_REFUSALS = {REASON_NOT_FOUND, REASON_UNKNOWN_TERM}
PASS_NAMES = {
    "no_cache": "no sentence-vector cache (baseline)",
    "cache_first_pass": "cache, first pass (starts empty)",
    "cache_repeat_pass": "cache, repeat pass (the same questions again)",
}


def _contains(text: str, fact: str) -> bool:
    return " ".join(fact.lower().split()) in " ".join(text.lower().split())


def run(data_dir: Path) -> dict:
    settings = Settings(data_dir=data_dir, qdrant_url="", _env_file=None, answer_mode="quote", audit_enabled=False)
    ingest_path(settings, REPO / "data" / "sample", progress=False)
    gold = load_questions(REPO / "eval" / "data" / "gold.jsonl")
    uncached = AnsweringService(settings.model_copy(update={"sentence_vector_cache": 0}))
    _answer_all(uncached, gold[:10])  # warm-up: models loaded, nothing timed
    passes = {"no_cache": _answer_all(uncached, gold)}
    service = AnsweringService(settings)
    passes["cache_first_pass"] = _answer_all(service, gold)
    passes["cache_repeat_pass"] = _answer_all(service, gold)
    rows = passes["cache_first_pass"]
    outcome = [(r["refused"], r["all_facts"], r["addresses"]) for r in rows]
    result = summarize(rows, settings)
    result["same_answers_in_every_pass"] = all(
        [(r["refused"], r["all_facts"], r["addresses"]) for r in other] == outcome for other in passes.values()
    )
    result["latency_ms_by_pass"] = {name: _latency(pass_rows) for name, pass_rows in passes.items()}
    result["addresses_check"] = addresses_check(service, gold, settings.addresses_threshold)
    return result


def _answer_all(service: AnsweringService, gold: list) -> list[dict]:
    rows = []
    for item in gold:
        question = Question(text=item.question, access_groups=item.access_groups)
        started = time.perf_counter()
        answer = service.answer(question)
        total_ms = (time.perf_counter() - started) * 1000
        shown = answer.text if not answer.refused else ""
        facts = [_contains(shown, f) for f in item.key_facts]
        rows.append(
            {
                "id": item.id,
                "language": item.language,
                "answerable": item.answerable,
                "refused": answer.refused,
                "refusal_reason": answer.refusal_reason,
                "addresses": answer.addresses_question,
                "all_facts": bool(facts) and all(facts),
                "any_fact": any(facts),
                "total_ms": total_ms,
                "quote_ms": answer.timings.quote_ms,
            }
        )
    return rows


def _latency(rows: list[dict]) -> dict:
    total = [r["total_ms"] for r in rows]
    quote = [r["quote_ms"] for r in rows if r["quote_ms"]]
    return {
        "answer_p50": statistics.median(total), "answer_p95": percentile(total, 0.95),
        "quote_step_p50": statistics.median(quote) if quote else None,
        "quote_step_p95": percentile(quote, 0.95) if quote else None,
    }


def addresses_check(service: AnsweringService, gold: list, threshold: float) -> dict:
    """Share of reference answers that pass the addresses check for their own question,
    and of other same-document reference answers that (wrongly) pass it."""
    from rag import addressing

    answerable = [g for g in gold if g.answerable]
    embedder = service.semantic
    own, other = [], []
    for item in answerable:
        question = addressing.profile(item.question, embedder)

        def score(text: str) -> float:
            vector = embedder.embed_passages([text])[0] if embedder is not None else None
            return addressing.addresses(question, text, vector, addressing.ANSWER_WEIGHTS)

        own.append(score(item.reference_answer))
        siblings = [
            o for o in answerable
            if o.id != item.id and set(o.source_doc_ids) & set(item.source_doc_ids) and not set(o.key_facts) & set(item.key_facts)
        ]
        other.extend(score(o.reference_answer) for o in siblings[:3])
    return {
        "threshold": threshold,
        "own_reference_passes": round(sum(s >= threshold for s in own) / max(1, len(own)), 3),
        "other_reference_passes": round(sum(s >= threshold for s in other) / max(1, len(other)), 3),
        "own": len(own),
        "other": len(other),
    }


def summarize(rows: list[dict], settings: Settings) -> dict:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    by_language = {}
    for language in ("nb", "nn", "en"):
        a = [r for r in answerable if r["language"] == language]
        u = [r for r in unanswerable if r["language"] == language]
        by_language[language] = {
            "answerable": len(a),
            "unanswerable": len(u),
            "all_key_facts": _share(a, "all_facts"),
            "false_refusals": _share(a, "refused"),
            "unanswerable_refused": _share(u, "refused"),
        }
    # The sweep: what a different addresses_threshold would have done (refusals by retrieval,
    # the floor and the unknown-term gate, stay).
    sweep = []
    for threshold in THRESHOLDS:
        def refused(r: dict) -> bool:
            return r["refusal_reason"] in RETRIEVAL_REFUSALS or (r["addresses"] or 0.0) < threshold

        sweep.append(
            {
                "threshold": threshold,
                "key_fact_recall": sum(r["all_facts"] and not refused(r) for r in answerable) / max(1, len(answerable)),
                "false_refusals": sum(refused(r) for r in answerable) / max(1, len(answerable)),
                "unanswerable_refused": sum(refused(r) for r in unanswerable) / max(1, len(unanswerable)),
            }
        )
    return {
        "settings": {"addresses_threshold": settings.addresses_threshold, "min_relevance": settings.min_relevance,
                     "quote_max_sentences": settings.quote_max_sentences, "top_k": settings.top_k},
        "questions": len(rows),
        "key_fact_recall_all": _share(answerable, "all_facts"),
        "key_fact_recall_any": _share(answerable, "any_fact"),
        "false_refusals": _share(answerable, "refused"),
        "unanswerable_refused": _share(unanswerable, "refused"),
        "by_language": by_language,
        "threshold_sweep": sweep,
        "misses": [r["id"] for r in answerable if not r["all_facts"]],
    }


def _share(rows: list[dict], key: str) -> float | None:
    return round(sum(bool(r[key]) for r in rows) / len(rows), 3) if rows else None


def markdown(result: dict) -> str:
    lines = [
        "# Quote answers (sitatsvar) on the gold set",
        "",
        f"{result['questions']} questions; settings {result['settings']}.",
        "",
        f"- Answerable questions with every key fact quoted: **{result['key_fact_recall_all']:.1%}** "
        f"(at least one: {result['key_fact_recall_any']:.1%})",
        f"- False refusals: {result['false_refusals']:.1%}; unanswerable refused: {result['unanswerable_refused']:.1%}",
        "",
        "Latency (ms) in three passes over the gold set in this run (same answers in every pass: "
        f"{'yes' if result['same_answers_in_every_pass'] else '**no**'}):",
        "",
        "| Pass | Answer p50 | Answer p95 | Quote step p50 | Quote step p95 |",
        "|---|---|---|---|---|",
        *(
            f"| {PASS_NAMES[name]} | {row['answer_p50']:.0f} | {row['answer_p95']:.0f} | "
            f"{row['quote_step_p50'] or 0:.0f} | {row['quote_step_p95'] or 0:.0f} |"
            for name, row in result["latency_ms_by_pass"].items()
        ),
        "",
        "| Language | Answerable | Unanswerable | All key facts | False refusals | Unanswerable refused |",
        "|---|---|---|---|---|---|",
    ]
    for language, row in result["by_language"].items():
        def pct(v):  # type: ignore[no-untyped-def]
            return "–" if v is None else f"{v:.0%}"

        lines.append(
            f"| {language} | {row['answerable']} | {row['unanswerable']} | {pct(row['all_key_facts'])} | "
            f"{pct(row['false_refusals'])} | {pct(row['unanswerable_refused'])} |"
        )
    lines += ["", "Threshold sweep (`addresses_threshold`):", "", "| Threshold | Key-fact recall | False refusals | Unanswerable refused |", "|---|---|---|---|"]
    for row in result["threshold_sweep"]:
        lines.append(
            f"| {row['threshold']:.2f} | {row['key_fact_recall']:.1%} | {row['false_refusals']:.1%} | {row['unanswerable_refused']:.1%} |"
        )
    check = result["addresses_check"]
    lines += [
        "",
        f"Addresses check for generated answers at {check['threshold']}: {check['own_reference_passes']:.0%} of the "
        f"{check['own']} gold reference answers pass for their own question; {check['other_reference_passes']:.0%} of "
        f"{check['other']} reference answers of other questions on the same document (true, but about something else) "
        "pass too. A generated answer that fails is replaced by quotes, not refused.",
        "",
        f"Answerable questions without every key fact: {', '.join(result['misses']) or 'none'}",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="Index folder (default: a temporary one)")
    parser.add_argument("--name", default="quote_answers", help="Results file name")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.data_dir or Path(tmp))
    write_result(args.name, result, markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
