"""The audit log: one JSON line per answered question.

Evaluators and the hospital's quality system read it; only `AuditLog` writes it.
A line holds who asked (user, access groups), what was asked (masked), what was
retrieved and cited, which model answered, whether it refused, and the timings.
The answer text itself is not logged: the sources and question identify it, and
less free text means less patient data that could slip through.

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
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import portalocker

from rag.errors import FagpratError
from rag.models import Answer
from rag.privacy import mask_identity_numbers

# Owner reads and writes, the quality system's group reads; others nothing.
_FILE_MODE = 0o640


class AuditLogError(FagpratError):
    user_message = "Revisjonsloggen kan ikke skrives eller leses. Kontakt IT."


def _mask_strings(value: Any) -> Any:
    """Mask identity numbers in every string of a JSON-ready structure.

    The question is masked upstream already; this is the last line of defence for
    anything else that may carry one (a user name, a title, a refusal reason)."""
    if isinstance(value, str):
        return mask_identity_numbers(value)[0]
    if isinstance(value, dict):
        return {key: _mask_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_strings(item) for item in value]
    return value


def audit_record(
    answer: Answer, *, user: str, access_groups: list[str], model: str, model_version: str
) -> dict[str, Any]:
    """The audit line for `answer`, as a dict (before masking)."""
    return {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "user": user,
        "access_groups": list(access_groups),
        "question": answer.question,
        "standalone_question": answer.standalone_question,
        "language": answer.language,
        "retrieved": [
            {"doc_id": p.doc_id, "chunk_id": p.chunk_id, "title": p.title, "score": p.score}
            for p in answer.retrieved
        ],
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
        "timings": answer.timings.model_dump(),
        "notices": len(answer.notices),
    }


class AuditLog:
    """Appends one JSON line per answer to `path` (a JSON-lines file)."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        self._lock = threading.Lock()

    def record(
        self, answer: Answer, *, user: str, access_groups: list[str], model: str, model_version: str
    ) -> None:
        if not self.enabled:
            return
        entry = _mask_strings(
            audit_record(answer, user=user, access_groups=access_groups, model=model, model_version=model_version)
        )
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
