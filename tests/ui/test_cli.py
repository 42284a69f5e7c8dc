"""The terminal surface: batches of JSON lines, who the caller is, empty questions,
invalid settings, and how an unverified draft is shown (issue 13, findings 9 and 10).

The commands run in this process (typer's CliRunner) against the session's indexed
sample corpus; embedded Qdrant allows only one process, and the real service is
what answers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rag.audit import read
from tests.conftest import REPO
from tests.rag.test_privacy import synthetic_number
from ui.cli import app

PVK_QUESTION = "Hvor ofte skal innstikkstedet for PVK inspiseres?"
FNR = synthetic_number("010203")


@pytest.fixture
def cli_audit(indexed_settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The CLI's settings come from the environment: point them at the indexed corpus."""
    from rag.settings import get_settings

    for name in [n for n in os.environ if n.startswith("FAGPRAT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FAGPRAT_DATA_DIR", str(indexed_settings.data_dir))
    monkeypatch.setenv("FAGPRAT_AUDIT_LOG_PATH", str(tmp_path / "audit.jsonl"))
    get_settings.cache_clear()
    yield tmp_path / "audit.jsonl"
    get_settings.cache_clear()


def run(args: list[str], input: bytes | str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, args, input=input, catch_exceptions=False)


def json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


# --- batches ------------------------------------------------------------------------------


def test_each_bad_line_gets_its_own_error_and_the_rest_go_on(cli_audit: Path):
    lines = [
        json.dumps({"id": "a", "question": "adrenalin anafylaksi dose"}).encode(),
        b"null",
        b"[1]",
        b"42",
        "Hvor ofte skal PVK inspiseres? \xff".encode("latin-1"),  # not UTF-8
        b'{"question": "halvferdig',
        json.dumps({"id": "f", "question": ["ikke", "tekst"]}).encode(),
        json.dumps({"id": "g", "question": f"Sepsis hos voksne, pasient {FNR}"}).encode(),
    ]
    result = run(["search", "--json"], input=b"\n".join(lines) + b"\n")

    assert result.exit_code == 0, result.output
    out = json_lines(result.stdout)
    assert len(out) == 8
    assert out[0]["id"] == "a" and out[0]["passages"]
    assert [(o.get("line"), "error" in o) for o in out[1:7]] == [(n, True) for n in range(2, 8)]
    assert "ikke null" in out[1]["error"] and "ikke list" in out[2]["error"] and "ikke int" in out[3]["error"]
    assert "UTF-8" in out[4]["error"] and "JSON" in out[5]["error"] and out[6]["id"] == "f"
    assert out[7]["id"] == "g" and out[7]["passages"] and FNR not in result.stdout
    assert "Traceback" not in result.output


def test_command_line_identity_wins_over_the_json_lines(cli_audit: Path):
    line = json.dumps({"question": PVK_QUESTION, "access_groups": ["fjordbyen"], "user": "sjefen"})

    restricted = run(["search", "-g", "nasjonal", "--user", "kari", "--json"], input=line + "\n")
    trusted = run(["search", "--per-line-identity", "--json"], input=line + "\n")

    assert restricted.exit_code == 0 and trusted.exit_code == 0
    (narrow,) = json_lines(restricted.stdout)
    (wide,) = json_lines(trusted.stdout)
    assert narrow["passages"] and all(p["access_groups"] == ["nasjonal"] for p in narrow["passages"])
    assert any("fjordbyen" in p["access_groups"] for p in wide["passages"])
    assert "--per-line-identity" in restricted.stderr
    first, second = read(cli_audit)
    assert (first["user"], first["access_groups"]) == ("kari", ["nasjonal"])
    assert (second["user"], second["access_groups"]) == ("sjefen", ["fjordbyen"])


def test_an_empty_question_is_an_error_not_silence(cli_audit: Path):
    for args in (["ask", ""], ["ask", "   "], ["search", ""]):
        result = run(args)
        assert result.exit_code != 0, args
        assert "Skriv et spørsmål" in result.stderr
    empty_batch = run(["ask", "--json"], input="\n\n")
    assert empty_batch.exit_code != 0 and "Ingen spørsmål" in empty_batch.stderr


@pytest.mark.parametrize(
    ("question", "heading", "sources"),
    [
        (PVK_QUESTION, "Svar (kontrollert mot kildene):", "Kilder:"),
        ("How often should the PVK insertion site be inspected?", "Answer (checked against the sources):", "Sources:"),
    ],
)
def test_the_answer_is_framed_in_the_language_of_the_question(cli_audit: Path, question: str, heading: str, sources: str):
    result = run(["ask", question, "-g", "fjordbyen"])
    assert result.exit_code == 0 and "8. time" in result.output
    assert result.output.index(heading) < result.output.index("8. time") < result.output.index(sources)


def test_an_invalid_setting_is_one_line_naming_it(tmp_path: Path):
    env = {**os.environ, "FAGPRAT_DATA_DIR": str(tmp_path / "data"), "FAGPRAT_AUTH_MODE": "passord"}
    result = subprocess.run(
        [sys.executable, "-m", "ui.cli", "sources"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "pydantic" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "FAGPRAT_AUTH_MODE" in line and "passord" in line


# --- the unverified draft (--stream) ----------------------------------------------------------

DRAFT_WORD = "Zyxwvutsrq"


class DyingModelServer:
    """An OpenAI-compatible server that starts an answer and dies mid-stream
    (the connection drops before the chunked body is complete)."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(length)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for piece in (f"{DRAFT_WORD} skal", " inspiseres"):
                    chunk = {"id": "x", "object": "chat.completion.chunk", "model": "dying",
                             "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}  # fmt: skip
                    data = f"data: {json.dumps(chunk)}\n\n".encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)  # dies: no final chunk, no [DONE]
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> DyingModelServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def dying_model(cli_audit: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from rag.settings import get_settings

    with DyingModelServer() as server:
        for name, value in {
            "FAGPRAT_LLM_BACKEND": "openai", "FAGPRAT_LLM_BASE_URL": server.base_url, "FAGPRAT_LLM_NAME": "dying",
            "FAGPRAT_LLM_TIMEOUT_S": "10", "FAGPRAT_ANSWER_MODE": "generate", "FAGPRAT_ANSWERABILITY_GATE": "off",
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield cli_audit


def test_without_stream_the_terminal_never_shows_unverified_text(dying_model: Path):
    result = run(["ask", PVK_QUESTION, "-g", "fjordbyen"])

    assert DRAFT_WORD not in result.output
    assert "Utkast" not in result.output
    (entry,) = read(dying_model)
    assert entry["event"] == "answer" and entry["outcome"] in ("answered", "refused", "failed")


def test_with_stream_the_draft_is_marked_and_its_death_is_plain(dying_model: Path):
    from ui.cli import _DRAFT_BROKEN, _DRAFT_END, _DRAFT_HEADER

    result = run(["ask", PVK_QUESTION, "-g", "fjordbyen", "--stream"])
    out = result.stdout

    header, draft = out.index(_DRAFT_HEADER), out.index(DRAFT_WORD)
    closing = [out.index(marker) for marker in (_DRAFT_END, _DRAFT_BROKEN) if marker in out]
    assert closing, out
    assert header < draft < closing[0]
    # Whatever follows the draft is the service's verified result or a plain error, never the half draft.
    assert DRAFT_WORD not in out[closing[0]:]
    if _DRAFT_BROKEN in out:
        assert result.exit_code != 0
    else:
        assert "Språkmodellen svarer ikke" in out  # the fallback says why no generated answer came
