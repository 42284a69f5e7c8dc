"""A stand-in OpenAI-compatible LLM server on loopback, for the browser test.

The chat under test reaches its model over HTTP (``llm_backend=openai``), the
same way it reaches a llama.cpp server in production; this server stands in at
that edge. It answers like a capable model that also makes one thing up: the
first sentence of source [1] in the prompt, cited ``[1]``, then
`UNSUPPORTED_SENTENCE`, a dose that is in no source, also cited ``[1]``;
streamed word by word. The chat must show the first with its citation and the
second never with one. Asked for the answerability verdict (a JSON
``response_format``), it says source 1 answers. So the UI test checks the UI
and the verification, not the prose of a 135M-parameter model (which on a
shared CPU takes minutes and rarely cites).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL_ID = "extractive-stand-in"
# A claim no source in the sample corpus supports (a dose, cited as if it were).
UNSUPPORTED_SENTENCE = "Gi deretter alltid 2 g paracetamol intravenøst hver fjerde time"
TOKEN_DELAY_S = 0.05
_FIRST_SOURCE = re.compile(r'<kilde nr="1"[^>]*>\n(.*?)\n</kilde>', re.S)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def extractive_answer(prompt: str) -> str:
    match = _FIRST_SOURCE.search(prompt)
    if not match:
        return "Jeg finner ikke svar på dette i kildene."
    lines = [line.strip(" -*#|") for line in match.group(1).splitlines()]
    text = " ".join(line for line in lines if line)
    sentence = _SENTENCE_END.split(text, maxsplit=1)[0].rstrip(".!?")
    return f"{sentence} [1]. {UNSUPPORTED_SENTENCE} [1]."


def gate_verdict() -> str:
    """The answerability verdict: source 1 answers."""
    return json.dumps({"answerable": True, "sources": [1]})


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        return

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": MODEL_ID, "object": "model"}]})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if not self.path.endswith("/chat/completions"):
            self._json(404, {"error": "not found"})
            return
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user")
        if body.get("response_format"):
            words = [gate_verdict()]
        else:
            words = extractive_answer(prompt).split(" ")
        if not body.get("stream"):
            self._json(200, _completion(" ".join(words)))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for i, word in enumerate(words):
            self._event(_chunk(word if i == 0 else " " + word, None))
            time.sleep(TOKEN_DELAY_S)
        self._event(_chunk("", "stop"))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _event(self, payload: dict) -> None:
        self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
        self.wfile.flush()


def _chunk(content: str, finish_reason: str | None) -> dict:
    return {
        "id": "chatcmpl-stand-in",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": MODEL_ID,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
    }


def _completion(content: str) -> dict:
    return {
        "id": "chatcmpl-stand-in",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL_ID,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


@contextmanager
def serve(host: str, port: int) -> Iterator[str]:
    """Run the stand-in on host:port; yields its OpenAI base URL."""
    server = ThreadingHTTPServer((host, port), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{port}/v1"
    finally:
        server.shutdown()
        server.server_close()
