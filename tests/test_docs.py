"""The README stays true to the code."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_readme_settings_table_matches_the_settings_model():
    from scripts.settings_table import BEGIN, END, table

    readme = (REPO / "README.md").read_text("utf-8")
    assert readme[readme.index(BEGIN) + len(BEGIN) : readme.index(END)].strip() == table().strip(), (
        "README settings table is stale: run python scripts/settings_table.py --write"
    )


def test_readme_starts_with_the_two_commands_ci_uses():
    readme = (REPO / "README.md").read_text("utf-8")
    commands = [line.split("#")[0].strip() for line in readme.split("```bash", 1)[1].split("```", 1)[0].splitlines() if line.strip()]
    assert commands == ["./scripts/run.sh", "./scripts/test.sh"]
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()


def test_every_command_has_help():
    for command in (["--help"], ["ingest", "--help"], ["sources", "--help"], ["ask", "--help"], ["search", "--help"]):
        result = subprocess.run([sys.executable, "-m", "ui.cli", *command], cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout
