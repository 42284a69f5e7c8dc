import json

from typer.testing import CliRunner

from eval.cli import app
from tests.eval.test_questions import GOOD

runner = CliRunner()


def test_validate_ok_and_broken(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(GOOD) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(good)])
    assert result.exit_code == 0
    assert "1 spørsmål" in result.output

    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "language": "de"}) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(broken)])
    assert result.exit_code == 1
    assert f"{broken}:2:" in result.output


def test_report_on_a_folder_without_results(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1
    assert "results.json" in result.output


def test_run_with_a_missing_config_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["run", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "Fant ikke evalueringsoppsettet" in result.output
    assert "Traceback" not in result.output
