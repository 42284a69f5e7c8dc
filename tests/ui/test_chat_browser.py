"""The real web chat in headless Chromium, as a nurse uses it: sign in, ask,
open a source and its original, give feedback; the database; a second user who
must see none of it; and quote answers on a phone in three languages.

Runs the chat exactly as users get it (``chainlit run ui/app.py``) on loopback
ports, on the sample corpus ingested into a temporary data folder, twice:
with the model behind an OpenAI-compatible HTTP stand-in
(tests/ui/llm_stand_in.py) that writes one supported and one made-up sentence,
so the test sees what verification lets through; and in quote mode
(``FAGPRAT_ANSWER_MODE=quote``, no model). Screenshots go to tests/artifacts/
(and the README's docs/img/chat.png).
"""
from __future__ import annotations

import http.client
import json
import os
import re
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

from tests.conftest import REPO, SAMPLE_CORPUS, copy_sample_index
from tests.fixtures.llama_server import HOST, free_port
from tests.ui import llm_stand_in
from ui.auth import add_user
from ui.feedback import FeedbackStore
from ui.presenter import DRAFT_TITLE

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
UNSUPPORTED = llm_stand_in.UNSUPPORTED_SENTENCE
# What a finished answer shows, whatever its kind and language.
FINISHED = ("Kilder", "Kjelder", "Sources", "Fant ikke svar", "Fann ikkje svar", "Ingen svar jeg kan", "Prøv igjen")
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


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAGPRAT_", "CHAINLIT_", "OAUTH_"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **extra)
    return env


@pytest.fixture(scope="module")
def chats(tmp_path_factory: pytest.TempPathFactory, sample_index: Path) -> Iterator[dict]:
    """Two chats on copies of the session's sample index: one whose model writes (and is
    verified), one in quote mode."""
    with ExitStack() as stack:
        yield _chats(tmp_path_factory.mktemp("chat"), sample_index, stack)


@pytest.fixture(scope="module")
def chat(chats: dict) -> dict:
    return chats["generate"]


def _chats(root: Path, sample_index: Path, stack: ExitStack) -> dict:
    # Each chat gets its own data folder (feedback, history and audit stay apart).
    data_dir = copy_sample_index(sample_index, root / "data")
    quote_dir = copy_sample_index(sample_index, root / "data-quote")
    users = root / "users.yaml"
    for name, password, groups in (KARI, OLA):
        add_user(users, name, password, groups)

    llm = stack.enter_context(llm_stand_in.serve(HOST, free_port()))
    common = dict(
        FAGPRAT_USERS_FILE=str(users),
        FAGPRAT_GROUP_MAP_FILE=str(root / "no-group-map.yaml"),
        FAGPRAT_CHAT_FILE_ROOTS=json.dumps([str(SAMPLE_CORPUS)]),
        CHAINLIT_AUTH_SECRET="browser-test-secret-" + "x" * 40,
    )
    servers = {
        # The model answers; every sentence is verified before it is shown.
        "generate": _start_chat(
            stack, root / "chainlit.log",
            FAGPRAT_LLM_BACKEND="openai", FAGPRAT_LLM_BASE_URL=llm, FAGPRAT_LLM_NAME=llm_stand_in.MODEL_ID,
            FAGPRAT_ANSWER_MODE="generate", FAGPRAT_DATA_DIR=str(data_dir), **common,
        ),
        # No model: verbatim quotes from the sources.
        "quote": _start_chat(
            stack, root / "chainlit-quote.log", FAGPRAT_ANSWER_MODE="quote", FAGPRAT_DATA_DIR=str(quote_dir), **common
        ),
    }
    for server in servers.values():  # started together, waited for in turn
        _wait_until_ready(server["process"], server["url"], server["log"])
    return servers


def _start_chat(stack: ExitStack, log_path: Path, **env: str) -> dict:
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "chainlit"), "run", "ui/app.py", "--headless", "--host", HOST, "--port", str(port)],
            cwd=REPO,
            env=_clean_env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    stack.callback(_stop, process)
    return {"url": f"http://{HOST}:{port}", "data_dir": Path(env["FAGPRAT_DATA_DIR"]), "log": log_path, "process": process}


def _stop(process: subprocess.Popen) -> None:
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


def _sign_in(browser, base: str, user: tuple[str, str, list[str]], width: int = 1440, height: int = 900):
    context = browser.new_context(viewport={"width": width, "height": height}, locale="nb-NO")
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


def _finished(text: str) -> bool:
    return any(mark in text for mark in FINISHED)


def _watch_stream(page, answer) -> list[str]:
    """The answer's text as it grows, until it is complete (the stop button goes
    and the final text with its sources is in place)."""
    seen: list[str] = []
    deadline = time.monotonic() + ANSWER_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        text = answer.inner_text() if answer.count() else ""
        if not seen or seen[-1] != text:
            seen.append(text)
        if page.locator("#stop-button").count() == 0 and _finished(text):
            return seen
        time.sleep(0.05)
    pytest.fail(f"no complete answer within {ANSWER_TIMEOUT_MS / 1000:.0f} s: {seen[-3:]}")


