"""The two LLM backends against real llama.cpp: in-process llama-cpp-python
with the bundled GGUFs, and llama-cpp-python's OpenAI-compatible server on
loopback. Only the failure modes that need a misbehaving server (HTTP 500, a
server that never answers) use tiny stand-in servers."""

from __future__ import annotations

import http.server
import importlib.util
import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from rag import bundled
from rag.errors import ConfigurationError, LLMUnavailableError
from rag.llm import LLM, load_llm, to_llama_messages
from rag.models import ChatTurn, Passage
from rag.prompting import TEMPLATE_MARGIN_TOKENS, TRUNCATION_MARKER, build_answer_messages, condense_question
from rag.settings import ModelSetup
from tests.fixtures.llama_server import base_url, free_port, start_llama_server, stop_llama_server, wait_until_ready

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None
needs_llama = pytest.mark.skipif(not HAS_LLAMA, reason="llama-cpp-python is not installed")

MESSAGES = [
    SystemMessage(content="Du svarer kort på norsk."),
    HumanMessage(content="Hva er hovedstaden i Norge?"),
]
NORWEGIAN = "Pasienter med sepsis skal ha antibiotika innen én time. Gi 0,05 mikrog/kg/min noradrenalin ved septisk sjokk."


def smollm2(**overrides) -> LLM:
    return load_llm(ModelSetup(**{"name": "smollm2-test", "n_ctx": 2048, "max_tokens": 24, **overrides}))


# --- no model needed ----------------------------------------------------------


def test_formats_without_a_system_role_get_the_system_prompt_in_the_first_user_turn():
    messages = [*MESSAGES, AIMessage(content="Oslo."), HumanMessage(content="Og Sverige?")]
    assert to_llama_messages(messages) == [
        {"role": "system", "content": "Du svarer kort på norsk."},
        {"role": "user", "content": "Hva er hovedstaden i Norge?"},
        {"role": "assistant", "content": "Oslo."},
        {"role": "user", "content": "Og Sverige?"},
    ]
    folded = to_llama_messages(messages, system_role=False)
    assert [m["role"] for m in folded] == ["user", "assistant", "user"]
    assert folded[0]["content"] == "Du svarer kort på norsk.\n\nHva er hovedstaden i Norge?"


def test_a_missing_model_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="not found"):
        load_llm(ModelSetup(name="missing", model_path=str(tmp_path / "nope.gguf")))


def test_the_http_backend_needs_a_base_url():
    with pytest.raises(ConfigurationError, match="base_url"):
        load_llm(ModelSetup(name="no-url", backend="openai"))


def _closed_port() -> int:
    return free_port()  # bound and released: nothing listens there


def test_a_server_that_is_not_running_fails_fast_with_llm_unavailable():
    llm = load_llm(ModelSetup(name="down", backend="openai", base_url=base_url(_closed_port()), request_timeout_s=2))
    started = time.monotonic()
    with pytest.raises(LLMUnavailableError, match="down"):
        llm.complete(MESSAGES)
    assert time.monotonic() - started < 2
    assert llm.version == ""  # unknown, not an exception: a refusal can still be logged
    # Without the server's tokenizer the count is a padded tiktoken estimate.
    assert llm.count_tokens(NORWEGIAN) > len(NORWEGIAN.split())


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_a_server_that_never_answers_times_out_as_llm_unavailable(silent_server):
    llm = load_llm(ModelSetup(name="silent", backend="openai", base_url=base_url(silent_server), request_timeout_s=1))
    started = time.monotonic()
    with pytest.raises(LLMUnavailableError, match="Timeout"):
        list(llm.stream(MESSAGES))
    assert time.monotonic() - started < 10


class _FailingHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": {"message": "model is loading"}}')

    def log_message(self, *args):
        pass


@pytest.fixture
def failing_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FailingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_an_http_5xx_is_llm_unavailable_with_the_status(failing_server):
    llm = load_llm(ModelSetup(name="failing", backend="openai", base_url=base_url(failing_server), request_timeout_s=5))
    with pytest.raises(LLMUnavailableError, match="503|model is loading"):
        llm.complete(MESSAGES)


# --- in-process llama.cpp -------------------------------------------------------


@needs_llama
def test_an_invalid_gguf_and_an_unknown_chat_format_are_configuration_errors(tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file at all" * 100)
    with pytest.raises(ConfigurationError, match="cannot load"):
        load_llm(ModelSetup(name="bogus", model_path=str(bogus)))
    with pytest.raises(ConfigurationError, match="unknown chat format"):
        load_llm(ModelSetup(name="bad-format", chat_format="no-such-format"))


@needs_llama
@pytest.mark.slow
def test_smollm2_streams_tokens_as_they_come():
    llm = smollm2()
    assert llm is smollm2()  # loaded once per process
    assert smollm2(name="cold", temperature=0.0).llama is llm.llama  # one GGUF in memory
    assert llm.name == "smollm2-test" and llm.context_window == 2048
    assert llm.version.startswith("SmolLM2-135M-Instruct.Q4_1.gguf, ")

    arrivals: list[float] = []
    pieces: list[str] = []
    started = time.monotonic()
    for piece in llm.stream(MESSAGES, max_tokens=24):
        arrivals.append(time.monotonic() - started)
        pieces.append(piece)
    assert len(pieces) >= 5 and all(isinstance(p, str) and p for p in pieces)
    assert arrivals[0] < arrivals[-1]  # the first piece came before the last was made
    # Same seed, same prompt: the whole reply equals the streamed one.
    assert llm.complete(MESSAGES, max_tokens=24) == "".join(pieces)


@needs_llama
@pytest.mark.slow
def test_stop_sequences_and_max_tokens_bound_the_reply():
    llm = smollm2()
    reply = llm.complete(MESSAGES, max_tokens=8)
    assert 0 < llm.count_tokens(reply) <= 8 + 1
    first_word = reply.split()[0]
    assert first_word not in "".join(llm.stream(MESSAGES, max_tokens=24, stop=[first_word]))


@needs_llama
@pytest.mark.slow
def test_generation_from_two_threads_is_serialised_and_correct():
    llm = smollm2()
    expected = llm.complete(MESSAGES, max_tokens=16)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(llm.complete(MESSAGES, max_tokens=16))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected, expected]


