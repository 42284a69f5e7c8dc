"""The CI run: the whole suite on a small subset (eval/eval.ci.yaml): a quote
set-up and the bundled Gemma 3 270M generating with the answerability gate,
judged by the bundled SmolLM2, checked through its report folder."""

import csv
import json
import re

import pytest
from typer.testing import CliRunner

from eval.cli import app
from eval.config import load_config
from eval.runner import base_settings, index_cache_dir, run
from tests.conftest import REPO, copy_sample_index


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_ci_config_end_to_end(tmp_path, monkeypatch, sample_index):
    monkeypatch.chdir(REPO)  # the config's paths are relative to the repository root
    config = load_config(REPO / "eval" / "eval.ci.yaml")
    if not config.questions.exists():
        pytest.fail(f"{config.questions} is missing (the gold question set)")
    config = config.model_copy(update={"output_dir": tmp_path / "runs", "cache_dir": tmp_path / "cache"})
    # The suite embeds the sample corpus once; the run's own ingest finds every file unchanged.
    copy_sample_index(sample_index, index_cache_dir(config, base_settings(config)))

    run_dir = run(config)

    summary = (run_dir / "summary.md").read_text(encoding="utf-8")
    setups = [s.name for s in config.setups]
    assert f"| metric | | {' | '.join(setups)} |" in summary
    for metric in ("Faithfulness", "Answer relevancy", "Context precision", "Context recall"):
        failed = re.search(rf"^\| {metric} \(RAGAS\): failed \| ↓ \| (.+) \|$", summary, re.MULTILINE)
        assert failed, f"no failed-judgements row for {metric}"
        assert all(cell.strip().isdigit() for cell in failed.group(1).split("|"))
    for row in ("Shown: quote answer (sitatsvar)", "Key-fact recall (shown text)", "Retrieval hit@1"):
        assert re.search(rf"^\| {re.escape(row)} \|", summary, re.MULTILINE), row
    assert "## Paired differences between set-ups (A − B per question)" in summary
    assert re.search(r"^\| Key-fact recall \(shown text\) \| sitat − gemma3-270m-gate \| .+ \| (no verdict|no difference)", summary, re.MULTILINE)
    assert "## Answerability gate" in summary
    # Four questions are too few for any verdict, and the report says so.
    assert "## No verdict" in summary
    assert f"## NorMedQA (closed book, {config.limits.normedqa} items" in summary
    assert "Not scored (quote mode uses no model): sitat." in summary
    assert "## NorQuAD retrieval (test split, 50 questions" in summary

    records = [json.loads(line) for line in (run_dir / "per_question.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == len(config.question_ids) * len(setups)
    quotes = [r for r in records if r["setup"] == "sitat"]
    assert {r["outcome"] for r in quotes} <= {"quote", "refusal"} and any(r["outcome"] == "quote" for r in quotes)
    assert all(r["fallback_reason"] == "quote_mode" for r in quotes if r["outcome"] == "quote")
    generated = [r for r in records if r["setup"] == "gemma3-270m-gate"]
    assert any(r["gate"] is not None for r in generated), "the gate never ran"
    # The trust layer's promise, end to end: no citation pill on a sentence its passage does not support.
    for r in records:
        for sentence in r.get("sentences") or []:
            assert sentence["verified"] or not sentence["citations"], (r["setup"], r["question_id"], sentence)
    judged = [j for r in records for j in r.get("judgements", {}).values()]
    assert judged, "no judgements recorded"
    # Every judgement ends as a score, a counted failure or "not applicable": none is lost.
    for judgement in judged:
        assert (judgement["value"] is not None) + bool(judgement["error"]) + bool(judgement["not_applicable"]) == 1
    with (run_dir / "per_question.csv").open(encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == len(records)
    plots = ("faithfulness.png", "faithfulness_vs_latency.png", "normedqa_accuracy.png", "hit_1.png", "outcomes.png", "paired_differences.png")
    for plot in plots:
        assert (run_dir / "plots" / plot).read_bytes().startswith(b"\x89PNG")

    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert info["index"]["unchanged"] == info["index"]["files"] > 0 and not info["index"]["indexed"]
    assert info["judge"]["calls"] > 0 and info["phases"]["total_s"] > 0
    assert len(list((tmp_path / "cache" / "answers").rglob("*.json"))) == len(records)

    # The report re-renders from the run folder alone.
    (run_dir / "summary.md").unlink()
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0 and (run_dir / "summary.md").exists()