def _ask(page, question: str, index: int):
    page.fill("#chat-input", question)
    page.click("#chat-submit:not([disabled])")
    answer = page.locator('[data-step-type="assistant_message"]').nth(index)
    return answer, _watch_stream(page, answer)


def _poll(check, timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.3)


def _no_panel_opens_by_itself(page) -> None:
    page.wait_for_timeout(1500)  # Chainlit's own side elements opened within a frame or two
    assert page.locator("#side-view-content").count() == 0, "a source panel opened by itself"


def _open_source(page, answer, number: int) -> tuple[str, str, list[str]]:
    """Click [number] in the answer: (panel title, panel text, highlighted passages)."""
    answer.locator(f'a[href="#kilde-{number}"]').first.click()
    panel = page.locator("#side-view-content")
    panel.locator(".fagprat-kilde").wait_for()
    title = page.locator("#side-view-title").inner_text().strip()
    return title, panel.inner_text(), [m.inner_text() for m in panel.locator("mark").all()]


def _source_title(answer, number: int) -> str:
    """The title the answer's source list gives source [number]."""
    item = answer.locator("li", has=answer.page.locator(f'a[href="#kilde-{number}"]')).first
    return item.locator(".font-bold").first.inner_text().strip()


def _words(text: str) -> str:
    return " ".join(text.split())


def _letters(text: str) -> str:
    """Text without [n] pills, spaces and punctuation: a sentence as quoted or highlighted."""
    return re.sub(r"\W+", "", re.sub(r"\[\d+\]", "", text))


def _raw_get(base: str, path: str, context) -> int:
    """GET ``path`` exactly as written (a browser or httpx would resolve ``..`` first),
    with the signed-in user's cookies; the status."""
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies(base))
    connection = http.client.HTTPConnection(*base.removeprefix("http://").split(":"), timeout=30)
    try:
        connection.request("GET", path, headers={"Cookie": cookies})
        return connection.getresponse().status
    finally:
        connection.close()


def _not_covered(page, locator) -> bool:
    """Whether the middle of ``locator`` is what the user sees there (nothing on top of it)."""
    return page.evaluate(
        """(el) => { el.scrollIntoView({block: "center"}); const r = el.getBoundingClientRect();
        const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return !!top && (el === top || el.contains(top)); }""",
        locator.element_handle(),
    )


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

    # --- the chat's own page: Norwegian, fagprat's name and logo ------------------------------------
    context, page = _sign_in(browser, base, KARI)
    assert page.evaluate("document.documentElement.lang") == "nb"
    assert page.title() == "Fagprat"
    assert "fagprat" in context.request.get(f"{base}/logo?theme=light").text()

    # --- the model's answer streams as a draft, then only what the sources support is shown ---------
    answer, seen = _ask(page, QUESTION, 0)
    answer_text = answer.inner_text()
    assert "Kilder" in answer_text, f"expected a cited answer, got: {answer_text}\n{chat['log'].read_text()[-3000:]}"
    drafts = [text for text in seen if "Kilder" not in text and text.strip()]
    assert drafts and all(DRAFT_TITLE in text for text in drafts), f"the streamed text was not marked as a draft: {seen}"
    assert page.locator(".fagprat-utkast").count() == 0  # no longer muted
    # The supported sentence carries its pill; the made-up dose never does.
    assert answer.locator('a[href="#kilde-1"]').count() >= 2  # in the sentence and in the source list
    for paragraph in answer.locator(".message-content [role=article]").all():
        html = paragraph.inner_html()
        if UNSUPPORTED in paragraph.inner_text():
            assert "#kilde-" not in html.split("paracetamol", 1)[1], f"an unsupported sentence has a pill: {html}"
            assert "ikke bekreftet" in paragraph.inner_text()
    if UNSUPPORTED not in answer_text:
        assert "ble fjernet fordi kildene ikke støtter dem" in answer_text
    # The permanent notice under the input box.
    assert "Kontroller alltid mot kilden" in page.locator(".watermark").inner_text()
    _no_panel_opens_by_itself(page)

    # --- [1] opens source 1, with the sentence that supports the answer highlighted --------------------
    title = _source_title(answer, 1)
    panel_title, panel_text, marked = _open_source(page, answer, 1)
    assert panel_title == f"[1] {title}"
    assert "Sitert tekst" in panel_text
    assert marked and all(_letters(m) in _letters(answer_text) for m in marked), (marked, answer_text)
    page.wait_for_timeout(1000)  # let the side panel finish sliding in
    shot = _screenshot(page, "chat-answer-with-source.png")
    README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, README_SCREENSHOT)

    # --- the original opens through the chat, for this user only ------------------------------------
    original = page.locator("#side-view-content a.fagprat-original")
    href = original.get_attribute("href")
    assert href.startswith("/fagprat/dokument/") and str(SAMPLE_CORPUS) not in panel_text
    opened = context.request.get(base + href.split("#")[0])
    assert opened.status == 200 and opened.headers["content-type"] == "application/pdf"
    anonymous = browser.new_context()
    assert anonymous.request.get(base + href.split("#")[0]).status == 401
    anonymous.close()
    for probe in ("/fagprat/dokument/..%2F..%2Fetc%2Fpasswd", "/fagprat/dokument/file:fjordbyen/../../../../etc/passwd",
                  "/fagprat/dokument/file:fjordbyen/finnes-ikke.pdf", f"/fagprat/dokument/{SAMPLE_CORPUS}/fjordbyen/fallforebygging.pdf"):
        assert _raw_get(base, probe, context) == 404, probe

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
    assert record.cited_sources[0]["title"] == title  # the panel opened was source [1]
    assert record.model == llm_stand_in.MODEL_ID
    assert record.conversation_id == thread["id"] and record.message_id == by_type["assistant_message"]["id"]

    # --- user 2 sees neither the thread, the answer nor the document ----------------------------------
    thread_item = f'[id="thread-{thread["id"]}"]'  # the thread's entry in the history sidebar
    other_context, other = _sign_in(browser, base, OLA)
    other.wait_for_selector("#thread-history")
    other.wait_for_selector("text=Ingen samtaler")  # Ola's own (empty) history has loaded
    assert other.locator(thread_item).count() == 0
    assert QUESTION not in other.content()
    other.goto(f"{base}/thread/{thread['id']}")
    other.wait_for_timeout(3000)
    assert QUESTION not in other.content()
    assert _words(marked[0])[:40] not in _words(other.content())
    assert other_context.request.get(base + href.split("#")[0]).status == 404  # Fjordbyen's procedure
    _screenshot(other, "chat-second-user.png")

    # User 1 still has the thread in the history sidebar, can reopen it, and its [1] still opens source 1.
    page.goto(base)
    page.click(thread_item)
    page.wait_for_selector(f'[data-step-type="user_message"]:has-text("{QUESTION}")')
    reopened = page.locator('[data-step-type="assistant_message"]').last
    assert "Kilder" in reopened.inner_text()
    _no_panel_opens_by_itself(page)
    reopened.locator(".fagprat-svar").wait_for(state="attached")
    assert _open_source(page, reopened, 1)[0] == f"[1] {title}"

    other_context.close()
    context.close()