@needs_llama
@pytest.mark.slow
def test_count_tokens_is_the_models_own_tokenizer():
    llm = smollm2()
    expected = len(llm.llama.tokenize(NORWEGIAN.encode("utf-8"), add_bos=False))
    assert llm.count_tokens(NORWEGIAN) == expected
    assert llm.count_tokens("") == 0


@needs_llama
@pytest.mark.slow
def test_gemma_with_the_gemma_chat_format_produces_text():
    llm = load_llm(
        ModelSetup(
            name="gemma-test",
            model_path=str(bundled.gemma_path()),
            chat_format=bundled.GEMMA_CHAT_FORMAT,
            n_ctx=1024,
            max_tokens=24,
        )
    )
    reply = llm.complete(MESSAGES)
    assert reply.strip()
    assert "Gemma" in llm.version


@needs_llama
@pytest.mark.slow
def test_the_answer_prompt_fits_a_window_smaller_than_the_sources():
    """The budget holds with the real tokenizer and chat template: prompt plus
    answer stay within n_ctx, measured by llama.cpp itself."""
    n_ctx, max_answer = 1024, 64
    llm = smollm2(n_ctx=n_ctx)
    passages = [
        Passage(chunk_id=f"c{i}", doc_id=f"d{i}", title=f"Sepsis {i}", text=f"{NORWEGIAN} Avsnitt {i}. " * 30)
        for i in range(5)
    ]
    assert sum(llm.count_tokens(p.text) for p in passages) > n_ctx
    messages, kept = build_answer_messages("Når skal antibiotika gis?", passages, "nb", llm, max_answer_tokens=max_answer)
    assert kept == passages[:1]
    assert TRUNCATION_MARKER in messages[1].text  # the first source alone was too long
    usage = llm.llama.create_chat_completion(messages=to_llama_messages(messages), max_tokens=1)["usage"]
    assert usage["prompt_tokens"] <= n_ctx - max_answer
    assert usage["prompt_tokens"] > n_ctx - max_answer - 3 * TEMPLATE_MARGIN_TOKENS  # the room was used


@needs_llama
@pytest.mark.slow
def test_condense_question_with_the_real_model_returns_a_question():
    history = [
        ChatTurn(role="user", content="Hva er anbefalt dose paracetamol til barn?"),
        ChatTurn(role="assistant", content="15 mg/kg hver 6. time [1]."),
    ]
    standalone = condense_question(smollm2(), history, "Og for voksne?", "nb", max_turns=4)
    # Whatever the tiny model writes (a rewrite or junk replaced by the fallback),
    # the result is a question that keeps the follow-up and adds the history's topic.
    assert standalone.endswith("?")
    assert "voksne" in standalone.lower()
    assert "paracetamol" in standalone.lower()


# --- the OpenAI-compatible server -------------------------------------------------


@needs_llama
@pytest.mark.slow
def test_http_backend_streams_completes_and_reports_version_and_tokens(llama_server):
    llm = load_llm(ModelSetup(name="http-test", backend="openai", base_url=llama_server, n_ctx=2048, max_tokens=24))
    pieces = list(llm.stream(MESSAGES, max_tokens=24))
    assert len(pieces) >= 5
    assert llm.complete(MESSAGES, max_tokens=24) == "".join(pieces)  # same seed on the server
    assert llm.complete(MESSAGES, max_tokens=4) != "".join(pieces)  # max_tokens reaches the server

    assert llm.version.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")  # the server's model id
    assert llm.context_window == 2048
    # The server's own tokenizer (/extras/tokenize), identical to the in-process count.
    assert llm.count_tokens(NORWEGIAN) == smollm2().count_tokens(NORWEGIAN)


@needs_llama
@pytest.mark.slow
def test_a_server_that_dies_mid_answer_raises_llm_unavailable():
    port = free_port()
    process = start_llama_server(bundled.smollm2_path(), port, n_ctx=1024)
    try:
        wait_until_ready(process, base_url(port))
        llm = load_llm(ModelSetup(name="dying", backend="openai", base_url=base_url(port), request_timeout_s=10))
        long_task = [HumanMessage(content="Skriv en lang fortelling om et sykehus, minst 500 ord.")]
        received: list[str] = []
        with pytest.raises(LLMUnavailableError):
            for piece in llm.stream(long_task, max_tokens=800):
                received.append(piece)
                if len(received) == 2:
                    process.send_signal(signal.SIGKILL)
        assert len(received) >= 2
    finally:
        stop_llama_server(process)
