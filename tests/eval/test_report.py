"""Report rendering from a hand-made results.json: the table, the failure
counts, the per-question files and the plots."""

import csv
import json

from eval import report
from eval.records import judge_free_scores


def _record(setup, qid, answerable, refused, faith, faith_error="", latency=1200.0):
    record = {
        "setup": setup,
        "question_id": qid,
        "question": f"Spørsmål {qid}?",
        "language": "nb",
        "topic": "",
        "answerable": answerable,
        "reference_answer": "SpO2 88–92 %." if answerable else "",
        "key_facts": ["88–92 %"] if answerable else [],
        "source_doc_ids": ["file:a.md"] if answerable else [],
        "error": "",
        "answer": "Målet er 88–92 % [1]." if not refused else "Jeg fant ikke svaret.",
        "raw_text": "Målet er 88–92 % [1] [4]." if not refused else "",
        "refused": refused,
        "refusal_reason": "no_relevant_sources" if refused else "",
        "retrieved": [
            {"doc_id": "file:b.md", "chunk_id": "2", "title": "B", "score": 0.5, "relevance": 0.5, "text": "Noe annet."},
            {"doc_id": "file:a.md", "chunk_id": "1", "title": "A", "score": 0.4, "relevance": 0.4, "text": "Mål 88–92 %."},
        ],
        "citations": [] if refused else [{"number": 1, "doc_id": "file:a.md", "title": "A", "support": 1.0, "text": "Mål 88–92 %."}],
        "removed_citations": [] if refused else [4],
        "uncited_sentences": [],
        "timings": {"first_token_ms": None if refused else 300.0, "tokens_per_s": None if refused else 20.0, "total_ms": latency},
        "judgements": {
            "faithfulness": {"metric": "faithfulness", "value": faith, "error": faith_error, "not_applicable": "refused" if refused else ""},
        },
    }
    record["scores"] = judge_free_scores(record, [1, 3], ["retrieval", "citations", "refusal", "correctness", "latency"])
    return record


def make_results(tmp_path):
    records = [
        _record("norsk", "q1", True, False, 0.8),
        _record("norsk", "q2", True, False, None, faith_error="JudgeOutputError: score is NaN"),
        _record("norsk", "q3", False, True, None),
        _record("generisk", "q1", True, False, 0.4, latency=800.0),
        _record("generisk", "q2", True, False, None, faith_error="TimeoutError: "),
        _record("generisk", "q3", False, False, 0.2, latency=900.0),
    ]
    results = {
        "run": {
            "name": "test",
            "date": "2026-01-01T00:00:00+00:00",
            "git_commit": "",
            "machine": {},
            "config": {"seed": 1, "bootstrap_resamples": 200},
            "questions_file": "gold.jsonl",
            "questions": 3,
            "index": {},
            "phases": {"total_s": 1.0},
            "judge": {"judge": "dommer", "calls": 7, "seconds": 3.0},
        },
        "setups": ["norsk", "generisk"],
        "judge_metrics": ["faithfulness"],
        "records": records,
        "benchmarks": {
            "normedqa": {
                "items": 3, "primary": "norm", "seconds": 1.0,
                "models": [{"model": "norsk", "accuracy_norm": {"mean": 0.5, "low": 0.1, "high": 0.9, "n": 2},
                            "accuracy_sum": {"mean": 0.0, "low": 0.0, "high": 0.6, "n": 2},
                            "scored": 2, "skipped_single_option": 1, "skipped_too_long": 0, "skipped_backend": "", "items": []}],
            },
        },
    }  # fmt: skip
    (tmp_path / report.RESULTS_FILE).write_text(json.dumps(results), encoding="utf-8")
    return results


def test_summary_table_counts_failures_and_reports_intervals(tmp_path):
    make_results(tmp_path)
    summary = report.render(tmp_path).read_text(encoding="utf-8")
    lines = summary.splitlines()
    assert "| metric | | norsk | generisk |" in lines
    faith = next(line for line in lines if line.startswith("| Faithfulness (RAGAS) |"))
    assert "0.80 [0.80, 0.80] n=1" in faith
    failed = next(line for line in lines if line.startswith("| Faithfulness (RAGAS): failed |"))
    assert failed.split("|")[3:5] == [" 1 ", " 1 "]
    not_applicable = next(line for line in lines if "Faithfulness (RAGAS): not applicable" in line)
    assert not_applicable.split("|")[3:5] == [" 1 ", " 0 "]
    # The raw text cites [1] and [4] with two sources: validity 0.5 for each answered question.
    validity = next(line for line in lines if line.startswith("| Citation validity"))
    assert "0.50 [0.50, 0.50] n=2" in validity
    refusal = next(line for line in lines if line.startswith("| Refusal accuracy"))
    assert "1.00" in refusal.split("|")[3] and "0.50" in refusal.split("|")[4]
    assert "## Failed judgements (2)" in summary
    assert "TimeoutError" in summary
    assert "## NorMedQA" in summary and "| norsk | 0.50 [0.10, 0.90] n=2 |" in summary


def test_per_question_files_and_plots(tmp_path):
    results = make_results(tmp_path)
    report.render(tmp_path)
    jsonl = (tmp_path / "per_question.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(jsonl) == len(results["records"])
    with (tmp_path / "per_question.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6
    assert rows[1]["faithfulness_error"].startswith("JudgeOutputError")
    assert rows[0]["contexts"].count(report.CONTEXT_SEPARATOR.strip()) == 1
    plots = tmp_path / "plots"
    for name in ("faithfulness.png", "faithfulness_vs_latency.png", "citation_validity.png", "normedqa_accuracy.png"):
        data = (plots / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 1000
    run = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert run["judge"]["calls"] == 7