def test_quote_answers_on_a_phone_in_bokmal_nynorsk_and_english(chats, browser):
    """A nurse on a 390 px phone, in quote mode: every answer is verbatim quotes
    with clickable citations; the panel shows the quoted sentence highlighted."""
    base = chats["quote"]["url"]
    context, page = _sign_in(browser, base, KARI, width=390, height=844)
    page.locator("#starters button").first.wait_for()
    starters = [s.inner_text().strip() for s in page.locator("#starters button").all()]
    assert starters and all(q.endswith("?") and len(q.split()) >= 5 for q in starters), starters
    # One chat, three unrelated questions, as a nurse asks them; each with a fact its answer must quote.
    asked = [
        (starters[0], "Sitater fra kildene, ordrett", "Kilder", "innen 1 time"),
        ("Kor ofte skal innstikkstaden for perifert venekateter inspiserast?", "Sitat frå kjeldene, ordrett", "Kjelder",
         "minst hver 8. time"),
        ("How soon should antibiotics be given in suspected sepsis with organ failure?", "Quotes from the sources",
         "Sources", "innen 1 time"),
    ]
    off_topic = []
    for index, (question, heading, sources, fact) in enumerate(asked):
        if index == 0:
            page.locator("#starters button").first.click()  # the first example question
            answer = page.locator('[data-step-type="assistant_message"]').nth(0)
            _watch_stream(page, answer)
        else:
            answer, _ = _ask(page, question, index)
        text = answer.inner_text()
        assert text.startswith(heading), text
        assert sources in text
        _no_panel_opens_by_itself(page)
        quote = answer.locator("blockquote").first
        assert _not_covered(page, quote), f"something covers the answer on a phone: {question}"
        _screenshot(page, f"chat-quote-{index + 1}-phone.png")

        title = _source_title(answer, 1)
        panel_title, panel_text, marked = _open_source(page, answer, 1)
        assert panel_title == f"[1] {title}"
        quoted = _letters(quote.inner_text())
        assert marked and any(_letters(m) in quoted for m in marked), (marked, quote.inner_text())
        page.wait_for_timeout(700)
        _screenshot(page, f"chat-quote-{index + 1}-source-phone.png")
        # "Original" is the public page, or the file through the chat: never a path on the server.
        href = page.locator("#side-view-content a.fagprat-original").get_attribute("href")
        assert href.startswith(("https://", "/fagprat/dokument/")), href
        if href.startswith("/"):
            assert context.request.get(base + href.split("#")[0]).status == 200
        page.keyboard.press("Escape")
        page.locator("#side-view-content").wait_for(state="detached")
        if fact not in text:
            off_topic.append((question, text.splitlines()[:4]))
    # After later answers, the first answer's [1] still opens the first answer's source (Chainlit's
    # own side elements showed the sources of every answer under the last one's name).
    first = page.locator('[data-step-type="assistant_message"]').first
    assert _open_source(page, first, 1)[0] == f"[1] {_source_title(first, 1)}"
    context.close()
    assert not off_topic, f"answers that do not answer their question: {off_topic}"
