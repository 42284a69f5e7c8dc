"""A stand-in for a llama.cpp server with parallel slots, on loopback.

llama.cpp's server (``--parallel N``) generates N answers at once and holds
further requests until a slot is free. This stand-in does the same with a
semaphore of N, spends ``prompt_s`` on the prompt and ``token_s`` per word it
streams, and answers extractively (the first sentence of source [1] with its
marker, as ``tests/ui/llm_stand_in.py`` does), so every answer verifies. A
JSON-constrained request (the answerability gate) gets a verdict that the
sources answer. It records how many requests it ever ran at once.

Timings are set by the caller: the stand-in shows how the bot schedules
answers, not how fast any real model is.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.ui.llm_stand_in import MODEL_ID, extractive_answer


class SlottedLLMServer:
    def __init__(self, slots: int, *, prompt_s: float = 0.0, token_s: float = 0.0):
        self.slots = slots
        self.prompt_s = prompt_s
        self.token_s = token_s
        self._slots = threading.Semaphore(slots)
        self._lock = threading.Lock()
        self.running = 0
        self.max_running = 0
        self.completions = 0
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": MODEL_ID, "object": "model"}]})
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if not self.path.endswith("/chat/completions"):
                    self._json(404, {"error": "not found"})
                    return
                with stand_in._slot():
                    stand_in._complete(self, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> SlottedLLMServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- a slot -------------------------------------------------------------
    class _Held:
        def __init__(self, server: SlottedLLMServer):
            self.server = server

        def __enter__(self) -> None:
            self.server._slots.acquire()
            with self.server._lock:
                self.server.running += 1
                self.server.max_running = max(self.server.max_running, self.server.running)

        def __exit__(self, *exc: object) -> None:
            with self.server._lock:
                self.server.running -= 1
                self.server.completions += 1
            self.server._slots.release()

    def _slot(self) -> SlottedLLMServer._Held:
        return SlottedLLMServer._Held(self)

    def _complete(self, handler: Any, body: dict) -> None:
        time.sleep(self.prompt_s)
        if body.get("response_format"):
            reply = json.dumps({"answerable": True, "sources": [1]})
        else:
            prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user")
            reply = extractive_answer(prompt)
        words = reply.split(" ")
        if not body.get("stream"):
            time.sleep(self.token_s * len(words))
            handler._json(200, {
                "id": "chatcmpl-slotted", "object": "chat.completion", "created": int(time.time()), "model": MODEL_ID,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 0, "completion_tokens": len(words), "total_tokens": len(words)},
            })
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        handler.end_headers()
        for i, word in enumerate(words):
            time.sleep(self.token_s)
            self._event(handler, word if i == 0 else " " + word, None)
        self._event(handler, "", "stop")
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()
        handler.close_connection = True

    @staticmethod
    def _event(handler: Any, content: str, finish_reason: str | None) -> None:
        chunk = {
            "id": "chatcmpl-slotted", "object": "chat.completion.chunk", "created": int(time.time()), "model": MODEL_ID,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
        }
        handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        handler.wfile.flush()
