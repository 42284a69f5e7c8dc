"""The JSON-lines audit log: content, masking, concurrency, reading back."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import threading
from pathlib import Path

import pytest

from rag.audit import AuditLog, AuditLogError, read
from rag.models import Answer, Citation, Passage, Timings
from rag.privacy import MASK_REPLACEMENT
from tests.rag.test_privacy import synthetic_number

# Synthetic identity numbers, computed from the check-digit rule (see test_privacy).
FNR = synthetic_number("030303")
D_NUMBER = synthetic_number("430303")


def make_answer(question: str = "Hva er dosen av adrenalin?") -> Answer:
    first = Passage(chunk_id="c-1", doc_id="file:nasjonal/anafylaksi.md", title="Anafylaksi", text="0,5 mg", score=0.03)
    second = Passage(chunk_id="c-2", doc_id="file:nasjonal/sepsis.md", title="Sepsis", text="1 time", score=0.02)
    return Answer(
        question=question,
        standalone_question=question,
        text="Gi 0,5 mg adrenalin i.m. [1].",
        retrieved=[first, second],
        citations=[Citation(number=1, passage=first, sentences=["Gi 0,5 mg adrenalin i.m. [1]."], support=0.9)],
        removed_citations=[7],
        uncited_sentences=["Observer i 4 timer."],
        notices=["notice"],
        timings=Timings(retrieval_ms=12.5, first_token_ms=80.0, total_ms=900.0, tokens_per_s=20.0),
    )


def record(log: AuditLog, answer: Answer, user: str = "sykepleier1") -> None:
    log.record(answer, user=user, access_groups=["nasjonal", "ahus"], model="smollm2-135m", model_version="q4_1")


def test_one_line_with_all_fields(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "logs" / "audit.jsonl"  # parent folders do not exist yet
    log = AuditLog(path)
    before = dt.datetime.now(dt.UTC)
    record(log, make_answer())

    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    logged_at = dt.datetime.fromisoformat(entry["time"])
    assert logged_at.utcoffset() == dt.timedelta(0)
    assert before - dt.timedelta(seconds=1) <= logged_at <= dt.datetime.now(dt.UTC)
    assert entry["user"] == "sykepleier1"
    assert entry["access_groups"] == ["nasjonal", "ahus"]
    assert entry["question"] == entry["standalone_question"] == "Hva er dosen av adrenalin?"
    assert entry["retrieved"] == [
        {"doc_id": "file:nasjonal/anafylaksi.md", "chunk_id": "c-1", "title": "Anafylaksi", "score": 0.03},
        {"doc_id": "file:nasjonal/sepsis.md", "chunk_id": "c-2", "title": "Sepsis", "score": 0.02},
    ]
    assert entry["cited"] == [{"number": 1, "doc_id": "file:nasjonal/anafylaksi.md", "chunk_id": "c-1", "support": 0.9}]
    assert entry["model"] == "smollm2-135m" and entry["model_version"] == "q4_1"
    assert entry["refused"] is False and entry["refusal_reason"] == ""
    assert entry["timings"]["retrieval_ms"] == 12.5 and entry["timings"]["first_token_ms"] == 80.0
    assert entry["notices"] == 1
    assert entry["removed_citations"] == [7] and entry["uncited_sentences"] == 1


def test_refusal_is_recorded(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    answer = make_answer().model_copy(
        update={"refused": True, "refusal_reason": "below relevance floor", "citations": []}
    )
    record(log, answer)
    (entry,) = read(log.path)
    assert entry["refused"] is True and entry["refusal_reason"] == "below relevance floor"
    assert entry["cited"] == []


def test_identity_numbers_never_reach_the_log(tmp_path: Path) -> None:
    """Even when a caller forgets to mask, the log masks every string again."""
    log = AuditLog(tmp_path / "audit.jsonl")
    question = f"Pasient {FNR[:6]} {FNR[6:]} har anafylaksi, hva gjør jeg?"
    answer = make_answer(question).model_copy(
        update={"standalone_question": f"Anafylaksi hos {D_NUMBER}", "refusal_reason": f"id {FNR}"}
    )
    record(log, answer, user=f"bruker-{FNR}")

    raw = log.path.read_text(encoding="utf-8")
    for number in (FNR, D_NUMBER, FNR[6:]):
        assert number not in raw
    (entry,) = read(log.path)
    assert entry["question"] == f"Pasient {MASK_REPLACEMENT} har anafylaksi, hva gjør jeg?"
    assert entry["standalone_question"] == f"Anafylaksi hos {MASK_REPLACEMENT}"
    assert entry["user"] == f"bruker-{MASK_REPLACEMENT}"


def test_one_line_per_record_and_read_in_order(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    for index in range(5):
        record(log, make_answer(f"Spørsmål {index}"))
    assert len(log.path.read_text(encoding="utf-8").splitlines()) == 5
    assert [entry["question"] for entry in read(log.path)] == [f"Spørsmål {i}" for i in range(5)]


def test_disabled_log_writes_nothing(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "sub" / "audit.jsonl", enabled=False)
    record(log, make_answer())
    assert not (tmp_path / "sub").exists()
    assert list(read(log.path)) == []


def test_concurrent_threads_write_whole_lines(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    threads_count, per_thread = 8, 40
    # A long question makes each line several kilobytes, so torn writes would show.
    long_question = "Hvordan behandles anafylaksi hos voksne? " * 100

    def worker(thread: int) -> None:
        for index in range(per_thread):
            record(log, make_answer(f"{thread}-{index} {long_question}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    lines = log.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == threads_count * per_thread
    keys = {json.loads(line)["question"].split(" ", 1)[0] for line in lines}
    assert keys == {f"{t}-{i}" for t in range(threads_count) for i in range(per_thread)}


def _write_from_process(path: str, prefix: str, count: int) -> None:
    log = AuditLog(Path(path))
    for index in range(count):
        record(log, make_answer(f"{prefix}-{index} " + "lang tekst " * 500))


def test_concurrent_processes_write_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_write_from_process, args=(str(path), f"p{n}", 50)) for n in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    entries = list(read(path))
    assert len(entries) == 100
    assert {e["question"].split(" ", 1)[0] for e in entries} == {f"p{n}-{i}" for n in range(2) for i in range(50)}


def test_reading_a_missing_log_yields_nothing(tmp_path: Path) -> None:
    assert list(AuditLog.read(tmp_path / "none.jsonl")) == []


def test_reading_a_corrupt_line_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text('{"user": "a"}\n\n{"user": \n', encoding="utf-8")
    entries = read(path)
    assert next(entries) == {"user": "a"}
    with pytest.raises(AuditLogError, match="line 3"):
        next(entries)


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    log = AuditLog(blocker / "audit.jsonl")
    with pytest.raises(AuditLogError) as error:
        record(log, make_answer())
    assert "Revisjonsloggen" in error.value.user_message


# --- every question, whatever its outcome (issue 13, finding 10) --------------------------


def test_answer_lines_say_event_and_outcome(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    record(log, make_answer())
    record(log, make_answer().model_copy(update={"refused": True, "citations": []}))
    assert [(e["event"], e["outcome"]) for e in read(log.path)] == [("answer", "answered"), ("answer", "refused")]


def test_a_failure_line_names_the_error_and_is_masked(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    error = RuntimeError(f"server said no to {FNR}\n" + "x" * 5000)
    log.record_failure(
        "answer", "failed", question=f"Pasient {FNR}", user="lege1", access_groups=["nasjonal"], model="m", error=error
    )
    (entry,) = read(log.path)
    assert (entry["event"], entry["outcome"], entry["user"], entry["model"]) == ("answer", "failed", "lege1", "m")
    assert entry["question"] == f"Pasient {MASK_REPLACEMENT}"
    assert entry["error"].startswith(f"RuntimeError: server said no to {MASK_REPLACEMENT} xxx")
    assert len(entry["error"]) <= 500 and FNR not in log.path.read_text(encoding="utf-8")


def _audited_service(indexed_settings, tmp_path: Path, **overrides):  # type: ignore[no-untyped-def]
    from rag.service import AnsweringService

    settings = indexed_settings.model_copy(update={"audit_log_path": tmp_path / "audit.jsonl", **overrides})
    return AnsweringService(settings)


def test_every_search_is_audited_with_what_it_found(indexed_settings, tmp_path: Path) -> None:
    from rag.models import Question

    service = _audited_service(indexed_settings, tmp_path)
    found = service.search(Question(text=f"Adrenalin dose anafylaksi {FNR}", user="lege1", access_groups=["nasjonal"]))
    service.search(Question(text="Hva er hovedstaden i Frankrike?", user="lege1"))

    first, second = read(tmp_path / "audit.jsonl")
    assert (first["event"], first["outcome"], first["user"], first["access_groups"]) == (
        "search", "searched", "lege1", ["nasjonal"]
    )
    assert first["question"] == f"Adrenalin dose anafylaksi {MASK_REPLACEMENT}"
    assert first["relevant"] is True
    assert [r["chunk_id"] for r in first["retrieved"]] == [p.chunk_id for p in found.passages]
    assert second["relevant"] is False and second["access_groups"] == ["nasjonal"]  # the default groups


def test_answers_without_the_model_and_failed_answers_are_audited(indexed_settings, tmp_path: Path) -> None:
    """Model down: the answer falls back to quotes (or refuses) and says so; a follow-up
    that needs the model to be understood fails, and that failure is on record too."""
    from rag.errors import LLMUnavailableError
    from rag.models import ChatTurn, Question

    service = _audited_service(
        indexed_settings, tmp_path, answer_mode="generate",
        llm_backend="openai", llm_base_url="http://127.0.0.1:9/v1", llm_timeout_s=3, llm_name="nede",
    )  # fmt: skip
    question = Question(text=f"Hvor ofte skal PVK inspiseres? Pasient {FNR}", user="spl1", access_groups=["fjordbyen"])
    service.answer(question)
    follow_up = question.model_copy(
        update={"text": "Og hos barn?", "history": [ChatTurn(role="user", content=question.text)]}
    )
    with pytest.raises(LLMUnavailableError):
        service.answer(follow_up)

    answered, failed = read(tmp_path / "audit.jsonl")
    assert answered["fallback_reason"] == "model_unavailable" and answered["model"] == "nede"
    assert answered["question"] == f"Hvor ofte skal PVK inspiseres? Pasient {MASK_REPLACEMENT}"
    assert (failed["event"], failed["outcome"], failed["user"], failed["model"]) == ("answer", "failed", "spl1", "nede")
    assert failed["access_groups"] == ["fjordbyen"] and failed["question"] == "Og hos barn?"
    assert failed["error"].startswith("LLMUnavailableError")


def test_an_unknown_model_is_a_failed_answer_on_record(indexed_settings, tmp_path: Path) -> None:
    from rag.errors import ConfigurationError
    from rag.models import Question

    service = _audited_service(indexed_settings, tmp_path, answer_mode="generate")
    with pytest.raises(ConfigurationError):
        service.answer(Question(text="Hvor ofte skal PVK inspiseres?", user="x", model="finnes-ikke"))
    (entry,) = read(tmp_path / "audit.jsonl")
    assert (entry["outcome"], entry["model"]) == ("failed", "finnes-ikke")
    assert entry["error"].startswith("ConfigurationError: Unknown model 'finnes-ikke'")


def test_rejected_and_abandoned_questions_are_audited(indexed_settings, tmp_path: Path) -> None:
    from rag.errors import InvalidQuestionError
    from rag.models import Question, TokenEvent

    from tests.fixtures.scripted_llm import ScriptedLLMServer

    with ScriptedLLMServer("Innstikkstedet skal inspiseres minst hver 8. time [1].") as server:
        service = _audited_service(
            indexed_settings, tmp_path, answer_mode="generate", answerability_gate="off",
            llm_backend="openai", llm_base_url=server.base_url, llm_name="scripted",
        )  # fmt: skip
        with pytest.raises(InvalidQuestionError):
            service.answer(Question(text="x" * 100_000, user="a"))
        question = Question(text="Hvor ofte skal innstikkstedet for PVK inspiseres?", access_groups=["fjordbyen"])
        stream = service.stream(question.model_copy(update={"user": "b"}))
        assert isinstance(next(stream), TokenEvent)
        stream.close()  # the user pressed stop before the answer was complete
        service.answer(question.model_copy(update={"user": "c"}))  # read to the end: no extra line

    entries = list(read(tmp_path / "audit.jsonl"))
    assert [(e["user"], e["outcome"]) for e in entries] == [("a", "rejected"), ("b", "cancelled"), ("c", "answered")]
    assert entries[0]["error"].startswith("InvalidQuestionError") and len(entries[0]["question"]) == 2000
