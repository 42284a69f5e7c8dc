"""A restart of the bot process between a question and its follow-up: the
follow-up is still understood, because the history is in the chat database.

The bot runs as its own process (``fagprat teams``) on a small index of its
own, in quote mode (no language model: a follow-up is made standalone from
the earlier question's key terms, deterministically). The process is stopped
after the first answer and a new one is started on the same data folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, SAMPLE_CORPUS
from tests.teams.activities import KARI, TENANT_ID, personal_message
from tests.teams.conftest import free_port, running_connector
from ui.teams.server import HEALTH_ENDPOINT, MESSAGING_ENDPOINT

pytestmark = pytest.mark.slow

FIRST_QUESTION = "Hvordan behandles anafylaksi hos voksne?"
FOLLOW_UP = "Hva med barn?"
START_TIMEOUT_S = 120
ANSWER_TIMEOUT_S = 300


def _environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAGPRAT_")}
    env.update(
        PYTHONPATH=str(REPO),
        FAGPRAT_DATA_DIR=str(data_dir),
        FAGPRAT_TEAMS_DEV_MODE="true",
        FAGPRAT_TEAMS_TENANT_ID=TENANT_ID,
        FAGPRAT_ANSWER_MODE="quote",
        OMP_NUM_THREADS="1",
    )
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ui.cli", *args]


@pytest.fixture(scope="module")
def bot_folder(tmp_path_factory) -> Path:
    """A data folder with the anaphylaxis guideline indexed (by a separate process, as in production)."""
    folder = tmp_path_factory.mktemp("restart")
    corpus = folder / "corpus" / "nasjonal"
    corpus.mkdir(parents=True)
    for name in ("_mappe.yaml", "anafylaksi.html", "anafylaksi.html.meta.yaml"):
        shutil.copy(SAMPLE_CORPUS / "nasjonal" / name, corpus / name)
    subprocess.run(_cli("ingest", str(folder / "corpus"), "--no-progress"), cwd=folder, env=_environment(folder / "data"),
                   check=True, capture_output=True, timeout=600)
    return folder


class BotProcess:
    def __init__(self, folder: Path, port: int):
        self.url = f"http://127.0.0.1:{port}"
        log = (folder / f"bot-{time.monotonic_ns()}.log").open("wb")
        self.process = subprocess.Popen(_cli("teams", "--host", "127.0.0.1", "--port", str(port)), cwd=folder,
                                        env=_environment(folder / "data"), stdout=log, stderr=subprocess.STDOUT)
        self.log_path = Path(log.name)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if httpx.get(self.url + HEALTH_ENDPOINT, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the bot did not start: {self.log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _ask(bot: BotProcess, connector, text: str) -> dict:
    activity = personal_message(connector.url, text, user=KARI)
    before = len(connector.messages())
    assert httpx.post(bot.url + MESSAGING_ENDPOINT, json=activity, timeout=60).status_code == 200
    connector.wait_for(lambda _: len(connector.messages()) > before, ANSWER_TIMEOUT_S, f"an answer to {text!r}")
    return connector.messages()[-1]


def _audited(folder: Path, question: str) -> dict:
    lines = (folder / "data" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    return [r for r in records if r.get("question") == question][-1]


def test_a_follow_up_after_a_restart_is_understood(bot_folder):
    with running_connector() as connector:
        first_bot = BotProcess(bot_folder, free_port())
        try:
            first = _ask(first_bot, connector, FIRST_QUESTION)
        finally:
            first_bot.stop()
        assert first_bot.process.returncode is not None
        assert "attachments" in first, first.get("text")  # an answer with its card, not an error

        second_bot = BotProcess(bot_folder, free_port())
        try:
            _ask(second_bot, connector, FOLLOW_UP)
        finally:
            second_bot.stop()

    follow_up = _audited(bot_folder, FOLLOW_UP)
    # The new process read the first question from the database and made the follow-up standalone with it.
    assert follow_up["standalone_question"] != FOLLOW_UP
    assert "anafylaksi" in follow_up["standalone_question"].lower()
    assert follow_up["standalone_question"].endswith(FOLLOW_UP)
