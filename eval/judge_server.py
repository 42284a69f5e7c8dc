"""A local judge reachable over the OpenAI API: RAGAS talks to an OpenAI client,
so a judge given as a GGUF file is served by `python -m llama_cpp.server` on
loopback for the duration of the run, and stopped after."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from eval.models import resolved
from rag.errors import LLMUnavailableError
from rag.settings import ModelSetup

LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT_S = 120.0
POLL_INTERVAL_S = 0.5
STOP_TIMEOUT_S = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def server_command(setup: ModelSetup, port: int) -> list[str]:
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", setup.model_path,
        "--model_alias", setup.server_model or setup.name,
        "--host", LOOPBACK,
        "--port", str(port),
        "--n_ctx", str(setup.n_ctx),
        "--n_gpu_layers", str(setup.n_gpu_layers),
        "--seed", str(setup.seed),
    ]  # fmt: skip
    if setup.chat_format:
        command += ["--chat_format", setup.chat_format]
    if setup.n_threads:
        command += ["--n_threads", str(setup.n_threads)]
    return command


def _wait_until_ready(process: subprocess.Popen, base_url: str, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise LLMUnavailableError(f"judge server exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{base_url}/models", timeout=POLL_INTERVAL_S * 4).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(POLL_INTERVAL_S)
    raise LLMUnavailableError(f"judge server not ready after {timeout_s:.0f} s (log: {log_path})")


@contextmanager
def judge_endpoint(setup: ModelSetup, log_dir: Path, startup_timeout_s: float = STARTUP_TIMEOUT_S) -> Iterator[ModelSetup]:
    """Yield the judge as an OpenAI-compatible set-up: unchanged if it already
    is one, else served from its GGUF on a free loopback port until exit."""
    if setup.backend == "openai":
        yield setup
        return
    setup = resolved(setup)
    port = _free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "judge_server.log"
    base_url = f"http://{LOOPBACK}:{port}/v1"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(server_command(setup, port), stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_ready(process, base_url, log_path, startup_timeout_s)
            yield setup.model_copy(update={"backend": "openai", "base_url": base_url})
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
