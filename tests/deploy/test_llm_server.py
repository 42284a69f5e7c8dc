"""The compose stack's model path: the app talks to a llama.cpp-compatible
server over the OpenAI API. Here that server is the real
`python -m llama_cpp.server` with the bundled GGUF on loopback."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from rag.bundled import smollm2_path
from rag.models import AnswerEvent, Question, TokenEvent
from rag.service import AnsweringService
from tests.fixtures.llama_server import base_url, free_port, start_llama_server, stop_llama_server, wait_until_ready

pytestmark = pytest.mark.slow
GROUPS = ["nasjonal", "fjordbyen"]


def _service(indexed_settings, url: str, name: str) -> AnsweringService:  # type: ignore[no-untyped-def]
    settings = indexed_settings.model_copy(
        update={
            "llm_backend": "openai", "llm_base_url": url, "llm_name": name, "llm_timeout_s": 30, "llm_max_tokens": 64,
            "top_k": 3,  # a shorter prompt: the server's plumbing is under test, not the answer
            # The server's plumbing is under test here; the gate has its own tests (tests/rag/test_service.py).
            "answerability_gate": "off",
        }
    )
    return AnsweringService(settings)


def test_ingest_ask_and_stream_through_the_server(indexed_settings, llama_server):
    service = _service(indexed_settings, llama_server, "server")
    events = list(service.stream(Question(text="Hvor ofte skal innstikkstedet for PVK inspiseres?", access_groups=GROUPS)))
    tokens = [e for e in events if isinstance(e, TokenEvent)]
    assert len(tokens) > 2 and isinstance(events[-1], AnswerEvent)
    answer = events[-1].answer
    assert answer.model == "server" and answer.timings.first_token_ms is not None
    assert answer.refused or all(c.passage.chunk_id in {p.chunk_id for p in answer.retrieved} for c in answer.citations)


def test_a_server_that_dies_mid_answer_gives_quotes_and_others_are_still_served(indexed_settings):
    port = free_port()
    url = base_url(port)
    server = start_llama_server(smollm2_path(), port)
    try:
        wait_until_ready(server, url)
        service = _service(indexed_settings, url, "dying")
        stream = service.stream(Question(text="Hvor ofte skal innstikkstedet for PVK inspiseres?", access_groups=GROUPS))
        first = next(stream)
        assert isinstance(first, TokenEvent)
        os.kill(server.pid, signal.SIGKILL)  # the model server dies while the answer streams
        server.wait()
        rest = list(stream)
        # The half-written draft is never the answer: the user gets verbatim quotes and is told why.
        answer = rest[-1].answer  # type: ignore[union-attr]
        assert answer.kind == "quote" and answer.fallback_reason == "model_unavailable"
        assert "minst hver 8. time" in answer.text
        assert any("Språkmodellen svarer ikke" in notice for notice in answer.notices)

        # The same service goes on serving: questions that need no model are answered at once,
        # from another thread too (as a chat server would) ...
        results: list[object] = []
        worker = threading.Thread(
            target=lambda: results.append(service.answer(Question(text="Hvem vant fotball-VM i 2018?", access_groups=GROUPS)))
        )
        worker.start()
        worker.join(timeout=60)
        assert results and results[0].refused  # type: ignore[attr-defined]

        # ... and when the server is back, answers flow again without restarting the app.
        server = start_llama_server(smollm2_path(), port)
        wait_until_ready(server, url)
        again = service.answer(Question(text="Hvor ofte skal innstikkstedet for PVK inspiseres?", access_groups=GROUPS))
        assert again.raw_text
    finally:
        stop_llama_server(server)
