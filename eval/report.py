"""The report folder of a run, rendered from its results.json:

- summary.md: set-ups as columns, metrics as rows; each cell the mean with a
  bootstrap 95 % interval and n; failed judgements counted per metric
- per_question.jsonl / per_question.csv: answers, contexts, citations, scores
- plots/*.png: a bar chart per metric with interval whiskers, and
  faithfulness against latency
- run.json: config, machine, date, git commit, phase timings, judge calls
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.stats import Estimate, bootstrap_mean, bootstrap_mean_of_means

RESULTS_FILE = "results.json"
CONTEXT_SEPARATOR = "\n---\n"


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    higher_is_better: bool | None = True
    digits: int = 2


JUDGE_ROWS = [
    Row("faithfulness", "Faithfulness (RAGAS)"),
    Row("answer_relevancy", "Answer relevancy (RAGAS)"),
    Row("context_precision", "Context precision (RAGAS)"),
    Row("context_recall", "Context recall (RAGAS)"),
]
SCORE_ROWS = [
    Row("hit@1", "Retrieval hit@1"),
    Row("hit@3", "Retrieval hit@3"),
    Row("hit@5", "Retrieval hit@5"),
    Row("mrr", "Retrieval MRR"),
    Row("citation_validity", "Citation validity (raw model text)"),
    Row("citation_precision", "Citation precision (key facts)"),
    Row("removed_citations", "Invented citations removed per answer", higher_is_better=False),
    Row("answer_correctness", "Answer correctness (key facts)"),
    Row("refused_when_unanswerable", "Refused when unanswerable"),
    Row("answered_when_answerable", "Answered when answerable"),
    Row("first_token_ms", "Time to first token (ms)", higher_is_better=False, digits=0),
    Row("tokens_per_s", "Tokens per second", digits=1),
    Row("total_ms", "Total time per answer (ms)", higher_is_better=False, digits=0),
]
REFUSAL_BALANCED = Row("refusal_balanced", "Refusal accuracy (mean of the two rates)")


def load_results(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / RESULTS_FILE).read_text(encoding="utf-8"))


def _values(records: list[dict[str, Any]], setup: str, key: str, judged: bool) -> list[float]:
    values = []
    for record in records:
        if record["setup"] != setup:
            continue
        if judged:
            value = record.get("judgements", {}).get(key, {}).get("value")
        else:
            value = record.get("scores", {}).get(key)
        if value is not None and math.isfinite(value):
            values.append(float(value))
    return values


def _judgement_counts(records: list[dict[str, Any]], setup: str, metric: str) -> tuple[int, int, int]:
    """(failed, scored, not applicable) judgements of one metric for one set-up."""
    failed = scored = not_applicable = 0
    for record in records:
        if record["setup"] != setup:
            continue
        judgement = record.get("judgements", {}).get(metric)
        if judgement is None:
            continue
        if judgement.get("error"):
            failed += 1
        elif judgement.get("not_applicable"):
            not_applicable += 1
        else:
            scored += 1
    return failed, scored, not_applicable


def estimates(results: dict[str, Any]) -> dict[str, dict[str, Estimate]]:
    """metric key -> set-up -> estimate, for every row that has any value."""
    records = results["records"]
    seed = results["run"]["config"].get("seed", 42)
    resamples = results["run"]["config"].get("bootstrap_resamples", 2000)
    table: dict[str, dict[str, Estimate]] = {}
    for row in [*JUDGE_ROWS, *SCORE_ROWS]:
        judged = row in JUDGE_ROWS
        if judged and row.key not in results.get("judge_metrics", []):
            continue
        per_setup = {
            s: bootstrap_mean(_values(records, s, row.key, judged), seed=seed, resamples=resamples) for s in results["setups"]
        }
        if any(e.n for e in per_setup.values()) or judged:
            table[row.key] = per_setup
    if "refused_when_unanswerable" in table or "answered_when_answerable" in table:
        table[REFUSAL_BALANCED.key] = {
            s: bootstrap_mean_of_means(
                [
                    _values(records, s, "refused_when_unanswerable", False),
                    _values(records, s, "answered_when_answerable", False),
                ],
                seed=seed,
                resamples=resamples,
            )
            for s in results["setups"]
        }
    return table


def _arrow(row: Row) -> str:
    return {True: "↑", False: "↓", None: ""}[row.higher_is_better]


def _summary_markdown(results: dict[str, Any], table: dict[str, dict[str, Estimate]]) -> str:
    run = results["run"]
    setups = results["setups"]
    records = results["records"]
    lines = [
        f"# Evaluation: {run['name']}",
        "",
        f"- date: {run['date']}  ",
        f"- git commit: `{run['git_commit'] or 'unknown'}`  ",
        f"- questions: {run['questions']} from `{run['questions_file']}`  ",
        f"- judge: {run['judge'].get('judge', 'none')} "
        f"({run['judge'].get('calls', 0)} judge calls {json.dumps(run['judge'].get('calls_per_metric', {}))}, "
        f"{run['judge'].get('seconds', 0)} s)  ",
        f"- phases (s): {json.dumps(run['phases'])}",
        "",
        "Each cell: mean [bootstrap 95 % interval] n = questions the metric applies to. "
        "↑ higher is better, ↓ lower is better. *failed* rows count judgements that ended without a "
        "finite score after retries (timeouts, unparseable or truncated judge output, NaN); they are "
        "not in the means.",
        "",
        "| metric | | " + " | ".join(setups) + " |",
        "|---|---|" + "---|" * len(setups),
    ]
    rows = {r.key: r for r in [*JUDGE_ROWS, *SCORE_ROWS, REFUSAL_BALANCED]}
    for key, per_setup in table.items():
        row = rows[key]
        cells = [per_setup[s].format(row.digits) for s in setups]
        lines.append(f"| {row.label} | {_arrow(row)} | " + " | ".join(cells) + " |")
        if row in JUDGE_ROWS:
            counts = [_judgement_counts(records, s, key) for s in setups]
            lines.append(f"| {row.label}: failed | ↓ | " + " | ".join(str(c[0]) for c in counts) + " |")
            lines.append(f"| {row.label}: not applicable | | " + " | ".join(str(c[2]) for c in counts) + " |")
    errors = [sum(1 for r in records if r["setup"] == s and r.get("error")) for s in setups]
    lines.append("| Answers failed (service error) | ↓ | " + " | ".join(str(e) for e in errors) + " |")
    lines += _failure_details(records)
    lines += _benchmark_sections(results.get("benchmarks", {}))
    return "\n".join(lines) + "\n"


def _failure_details(records: list[dict[str, Any]], limit: int = 20) -> list[str]:
    failures = [
        (r["setup"], r["question_id"], metric, j["error"])
        for r in records
        for metric, j in r.get("judgements", {}).items()
        if j.get("error")
    ]
    if not failures:
        return []
    lines = ["", f"## Failed judgements ({len(failures)})", "", "| set-up | question | metric | reason |", "|---|---|---|---|"]
    for setup, qid, metric, error in failures[:limit]:
        reason = error.replace("|", "\\|").replace("\n", " ")[:160]
        lines.append(f"| {setup} | {qid} | {metric} | {reason} |")
    if len(failures) > limit:
        lines.append(f"| … | | | {len(failures) - limit} more in per_question.jsonl |")
    return lines


def _benchmark_sections(benchmarks: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    medqa = benchmarks.get("normedqa")
    if medqa:
        lines += [
            "",
            f"## NorMedQA (closed book, {medqa['items']} items, {medqa['seconds']} s)",
            "",
            "Accuracy by option log-likelihood with a Wilson 95 % interval. *norm* (primary) divides "
            "an option's log-likelihood by its length in characters; *sum* does not and favours short options.",
            "",
            "| model | accuracy (norm, primary) | accuracy (sum) | skipped: one option | skipped: too long | note |",
            "|---|---|---|---|---|---|",
        ]
        for m in medqa["models"]:
            norm, total = Estimate(**m["accuracy_norm"]), Estimate(**m["accuracy_sum"])
            lines.append(
                f"| {m['model']} | {norm.format()} | {total.format()} | {m['skipped_single_option']} | "
                f"{m['skipped_too_long']} | {m['skipped_backend']} |"
            )
    quad = benchmarks.get("norquad")
    if quad:
        lines += [
            "",
            f"## NorQuAD retrieval ({quad['split']} split, {quad['questions']} questions, {quad['seconds']} s)",
            "",
            "| embedder | " + " | ".join(quad["embedders"][0]["scores"]) + " |" if quad["embedders"] else "",
            "|---|" + "---|" * (len(quad["embedders"][0]["scores"]) if quad["embedders"] else 0),
        ]
        for e in quad["embedders"]:
            lines.append(f"| {e['name']} | " + " | ".join(Estimate(**v).format() for v in e["scores"].values()) + " |")
    return lines


def _flat_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for r in records:
        row = {
            "setup": r["setup"],
            "question_id": r["question_id"],
            "language": r["language"],
            "answerable": r["answerable"],
            "question": r["question"],
            "refused": r.get("refused"),
            "refusal_reason": r.get("refusal_reason", ""),
            "answer": r.get("answer", ""),
            "raw_text": r.get("raw_text", ""),
            "error": r.get("error", ""),
            "retrieved_doc_ids": " ".join(p["doc_id"] for p in r.get("retrieved", [])),
            "contexts": CONTEXT_SEPARATOR.join(p["text"] for p in r.get("retrieved", [])),
            "citations": " ".join(f"[{c['number']}]={c['doc_id']}" for c in r.get("citations", [])),
            "source_doc_ids": " ".join(r["source_doc_ids"]),
        }
        row.update({k: v for k, v in r.get("scores", {}).items()})
        for metric, j in r.get("judgements", {}).items():
            row[metric] = j.get("value")
            row[f"{metric}_error"] = j.get("error", "")
        rows.append(row)
    return rows


def _write_per_question(run_dir: Path, records: list[dict[str, Any]]) -> None:
    with (run_dir / "per_question.jsonl").open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    rows = _flat_rows(records)
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    with (run_dir / "per_question.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def render(run_dir: Path) -> Path:
    """(Re)write every report file of a run from its results.json."""
    from eval import plots

    results = load_results(run_dir)
    table = estimates(results)
    (run_dir / "summary.md").write_text(_summary_markdown(results, table), encoding="utf-8")
    _write_per_question(run_dir, results["records"])
    rows = {r.key: r for r in [*JUDGE_ROWS, *SCORE_ROWS, REFUSAL_BALANCED]}
    plots.render_all(run_dir / "plots", results, table, {k: rows[k].label for k in table})
    (run_dir / "run.json").write_text(json.dumps(results["run"], ensure_ascii=False, indent=2), encoding="utf-8")
    return run_dir / "summary.md"
