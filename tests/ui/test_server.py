"""`fagprat ui` (ui.server.run_chat) from a working directory outside the project:
Chainlit must still find fagprat's .chainlit folder (Norwegian), and a first
start must leave a user one can sign in with."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.fixtures.llama_server import HOST, free_port
from ui.auth import DEMO_USER, load_users

READY_S = 180

RUN = """
import sys
from pathlib import Path
from rag.settings import Settings
from ui.server import run_chat
settings = Settings(data_dir=Path(sys.argv[1]), users_file=Path(sys.argv[2]), qdrant_url="", _env_file=None)
run_chat(settings, host=sys.argv[3], port=int(sys.argv[4]), headless=True)
"""


@pytest.mark.slow
def test_run_chat_from_elsewhere_uses_the_projects_norwegian_config(tmp_path):
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    users = tmp_path / "config" / "users.yaml"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAGPRAT_", "CHAINLIT_"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(REPO))
    log = tmp_path / "chat.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", RUN, str(tmp_path / "data"), str(users), HOST, str(port)],
            cwd=workdir,
            env=env,
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

        assert DEMO_USER in load_users(users)
        assert DEMO_USER in log.read_text()  # the console says how to sign in
        assert not (workdir / ".chainlit").exists()
        assert (tmp_path / "data" / "chainlit_auth_secret").is_file()
    finally:
        process.terminate()
        process.wait(timeout=15)
