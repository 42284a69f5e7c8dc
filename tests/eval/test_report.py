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
    summary = report.render(tmp_path, with_plots=False).read_text(encoding="utf-8")
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


# --- set-ups that differ in how they answer (records in the service's shape) ---

from tests.eval.handmade import answer, gate, judged, question, record, sentence  # noqa: E402

Q1 = question("q1", ["88–92 %", "30–60 minutter"])
Q2 = question("q2", ["innen 1 time"])
Q3 = question("q3", [])
Q4 = question("q4", ["8. time"])
Q5 = question("q5", [])


def _quote(*texts, reason="quote_mode"):
    return answer("quote", [sentence(t, True, [1], quote=True) for t in texts], fallback=reason, total_ms=100.0)


def setups_results(tmp_path):
    """`modell` generates with the gate on, `sitat` quotes. By hand:

    modell: q1 generated (1 of 2 key facts, 1 of 2 sentences verified), q2 quote after
    failed verification (all facts), q3 refused by the gate (unanswerable), q4 refused
    by the gate (answerable: a false refusal), q5 refused by the relevance floor.
    sitat: quotes for q1-q4 with every key fact, q5 refused by the floor."""
    modell = [
        record("modell", Q1, answer("generated", [sentence("Målet er SpO2 88–92 %.", True, [1]), sentence("Gi oksygen.", False)],
                                    removed=["Gi 1 g paracetamol."], raw_text="…", verdict=gate(True, 300, 10, 800.0)),
               {"faithfulness": judged(0.8)}),
        record("modell", Q2, answer("quote", [sentence("Antibiotika innen 1 time.", True, [1], quote=True)], fallback="not_verified",
                                    removed=["x", "y"], raw_text="…", verdict=gate(True, 400, 8, 1000.0)),
               {"faithfulness": judged(None, error="TimeoutError: ")}),
        record("modell", Q3, answer("refusal", verdict=gate(False, 200, 6, 600.0)), {"faithfulness": judged(None, not_applicable="refused")}),
        record("modell", Q4, answer("refusal", verdict=gate(False, 250, 6, 700.0)), {"faithfulness": judged(None, not_applicable="refused")}),
        record("modell", Q5, answer("refusal"), {"faithfulness": judged(None, not_applicable="refused")}),
    ]  # fmt: skip
    sitat = [
        record("sitat", Q1, _quote("Mål: SpO2 88–92 %.", "Ny blodgass etter 30–60 minutter."), {"faithfulness": judged(1.0)}),
        record("sitat", Q2, _quote("Antibiotika innen 1 time."), {"faithfulness": judged(1.0)}),
        record("sitat", Q3, _quote("Noe nær."), {"faithfulness": judged(0.9)}),
        record("sitat", Q4, _quote("PVK inspiseres minst hver 8. time."), {"faithfulness": judged(None, error="JudgeOutputError: NaN")}),
        record("sitat", Q5, answer("refusal"), {"faithfulness": judged(None, not_applicable="refused")}),
    ]  # fmt: skip
    results = {
        "run": {
            "name": "oppsett", "date": "2026-01-01T00:00:00+00:00", "git_commit": "", "machine": {},
            "config": {"seed": 1, "bootstrap_resamples": 500, "hit_ks": [1, 3]}, "questions_file": "gold.jsonl",
            "questions": 5, "index": {}, "phases": {"total_s": 1.0}, "judge": {"judge": "dommer", "calls": 3, "seconds": 1.0},
        },
        "setups": ["modell", "sitat"],
        "setup_info": {
            "modell": {"model": "m.gguf", "backend": "llamacpp", "answer_mode": "generate", "answerability_gate": "on", "keep_unverified_sentences": True},
            "sitat": {"model": "m.gguf", "backend": "llamacpp", "answer_mode": "quote", "answerability_gate": "off", "keep_unverified_sentences": False},
        },
        "comparisons": [["modell", "sitat"]],
        "judge_metrics": ["faithfulness"],
        "records": modell + sitat,
        "benchmarks": {},
    }  # fmt: skip
    (tmp_path / report.RESULTS_FILE).write_text(json.dumps(results), encoding="utf-8")
    return results


