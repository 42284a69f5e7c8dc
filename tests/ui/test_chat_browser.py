"""The real web chat in headless Chromium: sign in, ask, open a source, give
feedback; then the database, and a second user who must see none of it.

Runs the chat exactly as users get it (``chainlit run ui/app.py``) on a
loopback port, on the sample corpus ingested into a temporary data folder,
with the model behind an OpenAI-compatible HTTP stand-in (tests/ui/llm_stand_in.py)
so every answer is grounded and cited. Screenshots go to tests/artifacts/ (and the README's
docs/img/chat.png).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, SAMPLE_CORPUS
from tests.fixtures.llama_server import HOST, free_port
from tests.ui import llm_stand_in
from ui.auth import add_user
from ui.feedback import FeedbackStore

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "tests" / "artifacts"
README_SCREENSHOT = REPO / "docs" / "img" / "chat.png"

# A question only Fjordbyen's staff can answer (their fall-prevention procedure, a PDF).
QUESTION = "Hvor raskt etter innleggelse skal fallrisiko vurderes?"
COMMENT = "Svaret bør nevne de tre screeningspørsmålene."
KARI = ("kari", "kari-passord", ["nasjonal", "fjordbyen"])
OLA = ("ola", "ola-passord", ["nasjonal", "nordlia"])

SERVER_READY_S = 180
ANSWER_TIMEOUT_MS = 300_000
UI_TIMEOUT_MS = 30_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install chromium)"),
]

INGEST = """
import sys
from pathlib import Path
from rag.settings import Settings
from ingest.pipeline import ingest_path
report = ingest_path(Settings(data_dir=Path(sys.argv[1]), qdrant_url="", _env_file=None), Path(sys.argv[2]))
print(report.as_dict())
"""


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAGPRAT_", "CHAINLIT_", "OAUTH_"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **extra)
    return env


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    with ExitStack() as stack:
        yield from _chat(tmp_path_factory.mktemp("chat"), stack)


def _chat(root: Path, stack: ExitStack) -> Iterator[dict]:
    data_dir = root / "data"
    # Ingest in a separate process: embedded Qdrant allows one process per folder,
    # and the chat server must be that process.
    subprocess.run(
        [sys.executable, "-c", INGEST, str(data_dir), str(SAMPLE_CORPUS)],
        check=True,
        cwd=REPO,
        env=_clean_env(),
        timeout=600,
    )
    users = root / "users.yaml"
    for name, password, groups in (KARI, OLA):
        add_user(users, name, password, groups)

    port = free_port()
    log_path = root / "chainlit.log"
    llm = stack.enter_context(llm_stand_in.serve(HOST, free_port()))
    env = _clean_env(
        FAGPRAT_LLM_BACKEND="openai",
        FAGPRAT_LLM_BASE_URL=llm,
        FAGPRAT_LLM_NAME=llm_stand_in.MODEL_ID,
        FAGPRAT_DATA_DIR=str(data_dir),
        FAGPRAT_USERS_FILE=str(users),
        FAGPRAT_GROUP_MAP_FILE=str(root / "no-group-map.yaml"),
        FAGPRAT_CHAT_FILE_ROOTS=json.dumps([str(SAMPLE_CORPUS)]),
        CHAINLIT_AUTH_SECRET="browser-test-secret-" + "x" * 40,
    )
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "chainlit"), "run", "ui/app.py", "--headless", "--host", HOST, "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://{HOST}:{port}"
    try:
        _wait_until_ready(process, base, log_path)
        yield {"url": base, "data_dir": data_dir, "log": log_path}
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(process: subprocess.Popen, base: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_READY_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"chainlit exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/auth/config", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"chainlit not ready after {SERVER_READY_S} s:\n{log_path.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


def _sign_in(browser, base: str, user: tuple[str, str, list[str]]):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="nb-NO")
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(base)
    page.fill("#email", user[0])
    page.fill("#password", user[1])
    page.keyboard.press("Enter")
    page.wait_for_selector("#chat-input")
    return context, page


def _screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


def _watch_stream(page, answer) -> list[str]:
    """The answer's text as it grows, until it is complete (the stop button goes
    and the final text with its sources is in place)."""
    seen: list[str] = []
    deadline = time.monotonic() + ANSWER_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        text = answer.inner_text() if answer.count() else ""
        if not seen or seen[-1] != text:
            seen.append(text)
        done = page.locator("#stop-button").count() == 0 and (
            "Kilder" in text or "Fant ikke svar" in text or "Prøv igjen" in text
        )
        if done:
            return seen
        time.sleep(0.05)
    pytest.fail(f"no complete answer within {ANSWER_TIMEOUT_MS / 1000:.0f} s: {seen[-3:]}")


def _poll(check, timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.3)


def test_sign_in_ask_open_source_give_feedback_and_stay_private(chat, browser):
    base = chat["url"]

    # --- a wrong password is refused -------------------------------------------------------
    refused = browser.new_context()
    login = refused.new_page()
    login.goto(base)
    login.fill("#email", KARI[0])
    login.fill("#password", "feil")
    login.keyboard.press("Enter")
    login.wait_for_selector("text=Innloggingen mislyktes", timeout=UI_TIMEOUT_MS)
    assert login.locator("#chat-input").count() == 0
    refused.close()

    # --- user 1 asks a question and gets a streamed, cited answer ------------------------------
    context, page = _sign_in(browser, base, KARI)
    page.fill("#chat-input", QUESTION)
    page.click("#chat-submit:not([disabled])")
    page.wait_for_selector('[data-step-type="user_message"]')
    answer = page.locator('[data-step-type="assistant_message"]').last
    seen = _watch_stream(page, answer)
    answer_text = answer.inner_text()
    partial = [text for text in seen if text.strip() and "Kilder" not in text]
    assert partial, f"no partial answer was seen while streaming: {seen}"
    assert "Kilder" in answer_text, f"expected a cited answer, got: {answer_text}\n{chat['log'].read_text()[-3000:]}"
    # The permanent notice under the input box.
    assert "Kontroller alltid mot kilden" in page.locator(".watermark").inner_text()

    # --- a citation opens the source with the exact passage ---------------------------------------
    citation = answer.locator("a.element-link", has_text="[1]").first
    citation.click()
    panel = page.locator("#side-view-content")
    panel.wait_for()
    panel_text = panel.inner_text()
    assert "Sitert tekst" in panel_text
    quoted = panel_text.split("Sitert tekst:", 1)[1].strip()
    assert len(quoted) > 20, panel_text
    page.wait_for_timeout(1000)  # let the side panel finish sliding in
    shot = _screenshot(page, "chat-answer-with-source.png")
    README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, README_SCREENSHOT)

    # --- thumbs down with a comment ---------------------------------------------------------------
    answer.hover()
    answer.locator(".negative-feedback-off").click()
    page.locator("textarea").last.fill(COMMENT)
    page.click("#submit-feedback")
    answer.locator(".negative-feedback-on").wait_for()
    _screenshot(page, "chat-feedback-given.png")

    # --- the database holds the thread, the messages and the feedback ---------------------------------
    db_path = chat["data_dir"] / "chat.db"

    def stored():
        with sqlite3.connect(db_path) as db:
            db.row_factory = sqlite3.Row
            threads = db.execute('SELECT * FROM threads WHERE "userIdentifier" = ?', ("kari",)).fetchall()
            if len(threads) != 1:
                return None
            steps = db.execute('SELECT * FROM steps WHERE "threadId" = ?', (threads[0]["id"],)).fetchall()
            feedback = db.execute(
                'SELECT * FROM feedbacks WHERE "forId" IN (SELECT "id" FROM steps WHERE "threadId" = ?)',
                (threads[0]["id"],),
            ).fetchall()
            return (threads[0], steps, feedback) if feedback else None

    result = _poll(stored)
    assert result, "thread and feedback were not stored"
    thread, steps, feedback = result
    by_type = {s["type"]: s for s in steps}
    assert by_type["user_message"]["output"] == QUESTION
    assert "[1]" in by_type["assistant_message"]["output"]
    assert feedback[0]["value"] == 0 and feedback[0]["comment"] == COMMENT
    # Chainlit's thumbs rate the run that produced the answer (the answer's parent step).
    assert feedback[0]["forId"] == by_type["assistant_message"]["parentId"]

    records = _poll(lambda: [r for r in FeedbackStore(f"sqlite:///{db_path}").all() if r.user == "kari"])
    assert len(records) == 1
    record = records[0]
    assert (record.channel, record.rating, record.comment) == ("web", -1, COMMENT)
    assert record.question == QUESTION
    assert "[1]" in record.answer
    assert record.cited_sources and record.cited_sources[0]["doc_id"].startswith("file:fjordbyen/")
    assert record.cited_sources[0]["title"] in panel_text  # the panel opened was source [1]
    assert record.model == llm_stand_in.MODEL_ID
    assert record.conversation_id == thread["id"] and record.message_id == by_type["assistant_message"]["id"]

    # --- user 2 sees neither the thread nor the answer -------------------------------------------------
    thread_item = f'[id="thread-{thread["id"]}"]'  # the thread's entry in the history sidebar
    other_context, other = _sign_in(browser, base, OLA)
    other.wait_for_selector("#thread-history")
    other.wait_for_selector("text=Ingen samtaler")  # Ola's own (empty) history has loaded
    assert other.locator(thread_item).count() == 0
    assert QUESTION not in other.content()
    other.goto(f"{base}/thread/{thread['id']}")
    other.wait_for_timeout(3000)
    assert QUESTION not in other.content()
    assert quoted.splitlines()[0] not in other.content()
    _screenshot(other, "chat-second-user.png")

    # User 1 still has the thread in the history sidebar, and can reopen it.
    page.goto(base)
    page.click(thread_item)
    page.wait_for_selector(f'[data-step-type="user_message"]:has-text("{QUESTION}")')
    assert "Kilder" in page.locator('[data-step-type="assistant_message"]').last.inner_text()

    other_context.close()
    context.close()
