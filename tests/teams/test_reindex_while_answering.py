"""A hospital adds a procedure and re-indexes while staff keep asking: the Teams
bot (its own process, `fagprat teams`) answers over HTTP throughout an ingest
(another process, `fagprat ingest`) into the same embedded data folder, and
finds the new document once the ingest has published it. Quote mode (no
language model) keeps each answer cheap; the store is the real one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from ingest.pipeline import ingest_path
from rag.store.edge_files import lock_file, unlock
from tests.conftest import SAMPLE_CORPUS, make_settings
from tests.teams.conftest import free_port, running_connector
from tests.teams.test_restart import BotProcess, _ask, _cli, _environment

pytestmark = pytest.mark.slow

QUESTION = "Hvordan behandles anafylaksi hos voksne?"
NEW_TERM = "kalsiumglukonat-infusjonsprotokoll"
NEW_QUESTION = f"Hva sier {NEW_TERM} om hypokalsemi?"
NEW_DOC_ID_END = "hypokalsemi.md"
INGEST_TIMEOUT_S = 600


def _new_procedure(folder: Path) -> None:
    """A procedure long enough that its ingest takes a while (about 30 chunks to embed)."""
    paragraphs = "\n\n".join(
        f"Trinn {i}: ved symptomatisk hypokalsemi følges {NEW_TERM} for voksne. Gi kalsiumglukonat "
        f"intravenøst over {10 + i} minutter, kontroller ionisert kalsium etter {i + 1} timer og dokumenter "
        "EKG-funn, blodtrykk og puls i kurven før neste dose vurderes av lege."
        for i in range(30)
    )
    (folder / "hypokalsemi.md").write_text(
        f"---\ntitle: Hypokalsemi hos voksne\ndoc_type: prosedyre\n---\n# Hypokalsemi hos voksne\n\n{paragraphs}\n", "utf-8"
    )


def _cited_or_retrieved(data: Path, question: str) -> list[str]:
    records = [json.loads(line) for line in (data / "audit.jsonl").read_text("utf-8").splitlines() if line.strip()]
    record = [r for r in records if r.get("question") == question][-1]
    return [p["doc_id"] for p in record.get("retrieved", [])]


def test_the_bot_answers_during_an_ingest_and_finds_the_new_document_after_it(tmp_path: Path):
    corpus = tmp_path / "corpus" / "nasjonal"
    corpus.mkdir(parents=True)
    for name in ("_mappe.yaml", "anafylaksi.html", "anafylaksi.html.meta.yaml"):
        shutil.copy(SAMPLE_CORPUS / "nasjonal" / name, corpus / name)
    data = tmp_path / "data"
    env = _environment(data)
    assert ingest_path(make_settings(data), tmp_path / "corpus").indexed == 1  # this process keeps reading it
    writer_lock = data / "store" / "collections" / "fagprat" / "writer.lock"

    def ingest_writing() -> bool:
        """True while an ingest holds the collection's writer lock (its write session)."""
        handle = lock_file(writer_lock, shared=False)
        unlock(handle)
        return handle is None

    with running_connector() as connector:
        bot = BotProcess(tmp_path, free_port())
        try:
            assert "attachments" in _ask(bot, connector, QUESTION)
            _new_procedure(corpus)
            ingest = subprocess.Popen(_cli("ingest", str(tmp_path / "corpus"), "--json", "--no-progress"), cwd=tmp_path,
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            answers_during, answers_while_writing = 0, 0
            deadline = time.monotonic() + INGEST_TIMEOUT_S
            while ingest.poll() is None and time.monotonic() < deadline:
                writing = ingest_writing()
                reply = _ask(bot, connector, QUESTION)
                assert "attachments" in reply, reply.get("text")  # an answer with its sources, not an error
                answers_during += 1
                answers_while_writing += writing and ingest_writing()
            out, err = ingest.communicate(timeout=60)
            assert ingest.returncode == 0, err[-2000:]
            assert json.loads(out)["indexed"] == 1
            assert answers_during >= 2 and answers_while_writing >= 1, (answers_during, answers_while_writing)

            reply = _ask(bot, connector, NEW_QUESTION)
            assert "attachments" in reply, reply.get("text")
            assert any(doc.endswith(NEW_DOC_ID_END) for doc in _cited_or_retrieved(data, NEW_QUESTION))
        finally:
            bot.stop()
    assert "Traceback" not in bot.log_path.read_text(errors="replace"), "the bot logged no error"
