"""Readers for the benchmark datasets in `settings.datasets_dir` (see
/work/shared/datasets/README.md for where they come from). The files are read
where they lie; nothing is copied into the repository."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ConfigurationError

NORMEDQA_OPTION_SEPARATOR = ";"


@dataclass(frozen=True)
class NorMedQAItem:
    id: str
    question: str
    options: list[str]
    answer_index: int = 0  # the correct answer is listed first

    @property
    def answer(self) -> str:
        return self.options[self.answer_index]


def _read_json(path: Path, what: str) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(
            f"{what} not found at {path}",
            user_message=f"Fant ikke {what} i {path}. Sett FAGPRAT_DATASETS_DIR (se docs/evaluation.md).",
        ) from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigurationError(
            f"cannot read {what} at {path}: {exc}", user_message=f"Kan ikke lese {what} i {path}: {exc}"
        ) from exc


def load_norquad(path: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """SQuAD-format file -> (distinct passages, (question, index of its passage))."""
    data = _read_json(path, "NorQuAD")
    passages: list[str] = []
    index_of: dict[str, int] = {}
    questions: list[tuple[str, int]] = []
    for article in data["data"]:  # type: ignore[index]
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            if context not in index_of:
                index_of[context] = len(passages)
                passages.append(context)
            for qa in paragraph["qas"]:
                if qa.get("is_impossible"):
                    continue
                questions.append((qa["question"], index_of[context]))
    return passages, questions


def load_normedqa(path: Path) -> list[NorMedQAItem]:
    """NorMedQA JSON -> items; options are the answer followed by the wrong
    answers split on ';' (some items have no wrong answers)."""
    data = _read_json(path, "NorMedQA")
    items: list[NorMedQAItem] = []
    for position, row in enumerate(data):  # type: ignore[arg-type]
        answer = str(row["answer_text"]).strip()
        wrong = [o.strip() for o in str(row.get("wrong_answers_text") or "").split(NORMEDQA_OPTION_SEPARATOR)]
        options = [answer, *[o for o in wrong if o and o != answer]]
        # source_file + question_number is not unique in the dataset; the position is.
        items.append(NorMedQAItem(id=str(position), question=str(row["question_text"]).strip(), options=options))
    return items
