"""The gold question set: one JSON object per line (format in eval/data/README.md).

`validate_file` reports every problem with its line number, so evaluators can
fix a set of their own; `load_questions` returns the questions or raises
`QuestionSetError` with those problems.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rag.errors import FagpratError


class GoldQuestion(BaseModel):
    # Strict: "answerable": "yes" is a mistake to report, not to coerce.
    model_config = ConfigDict(strict=True, extra="ignore")

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    language: Literal["nb", "nn", "en"]
    answerable: bool
    reference_answer: str
    key_facts: list[str]
    source_doc_ids: list[str]
    access_groups: list[str] = Field(default_factory=list, description="Empty = the service's default groups")
    topic: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> GoldQuestion:
        if self.answerable:
            if not self.key_facts:
                raise ValueError("et besvarbart spørsmål trenger minst ett nøkkelfaktum (key_facts)")
            if not self.source_doc_ids:
                raise ValueError("et besvarbart spørsmål trenger minst én kilde (source_doc_ids)")
            if not self.reference_answer.strip():
                raise ValueError("et besvarbart spørsmål trenger et referansesvar (reference_answer)")
        else:
            if self.key_facts:
                raise ValueError("et ubesvarbart spørsmål skal ikke ha nøkkelfakta (key_facts)")
            if self.source_doc_ids:
                raise ValueError("et ubesvarbart spørsmål skal ikke ha kilder (source_doc_ids)")
        if any(not fact.strip() for fact in self.key_facts):
            raise ValueError("key_facts inneholder en tom tekst")
        return self


@dataclass(frozen=True)
class Issue:
    line: int
    message: str

    def __str__(self) -> str:
        return f"linje {self.line}: {self.message}"


class QuestionSetError(FagpratError):
    user_message = "Spørsmålssettet har feil. Kjør `fagprat eval validate FIL` for å se dem."

    def __init__(self, path: Path, issues: list[Issue]):
        self.issues = issues
        detail = "\n".join(str(i) for i in issues)
        super().__init__(f"{path}: {len(issues)} problem(s)\n{detail}")


def _describe(error: ValidationError) -> list[str]:
    messages = []
    for err in error.errors():
        where = ".".join(str(p) for p in err["loc"])
        text = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            messages.append(f"mangler feltet '{where}'")
        elif where:
            messages.append(f"feltet '{where}': {text}")
        else:
            messages.append(text)
    return messages


def parse_lines(lines: list[str]) -> tuple[list[GoldQuestion], list[Issue]]:
    questions: list[GoldQuestion] = []
    issues: list[Issue] = []
    first_line: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            issues.append(Issue(number, f"ugyldig JSON: {exc.msg}"))
            continue
        if not isinstance(data, dict):
            issues.append(Issue(number, "ikke et JSON-objekt"))
            continue
        try:
            question = GoldQuestion.model_validate(data)
        except ValidationError as exc:
            issues.extend(Issue(number, m) for m in _describe(exc))
            continue
        if question.id in first_line:
            issues.append(Issue(number, f"id '{question.id}' finnes fra før (linje {first_line[question.id]})"))
            continue
        first_line[question.id] = number
        questions.append(question)
    if not questions and not issues:
        issues.append(Issue(0, "filen har ingen spørsmål"))
    return questions, issues


def validate_file(path: Path) -> list[Issue]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Issue(0, f"kan ikke lese filen: {exc}")]
    return parse_lines(text.splitlines())[1]


def load_questions(path: Path) -> list[GoldQuestion]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionSetError(path, [Issue(0, f"kan ikke lese filen: {exc}")]) from exc
    questions, issues = parse_lines(text.splitlines())
    if issues:
        raise QuestionSetError(path, issues)
    return questions