def _cells(summary, label):
    line = next(line for line in summary.splitlines() if line.startswith(f"| {label} |"))
    return [cell.strip() for cell in line.split("|")[3:-1]]


def test_what_was_shown_per_setup_with_wilson_intervals(tmp_path):
    setups_results(tmp_path)
    summary = report.render(tmp_path, with_plots=False).read_text(encoding="utf-8")
    assert "- **modell**: model m.gguf (llamacpp), answer mode `generate`, answerability gate `on`" in summary
    # modell: 1 of 5 generated (Wilson 95 %: 0.036-0.624), 1 quote, 3 refusals; sitat: 4 quotes, 1 refusal.
    assert _cells(summary, "Shown: generated answer") == ["0.20 [0.04, 0.62] n=5", "0.00 [0.00, 0.43] n=5"]
    assert _cells(summary, "Shown: refusal")[0].startswith("0.60 ")
    assert _cells(summary, "… quote because: not_verified")[0].startswith("0.20 ")
    assert _cells(summary, "… quote because: quote_mode")[1].startswith("0.80 ")
    assert "… quote because: off_topic" not in summary  # zero everywhere: left out
    # Refusals: modell refused both unanswerable questions (2/2), answered 2 of 3 answerable.
    assert _cells(summary, "Refused when unanswerable")[0].startswith("1.00 ")
    assert _cells(summary, "Refused when unanswerable")[1].startswith("0.50 ")
    assert _cells(summary, "Answered when answerable (generated or quote)")[0].startswith("0.67 ")


def test_content_rows_key_fact_recall_and_supported_share(tmp_path):
    setups_results(tmp_path)
    summary = report.render(tmp_path, with_plots=False).read_text(encoding="utf-8")
    # modell: recall q1 0.5, q2 1, q4 0 (refused) -> 0.50 n=3; sitat: 1, 1, 1 -> 1.00 n=3.
    assert _cells(summary, "Key-fact recall (shown text)")[0].startswith("0.50 ")
    assert _cells(summary, "Key-fact recall (shown text)")[1] == "1.00 [1.00, 1.00] n=3"
    # Answers only: modell's q4 was refused and is left out: (0.5 + 1) / 2 = 0.75 over 2.
    assert _cells(summary, "Key-fact recall of answers (refusals left out)")[0].startswith("0.75 ")
    assert _cells(summary, "Key-fact recall of answers (refusals left out)")[0].endswith(" n=2")
    # modell: supported q1 0.5, q2 1 -> 0.75 n=2; sitat: 4 answers, all verified.
    assert _cells(summary, "Shown sentences supported (verified)")[0].startswith("0.75 ")
    assert _cells(summary, "Shown sentences supported (verified)")[1] == "1.00 [1.00, 1.00] n=4"
    assert _cells(summary, "Citation pills on unsupported sentences (total; must be 0)") == ["0", "0"]


def test_gate_section_rates_tokens_and_time(tmp_path):
    setups_results(tmp_path)
    summary = report.render(tmp_path, with_plots=False).read_text(encoding="utf-8")
    assert "## Answerability gate" in summary
    # It ran for q1-q4 of modell (4/5), never for sitat.
    assert _cells(summary, "Gate ran (share of questions)")[:2] == ["0.80 [0.38, 0.96] n=5", "0.00 [0.00, 0.43] n=5"]
    # Said no to the one unanswerable question it judged (Wilson 1/1: 0.21-1.00), and to 1 of 3 answerable (0.06-0.79).
    assert _cells(summary, "Gate said no: unanswerable questions")[0] == "1.00 [0.21, 1.00] n=1"
    assert _cells(summary, "Gate said no: answerable questions (false refusals)")[0] == "0.33 [0.06, 0.79] n=3"
    assert _cells(summary, "Gate said no: answerable questions (false refusals)")[1] == "–"
    # Tokens (310 + 408 + 206 + 256) / 4 = 295; time (800 + 1000 + 600 + 700) / 4 = 775 ms.
    assert _cells(summary, "Gate tokens per question (prompt + completion)")[0].startswith("295 [")
    assert _cells(summary, "Gate time per question (ms)")[0].startswith("775 [")


