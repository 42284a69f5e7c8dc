"""The report folder of a run, rendered from its results.json:

- summary.md: one table per theme (what was shown, content and verification,
  the RAGAS judge, the answerability gate, retrieval and citations, latency),
  set-ups as columns; each cell the mean with a 95 % interval and n; failed
  judgements counted per metric; paired differences between set-ups (A − B per
  question, bootstrap interval) with a verdict in words, or why there is none
- per_question.jsonl / per_question.csv: answers, contexts, citations, scores
- plots/*.png: a bar chart per metric (n and failures under each bar), what
  was shown per set-up, the paired differences, faithfulness against latency
- run.json: config, machine, date, git commit, phase timings, judge calls
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.metrics import QUOTE_REASONS
from eval.records import record_outcome
from eval.stats import (
    MIN_ITEMS_FOR_VERDICT,
    Estimate,
    bootstrap_mean,
    bootstrap_mean_of_means,
    paired_difference,
    verdict,
    wilson_interval,
)

RESULTS_FILE = "results.json"
CONTEXT_SEPARATOR = "\n---\n"


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    higher_is_better: bool | None = True
    digits: int = 2
    # A share of yes/no outcomes: a Wilson interval (sound near 0 and 1 and at
    # small n, where a bootstrap of identical values gives a zero-width interval).
    proportion: bool = False


JUDGE_ROWS = [
    Row("faithfulness", "Faithfulness (RAGAS)"),
    Row("answer_relevancy", "Answer relevancy (RAGAS)"),
    Row("context_precision", "Context precision (RAGAS)"),
    Row("context_recall", "Context recall (RAGAS)"),
]
OUTCOME_ROWS = [
    Row("outcome_generated", "Shown: generated answer", None, proportion=True),
    Row("outcome_quote", "Shown: quote answer (sitatsvar)", None, proportion=True),
    *[Row(f"quote_{reason}", f"… quote because: {reason}", None, proportion=True) for reason in QUOTE_REASONS],
    Row("quote_other", "… quote because: other", None, proportion=True),
    Row("outcome_refusal", "Shown: refusal", None, proportion=True),
    Row("refused_when_unanswerable", "Refused when unanswerable", proportion=True),
    Row("answered_when_answerable", "Answered when answerable (generated or quote)", proportion=True),
]
REFUSAL_BALANCED = Row("refusal_balanced", "Refusal accuracy (mean of the two rates)")
CONTENT_ROWS = [
    Row("key_fact_recall", "Key-fact recall (shown text)"),
    Row("key_fact_any", "At least one key fact shown", proportion=True),
    Row("key_fact_recall_answered", "Key-fact recall of answers (refusals left out)"),
    Row("supported_share", "Shown sentences supported (verified)"),
    Row("unverified_shown", "Unverified sentences shown (marked) per answer", False),
    Row("removed_sentences", "Model sentences removed per answer", None),
]
GATE_ROWS = [
    Row("gate_ran", "Gate ran (share of questions)", None, proportion=True),
    Row("gate_refused_unanswerable", "Gate said no: unanswerable questions", proportion=True),
    Row("gate_refused_answerable", "Gate said no: answerable questions (false refusals)", False, proportion=True),
    Row("gate_failed", "Gate failed (no verdict; the answer went ahead)", False, proportion=True),
    Row("gate_tokens", "Gate tokens per question (prompt + completion)", False, digits=0),
    Row("gate_ms", "Gate time per question (ms)", False, digits=0),
]
CITATION_ROWS = [
    Row("mrr", "Retrieval MRR"),
    Row("citation_validity", "Citation validity (raw model text)"),
    Row("citation_precision", "Citation precision (key facts)"),
    Row("removed_citations", "Invented citations removed per answer", higher_is_better=False),
]
LATENCY_ROWS = [
    Row("first_token_ms", "Time to first token (ms)", higher_is_better=False, digits=0),
    Row("tokens_per_s", "Tokens per second", digits=1),
    Row("verification_ms", "Verification time per generated answer (ms)", higher_is_better=False, digits=0),
    Row("quote_ms", "Quote selection time per quote answer (ms)", higher_is_better=False, digits=0),
    Row("total_ms", "Total time per answer (ms)", higher_is_better=False, digits=0),
]
# Compared question by question between set-ups (A − B).
PAIRED_KEYS = [
    "key_fact_recall",
    "key_fact_recall_answered",
    "supported_share",
    "answered_when_answerable",
    "refused_when_unanswerable",
    "faithfulness",
    "answer_relevancy",
    "total_ms",
]


def hit_rows(results: dict[str, Any]) -> list[Row]:
    ks = results["run"]["config"].get("hit_ks") or [1, 3, 5]
    return [Row(f"hit@{k}", f"Retrieval hit@{k}", proportion=True) for k in ks]


def all_rows(results: dict[str, Any]) -> dict[str, Row]:
    rows = [*JUDGE_ROWS, *OUTCOME_ROWS, REFUSAL_BALANCED, *CONTENT_ROWS, *GATE_ROWS, *hit_rows(results)]
    rows += [*CITATION_ROWS, *LATENCY_ROWS]
    return {row.key: row for row in rows}


def load_results(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / RESULTS_FILE).read_text(encoding="utf-8"))


def _value(record: dict[str, Any], key: str, judged: bool) -> float | None:
    if judged:
        value = record.get("judgements", {}).get(key, {}).get("value")
    else:
        value = record.get("scores", {}).get(key)
    return float(value) if value is not None and math.isfinite(value) else None


def values_by_question(records: list[dict[str, Any]], setup: str, key: str, judged: bool) -> dict[str, float]:
    """question id -> finite value of one metric for one set-up."""
    out = {}
    for record in records:
        if record["setup"] == setup and (value := _value(record, key, judged)) is not None:
            out[record["question_id"]] = value
    return out


def _values(records: list[dict[str, Any]], setup: str, key: str, judged: bool) -> list[float]:
    return list(values_by_question(records, setup, key, judged).values())


def judgement_counts(records: list[dict[str, Any]], setup: str, metric: str) -> tuple[int, int, int]:
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


def _estimate(values: list[float], row: Row, seed: int, resamples: int) -> Estimate:
    if row.proportion:
        return wilson_interval(round(sum(values)), len(values))
    return bootstrap_mean(values, seed=seed, resamples=resamples)


def estimates(results: dict[str, Any]) -> dict[str, dict[str, Estimate]]:
    """metric key -> set-up -> estimate, for every row that has any value
    (judge rows always, when the metric was asked for)."""
    records = results["records"]
    seed = results["run"]["config"].get("seed", 42)
    resamples = results["run"]["config"].get("bootstrap_resamples", 2000)
    judge_keys = {row.key for row in JUDGE_ROWS}
    table: dict[str, dict[str, Estimate]] = {}
    for key, row in all_rows(results).items():
        if key == REFUSAL_BALANCED.key:
            continue
        judged = key in judge_keys
        if judged and key not in results.get("judge_metrics", []):
            continue
        per_setup = {s: _estimate(_values(records, s, key, judged), row, seed, resamples) for s in results["setups"]}
        if any(e.n for e in per_setup.values()) or judged:
            table[key] = per_setup
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


@dataclass(frozen=True)
class PairedRow:
    key: str
    label: str
    a: str
    b: str
    difference: Estimate
    verdict: str
    digits: int


def paired_differences(results: dict[str, Any]) -> list[PairedRow]:
    """A − B per question for every compared pair and paired metric that
    either set-up has values for."""
    records = results["records"]
    seed = results["run"]["config"].get("seed", 42)
    resamples = results["run"]["config"].get("bootstrap_resamples", 2000)
    setups = results["setups"]
    pairs = results.get("comparisons") or [[a, b] for i, a in enumerate(setups) for b in setups[i + 1 :]]
    rows = all_rows(results)
    judge_keys = {row.key for row in JUDGE_ROWS}
    out = []
    for a, b in pairs:
        for key in PAIRED_KEYS:
            judged = key in judge_keys
            if judged and key not in results.get("judge_metrics", []):
                continue
            values_a = values_by_question(records, a, key, judged)
            values_b = values_by_question(records, b, key, judged)
            if not values_a and not values_b:
                continue
            difference = paired_difference(values_a, values_b, seed=seed, resamples=resamples)  # type: ignore[arg-type]
            row = rows[key]
            out.append(PairedRow(key, row.label, a, b, difference, verdict(difference, row.higher_is_better, a, b), row.digits))
    return out


def _arrow(row: Row) -> str:
    return {True: "↑", False: "↓", None: ""}[row.higher_is_better]


def _signed(estimate: Estimate, digits: int) -> str:
    if estimate.n == 0:
        return "–"
    return f"{estimate.mean:+.{digits}f} [{estimate.low:+.{digits}f}, {estimate.high:+.{digits}f}] n={estimate.n}"


def _table(rows: list[Row], table: dict[str, dict[str, Estimate]], setups: list[str]) -> list[str]:
    lines = ["| metric | | " + " | ".join(setups) + " |", "|---|---|" + "---|" * len(setups)]
    for row in rows:
        if row.key in table:
            cells = [table[row.key][s].format(row.digits) for s in setups]
            lines.append(f"| {row.label} | {_arrow(row)} | " + " | ".join(cells) + " |")
    return lines


def _count_row(label: str, counts: list[int]) -> str:
    return f"| {label} | ↓ | " + " | ".join(str(c) for c in counts) + " |"


def _setup_lines(results: dict[str, Any]) -> list[str]:
    info = results.get("setup_info") or {}
    lines = []
    for setup in results["setups"]:
        described = info.get(setup)
        if not described:
            lines.append(f"- **{setup}**")
            continue
        keep = "kept and marked" if described.get("keep_unverified_sentences") else "removed"
        backend = "" if described["model"].startswith("none") else f" ({described['backend']})"
        lines.append(
            f"- **{setup}**: model {described['model']}{backend}, answer mode "
            f"`{described.get('answer_mode')}`, answerability gate `{described.get('answerability_gate')}`, "
            f"unverified sentences {keep}"
        )
    return lines


def _summary_markdown(results: dict[str, Any], table: dict[str, dict[str, Estimate]]) -> str:
    run = results["run"]
    setups = results["setups"]
    records = results["records"]
    rows = all_rows(results)
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
        "Set-ups:",
        "",
        *_setup_lines(results),
        "",
        "Each cell: mean [95 % interval] n = questions the metric applies to. Shares of yes/no outcomes "
        "have a Wilson interval, other means a bootstrap interval. ↑ higher is better, ↓ lower is better. "
        f"A cell with n < {MIN_ITEMS_FOR_VERDICT} is an example, not a measurement (see *No verdict* below).",
        "",
        "## What the user was shown",
        "",
        *_table(OUTCOME_ROWS + [REFUSAL_BALANCED], _nonzero(table, OUTCOME_ROWS), setups),
    ]
    errors = [sum(1 for r in records if r["setup"] == s and r.get("error")) for s in setups]
    lines.append(_count_row("Answers failed (service error)", errors))

    content = _table(CONTENT_ROWS, table, setups)
    if "supported_share" in table or "key_fact_recall" in table:
        pills = [
            sum(int(r.get("scores", {}).get("unsupported_pills") or 0) for r in records if r["setup"] == s) for s in setups
        ]
        lines += ["", "## Content: key facts and verification", "", *content]
        if "supported_share" in table:
            lines.append(_count_row("Citation pills on unsupported sentences (total; must be 0)", pills))

    judged = [row for row in JUDGE_ROWS if row.key in table]
    if judged:
        lines += [
            "",
            "## Judged by the RAGAS judge",
            "",
            "*failed* rows count judgements that ended without a finite score after retries (timeouts, "
            "unparseable or truncated judge output, NaN); they are not in the means.",
            "",
            *_table(judged, table, setups)[:2],
        ]
        for row in judged:
            lines += _table([row], table, setups)[2:]
            counts = [judgement_counts(records, s, row.key) for s in setups]
            lines.append(_count_row(f"{row.label}: failed", [c[0] for c in counts]))
            lines.append(f"| {row.label}: not applicable | | " + " | ".join(str(c[2]) for c in counts) + " |")

    lines += _gate_section(results, table)

    retrieval = [row for row in [*hit_rows(results), *CITATION_ROWS] if row.key in table]
    if retrieval:
        lines += ["", "## Retrieval and citations", "", *_table(retrieval, table, setups)]
    latency = [row for row in LATENCY_ROWS if row.key in table]
    if latency:
        lines += ["", "## Latency", "", *_table(latency, table, setups)]

    lines += _paired_section(paired_differences(results))
    lines += _no_verdict_section(results, table, rows)
    lines += _failure_details(records)
    lines += _benchmark_sections(results.get("benchmarks", {}))
    return "\n".join(lines) + "\n"


def _nonzero(table: dict[str, dict[str, Estimate]], rows: list[Row]) -> dict[str, dict[str, Estimate]]:
    """The table without quote-reason rows that are 0 for every set-up."""
    reasons = {row.key for row in rows if row.key.startswith("quote_")}
    return {
        key: per_setup
        for key, per_setup in table.items()
        if key not in reasons or any(e.n and e.mean > 0 for e in per_setup.values())
    }


def _gate_section(results: dict[str, Any], table: dict[str, dict[str, Estimate]]) -> list[str]:
    if "gate_ran" not in table:
        return []
    lines = ["", "## Answerability gate", ""]
    ran = table["gate_ran"]
    if not any(e.n and e.mean > 0 for e in ran.values()):
        return [*lines, "The gate did not run for any question in any set-up (off, or the relevance floor refused first)."]
    lines += [
        "The model states (JSON) whether the numbered sources answer the question; a *no* becomes a refusal. "
        "Rates are over the questions the gate judged (it does not run when the relevance floor refuses "
        "first; failed verdicts are counted apart). Its end-to-end effect on refusals is the paired "
        "difference between a set-up with the gate and the same model without it (below).",
        "",
        *_table([row for row in GATE_ROWS if row.key in table], table, results["setups"]),
    ]
    return lines


def _paired_section(paired: list[PairedRow]) -> list[str]:
    if not paired:
        return []
    lines = [
        "",
        "## Paired differences between set-ups (A − B per question)",
        "",
        "The mean of A − B over the questions both set-ups have a value for (both answered, or both "
        "judged), with a bootstrap 95 % interval of that mean. A verdict needs "
        f"n ≥ {MIN_ITEMS_FOR_VERDICT} and an interval that excludes 0.",
        "",
        "| metric | A − B | difference | verdict |",
        "|---|---|---|---|",
    ]
    for row in paired:
        lines.append(f"| {row.label} | {row.a} − {row.b} | {_signed(row.difference, row.digits)} | {row.verdict} |")
    return lines


def _no_verdict_section(results: dict[str, Any], table: dict[str, dict[str, Estimate]], rows: dict[str, Row]) -> list[str]:
    """In words: where the data give no verdict for a set-up."""
    notes = []
    records = results["records"]
    for setup in results["setups"]:
        few = [
            f"{rows[key].label} (n={table[key][setup].n})"
            for key in _MEASURES
            if key in table and 0 < table[key][setup].n < MIN_ITEMS_FOR_VERDICT
        ]
        if few:
            notes.append(f"- **{setup}**: fewer than {MIN_ITEMS_FOR_VERDICT} values for " + ", ".join(few) + ".")
        for row in JUDGE_ROWS:
            if row.key not in table:
                continue
            failed, scored, _ = judgement_counts(records, setup, row.key)
            if failed and failed >= scored:
                notes.append(
                    f"- **{setup}**: {row.label} failed {failed} times and scored {scored}: "
                    "its mean does not measure this set-up."
                )
    if not notes:
        return []
    return ["", "## No verdict", "", "Where the data are too few to read a difference or a level from:", "", *notes]


# The rows a reader draws conclusions from: the no-verdict notes name these.
_MEASURES = [
    *[row.key for row in JUDGE_ROWS],
    "key_fact_recall",
    "supported_share",
    "refused_when_unanswerable",
    "answered_when_answerable",
    "gate_refused_unanswerable",
    "gate_refused_answerable",
]


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
            "an option's log-likelihood by its length in characters; *sum* does not and favours short options. "
            "Set-ups that share a model are scored once (names joined by =).",
        ]
        if medqa.get("not_scored_quote_mode"):
            lines.append(f"Not scored (quote mode uses no model): {', '.join(medqa['not_scored_quote_mode'])}.")
        lines += [
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
        gate = r.get("gate") or {}
        sentences = r.get("sentences") or []
        row = {
            "setup": r["setup"],
            "question_id": r["question_id"],
            "language": r["language"],
            "answerable": r["answerable"],
            "question": r["question"],
            "outcome": record_outcome(r),
            "refused": r.get("refused"),
            "refusal_reason": r.get("refusal_reason", ""),
            "fallback_reason": r.get("fallback_reason", ""),
            "answer": r.get("answer", ""),
            "raw_text": r.get("raw_text", ""),
            "error": r.get("error", ""),
            "shown_sentences": len(sentences),
            "verified_sentences": sum(1 for s in sentences if s.get("verified")),
            "removed_sentences_text": " | ".join(r.get("removed_sentences") or []),
            "gate_answerable": gate.get("answerable", ""),
            "gate_error": gate.get("error", ""),
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


def failures_per_setup(results: dict[str, Any], key: str) -> dict[str, int]:
    """What a plot shows under each bar besides n: failed judgements of a
    judge metric, else answers that failed (service errors)."""
    records = results["records"]
    if key in {row.key for row in JUDGE_ROWS}:
        return {s: judgement_counts(records, s, key)[0] for s in results["setups"]}
    return {s: sum(1 for r in records if r["setup"] == s and r.get("error")) for s in results["setups"]}


def render(run_dir: Path, *, with_plots: bool = True) -> Path:
    """(Re)write every report file of a run from its results.json."""
    results = load_results(run_dir)
    table = estimates(results)
    (run_dir / "summary.md").write_text(_summary_markdown(results, table), encoding="utf-8")
    _write_per_question(run_dir, results["records"])
    (run_dir / "run.json").write_text(json.dumps(results["run"], ensure_ascii=False, indent=2), encoding="utf-8")
    if not with_plots:
        return run_dir / "summary.md"
    from eval import plots

    rows = all_rows(results)
    plots.render_all(
        run_dir / "plots",
        results,
        table,
        {k: rows[k].label for k in table},
        {k: failures_per_setup(results, k) for k in table},
        paired_differences(results),
    )
    return run_dir / "summary.md"
