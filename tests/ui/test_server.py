"""`fagprat ui` (ui.server.run_chat) from a working directory outside the project:
Chainlit must still find fagprat's .chainlit folder (Norwegian). A start without
a users file refuses to run (no account is created implicitly); the explicit
demo mode creates demo/demo under the data folder and says so."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.fixtures.llama_server import HOST, free_port
from scripts.security_check import SOCKET_PATH, sign_in_with_password
from ui.auth import DEMO_PASSWORD, DEMO_USER, load_users
from ui.private_files import readable_by_others

READY_S = 180

RUN = """
import sys
from pathlib import Path
from rag.settings import Settings
from ui.server import run_chat
settings = Settings(data_dir=Path(sys.argv[1]), qdrant_url="", demo_mode=sys.argv[4] == "demo", _env_file=None)
run_chat(settings, host=sys.argv[2], port=int(sys.argv[3]), headless=True)
"""


async def _first_toast(base: str, cookie: str, timeout_s: float = 60.0) -> str:
    """Open a chat over the websocket as the browser does; the text of the first toast shown."""
    import socketio

    client = socketio.AsyncClient(reconnection=False)
    toast: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @client.on("toast")
    async def _toast(data) -> None:  # type: ignore[no-untyped-def]
        if not toast.done():
            toast.set_result(data["message"])

    await client.connect(
        base,
        socketio_path=SOCKET_PATH,
        transports=["websocket"],
        headers={"Cookie": cookie},
        auth={"clientType": "webapp", "sessionId": str(uuid.uuid4()), "threadId": None, "userEnv": "{}"},
    )
    try:
        await client.emit("connection_successful")
        return await asyncio.wait_for(toast, timeout_s)
    finally:
        await client.disconnect()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAGPRAT_", "CHAINLIT_"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(REPO))
    return env


def test_without_a_users_file_the_chat_does_not_start(tmp_path):
    """Finding 3: the old chat created demo/demo (groups nasjonal, fjordbyen) and only logged a warning."""
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    data = tmp_path / "data"
    result = subprocess.run(
        [sys.executable, "-c", RUN, str(data), HOST, str(free_port()), "real"],
        cwd=workdir,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=READY_S,
    )
    assert result.returncode != 0
    assert "fagprat users add" in result.stderr and str(data / "users.yaml") in result.stderr
    assert not (data / "users.yaml").exists() and not (workdir / "config").exists()


@pytest.mark.slow
def test_demo_mode_from_elsewhere_uses_the_projects_norwegian_config(tmp_path):
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    users = tmp_path / "data" / "users.yaml"
    port = free_port()
    log = tmp_path / "chat.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", RUN, str(tmp_path / "data"), HOST, str(port), "demo"],
            cwd=workdir,
            env=_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + READY_S
        config = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                config = httpx.get(f"{base}/auth/config", timeout=2.0).json()
                break
            except (httpx.HTTPError, ValueError):
                time.sleep(0.5)
        assert config is not None, log.read_text()[-3000:]
        assert config["requireLogin"] and config["passwordAuth"]

        translation = httpx.get(f"{base}/project/translations", params={"language": "en-US"}).json()["translation"]
        assert translation["auth"]["login"]["form"]["actions"]["signin"] == "Logg inn"
        assert "pasientidentifiserende" in translation["chat"]["watermark"]

        assert DEMO_USER in load_users(users)  # under the data folder, not the working directory
        assert "DEMO MODE" in log.read_text() and DEMO_USER in log.read_text()  # the console says so
        assert not (workdir / ".chainlit").exists() and not (workdir / "config").exists()
        for private in (users, tmp_path / "data" / "chainlit_auth_secret", tmp_path / "data" / "chat.db"):
            assert oct(private.stat().st_mode & 0o777) == oct(0o600), private
        assert not readable_by_others(tmp_path / "data")
        # The demo account signs in, and the chat tells its user that this is a demo.
        cookie = sign_in_with_password(base, DEMO_USER, DEMO_PASSWORD)
        assert "Demomodus" in asyncio.run(_first_toast(base, cookie))
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_the_chat_page_is_norwegian_and_asks_no_other_site():
    """Chainlit's own page, as `ChatPageMiddleware` serves it (the browser test loads it for real)."""
    from chainlit.server import get_html_template

    from ui.server import chat_page

    original = get_html_template("")
    page = chat_page(original)
    assert '<html lang="en">' in original and '<html lang="nb">' in page
    for foreign in ("fonts.googleapis.com", "fonts.gstatic.com", "cdn.jsdelivr.net", "github.com/Chainlit", "chainlit-cloud"):
        assert foreign not in page, foreign
    assert "<title>Fagprat</title>" in page and '<div id="root"></div>' in page
