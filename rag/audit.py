"""The audit log: one JSON line per question, whatever became of it.

Evaluators and the hospital's quality system read it; only `AuditLog` writes it.
Every line has an `event` (`answer`: a question put to the answering service;
`search`: retrieval alone) and an `outcome`:

- `answered` / `refused`: an answer was given (cited, or the fixed refusal); `kind`
  and `fallback_reason` tell a generated answer from quotes given because the
  model was down (`model_unavailable`) or could not be verified;
- `searched`: passages were retrieved (`relevant` says whether any cleared the floor);
- `failed`: an error ended it (model server down, store unavailable ...), with `error`;
- `rejected`: the question itself was refused (empty, too long), with `error`;
- `cancelled`: the caller stopped reading before the answer was complete.

A line holds who asked (user, access groups), what was asked (masked), what was
retrieved and cited, which model answered, and the timings. The answer text
itself is not logged: the sources and question identify it, and less free text
means less patient data that could slip through. Every string is masked again
(`rag.privacy.mask_identity_numbers_in`) just before it is written.

Concurrency: each record is one `os.write` of one complete line on a file opened
with O_APPEND. POSIX guarantees that with O_APPEND the offset is moved to the end
and the write done with no intervening modification, so lines from several
processes do not overwrite each other. Because a single write may still be split
on some filesystems (NFS does not honour O_APPEND) the write is also done under
an exclusive `portalocker` lock on the file, and a `threading.Lock` serialises
the threads of one process.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import portalocker

from rag.errors import FagpratError, InvalidQuestionError
from rag.models import Answer, AnswerEvent, Passage, Question
from rag.privacy import mask_identity_numbers, mask_identity_numbers_in

if TYPE_CHECKING:
    from rag.retrieval import RetrievalResult

log = logging.getLogger(__name__)

# Owner reads and writes, the quality system's group reads; others nothing.
_FILE_MODE = 0o640
# An error message is logged up to this length: enough for any of our one-line
# messages, short enough that an exception quoting a whole prompt cannot flood the log.
_MAX_ERROR_CHARS = 500

Event = Literal["answer", "search"]
Outcome = Literal["answered", "refused", "searched", "failed", "rejected", "cancelled"]


class AuditLogError(FagpratError):
    user_message = "Revisjonsloggen kan ikke skrives eller leses. Kontakt IT."


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _retrieved(passages: Sequence[Passage]) -> list[dict[str, Any]]:
    return [{"doc_id": p.doc_id, "chunk_id": p.chunk_id, "title": p.title, "score": p.score} for p in passages]


def _error_text(error: BaseException) -> str:
    detail = " ".join(str(error).split())
    text = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
    # Masked before it is cut, so that a cut cannot leave half a number unmasked.
    return mask_identity_numbers(text)[0][:_MAX_ERROR_CHARS]


def audit_record(
    answer: Answer, *, user: str, access_groups: list[str], model: str, model_version: str
) -> dict[str, Any]:
    """The audit line for `answer`, as a dict (before masking)."""
    return {
        "time": _now(),
        "event": "answer",
        "outcome": "refused" if answer.refused else "answered",
        "user": user,
        "access_groups": list(access_groups),
        "question": answer.question,
        "standalone_question": answer.standalone_question,
        "language": answer.language,
        "retrieved": _retrieved(answer.retrieved),
        "cited": [
            {
                "number": c.number,
                "doc_id": c.passage.doc_id,
                "chunk_id": c.passage.chunk_id,
                "support": c.support,
            }
            for c in answer.citations
        ],
        "removed_citations": list(answer.removed_citations),
        "uncited_sentences": len(answer.uncited_sentences),
        "model": model,
        "model_version": model_version,
        "refused": answer.refused,
        "refusal_reason": answer.refusal_reason,
        "kind": answer.kind,
        "fallback_reason": answer.fallback_reason,
        "timings": answer.timings.model_dump(),
        "notices": len(answer.notices),
    }


def search_record(result: RetrievalResult, *, question: str, user: str, access_groups: list[str]) -> dict[str, Any]:
    """The audit line for a retrieval without an answer (before masking)."""
    return {
        "time": _now(),
        "event": "search",
        "outcome": "searched",
        "user": user,
        "access_groups": list(access_groups),
        "question": question,
        "standalone_question": result.standalone_question,
        "relevant": result.relevant,
        "best_relevance": result.best_relevance,
        "retrieved": _retrieved(result.passages),
        "timings": {"retrieval_ms": result.retrieval_ms, "rerank_ms": result.rerank_ms},
    }


def failure_record(
    event: Event,
    outcome: Outcome,
    *,
    question: str,
    user: str,
    access_groups: list[str],
    model: str,
    error: BaseException | None,
) -> dict[str, Any]:
    """The audit line for a question that ended without a result (before masking)."""
    return {
        "time": _now(),
        "event": event,
        "outcome": outcome,
        "user": user,
        "access_groups": list(access_groups),
        "question": question,
        "model": model,
        "error": _error_text(error) if error is not None else "",
    }


class AuditLog:
    """Appends one JSON line per question to `path` (a JSON-lines file)."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        self._lock = threading.Lock()

    def record(
        self, answer: Answer, *, user: str, access_groups: list[str], model: str, model_version: str
    ) -> None:
        self.write(audit_record(answer, user=user, access_groups=access_groups, model=model, model_version=model_version))

    def record_search(
        self, result: RetrievalResult, *, question: str, user: str, access_groups: list[str]
    ) -> None:
        self.write(search_record(result, question=question, user=user, access_groups=access_groups))

    def record_failure(
        self,
        event: Event,
        outcome: Outcome,
        *,
        question: str,
        user: str,
        access_groups: list[str],
        model: str,
        error: BaseException | None = None,
    ) -> None:
        self.write(
            failure_record(
                event, outcome, question=question, user=user, access_groups=access_groups, model=model, error=error
            )
        )

    def write(self, entry: dict[str, Any]) -> None:
        """Append one record, every string in it masked first."""
        if not self.enabled:
            return
        entry = mask_identity_numbers_in(entry)
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            try:
                self._append(line)
            except OSError as error:
                raise AuditLogError(f"Cannot write audit log {self.path}: {error}") from error

    def _append(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Opened per record so that log rotation (a moved file) is picked up at once.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _FILE_MODE)
        with os.fdopen(fd, "ab", buffering=0) as handle:
            portalocker.lock(handle, portalocker.LOCK_EX)
            try:
                written = os.write(fd, line)
                # A short write only happens on a full disk or a signal; finish the line
                # (still under the lock) rather than leave half a JSON object.
                while written < len(line):
                    written += os.write(fd, line[written:])
            finally:
                portalocker.unlock(handle)

    @staticmethod
    def read(path: Path) -> Iterator[dict[str, Any]]:
        """The records in `path`, oldest first; nothing when the log does not exist yet."""
        path = Path(path)
        if not path.exists():
            return
        try:
            with path.open(encoding="utf-8") as handle:
                for number, raw in enumerate(handle, start=1):
                    if not raw.strip():
                        continue
                    try:
                        yield json.loads(raw)
                    except json.JSONDecodeError as error:
                        raise AuditLogError(f"{path}, line {number} is not valid JSON: {error}") from error
        except OSError as error:
            raise AuditLogError(f"Cannot read audit log {path}: {error}") from error