def test_paired_differences_and_no_verdict_in_words(tmp_path):
    setups_results(tmp_path)
    summary = report.render(tmp_path, with_plots=False).read_text(encoding="utf-8")
    assert "## Paired differences between set-ups (A − B per question)" in summary
    # Key-fact recall modell − sitat: q1 0.5 − 1, q2 1 − 1, q4 0 − 1 -> mean −0.50 over 3 pairs.
    line = next(line for line in summary.splitlines() if line.startswith("| Key-fact recall (shown text) | modell − sitat |"))
    assert "-0.50 [" in line and "n=3" in line
    assert "no verdict: too few paired questions (n=3 < 10)" in line
    # Where both answered (q1, q2): 0.5 − 1 and 1 − 1 -> −0.25 over 2 pairs.
    line = next(line for line in summary.splitlines() if line.startswith("| Key-fact recall of answers (refusals left out) | modell − sitat |"))
    assert "-0.25 [" in line and "n=2" in line
    # Faithfulness is paired only where both were judged: q1 (0.8 − 1.0); the failures are left out.
    line = next(line for line in summary.splitlines() if line.startswith("| Faithfulness (RAGAS) | modell − sitat |"))
    assert "-0.20 [-0.20, -0.20] n=1" in line
    # Failures stay counted, and the reader is told where there is no verdict.
    assert _cells(summary, "Faithfulness (RAGAS): failed") == ["1", "1"]
    assert "## No verdict" in summary
    assert "**modell**: Faithfulness (RAGAS) failed 1 times and scored 1" in summary
    assert "fewer than 10 values for" in summary


def test_paired_difference_with_enough_questions_gives_a_verdict(tmp_path):
    # 12 answerable questions: A shows the key fact in all, B in 3 (q0-q2). A − B = 1 on 9 questions,
    # 0 on 3: mean 0.75, and no resample can reach 0, so the verdict is A better.
    golds = [question(f"q{i}", ["innen 1 time"]) for i in range(12)]
    records = [record("A", g, _quote("Antibiotika innen 1 time.")) for g in golds]
    records += [record("B", g, _quote("Antibiotika innen 1 time." if i < 3 else "Annet.")) for i, g in enumerate(golds)]
    results = {
        "run": {"name": "n", "date": "", "git_commit": "", "machine": {}, "config": {"seed": 3, "bootstrap_resamples": 500},
                "questions_file": "g", "questions": 12, "index": {}, "phases": {}, "judge": {}},
        "setups": ["A", "B"], "judge_metrics": [], "records": records, "benchmarks": {},
    }  # fmt: skip
    (tmp_path / report.RESULTS_FILE).write_text(json.dumps(results), encoding="utf-8")
    summary = report.render(tmp_path, with_plots=False).read_text(encoding="utf-8")
    line = next(line for line in summary.splitlines() if line.startswith("| Key-fact recall (shown text) | A − B |"))
    assert "+0.75 [" in line and "n=12" in line and line.endswith("| A better (A higher than B) |")
    line = next(line for line in summary.splitlines() if line.startswith("| Shown sentences supported (verified) | A − B |"))
    assert "no difference on these questions" in line


def test_setup_plots_show_outcomes_and_paired_differences(tmp_path):
    setups_results(tmp_path)
    report.render(tmp_path)
    plots = tmp_path / "plots"
    for name in ("outcomes.png", "paired_differences.png", "key_fact_recall.png", "gate_refused_answerable.png", "faithfulness.png"):
        data = (plots / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 1000
    assert report.failures_per_setup(json.loads((tmp_path / report.RESULTS_FILE).read_text()), "faithfulness") == {"modell": 1, "sitat": 1}
    with (tmp_path / "per_question.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["outcome"] for r in rows[:5]] == ["generated", "quote", "refusal", "refusal", "refusal"]
    assert rows[0]["shown_sentences"] == "2" and rows[0]["verified_sentences"] == "1"