read = AuditLog.read


# --- recording questions that end without a result -------------------------------------

_Method = TypeVar("_Method", bound=Callable[..., Any])


def audited(event: Event) -> Callable[[_Method], _Method]:
    """Decorates an `AnsweringService` method taking a `Question` (a generator such as
    `stream`, or a plain method such as `search`) so that a question ending in an error
    or abandoned before its answer still gets its audit line. Successful results are
    recorded by the method itself, which knows what was retrieved and cited.

    The original error is always re-raised; if the failure line cannot be written
    either, that is logged and the original error wins."""

    def decorate(method: _Method) -> _Method:
        if inspect.isgeneratorfunction(method):

            @functools.wraps(method)
            def generator(self: Any, question: Question, *args: Any, **kwargs: Any) -> Iterator[Any]:
                inner = method(self, question, *args, **kwargs)
                complete = False
                try:
                    for item in inner:
                        complete = complete or isinstance(item, AnswerEvent)
                        yield item
                except GeneratorExit:
                    if not complete:
                        _record_failure(self, event, question, "cancelled", None)
                    raise
                except Exception as error:
                    _record_failure(self, event, question, _outcome(error), error)
                    raise
                finally:
                    inner.close()

            return generator  # type: ignore[return-value]

        @functools.wraps(method)
        def plain(self: Any, question: Question, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, question, *args, **kwargs)
            except Exception as error:
                _record_failure(self, event, question, _outcome(error), error)
                raise

        return plain  # type: ignore[return-value]

    return decorate


def _outcome(error: Exception) -> Outcome:
    return "rejected" if isinstance(error, InvalidQuestionError) else "failed"


def _record_failure(
    service: Any, event: Event, question: Question, outcome: Outcome, error: BaseException | None
) -> None:
    settings = service.settings
    try:
        service.audit.record_failure(
            event,
            outcome,
            # Masked before it is cut (a too-long question is logged up to the limit).
            question=mask_identity_numbers(question.text)[0][: settings.max_question_chars],
            user=question.user,
            access_groups=question.access_groups or list(settings.default_access_groups),
            model=question.model or settings.llm_name,
            error=error,
        )
    except Exception:  # the audit must not hide why the question failed
        log.exception("Could not write the audit line for a %s question", outcome)

