"""The question-set validator on good and broken files."""

import json

import pytest

from eval.questions import QuestionSetError, load_questions, validate_file

GOOD = {
    "id": "q1",
    "question": "Hva er målet for oksygenmetning ved kols?",
    "language": "nb",
    "answerable": True,
    "reference_answer": "SpO2 88–92 %.",
    "key_facts": ["88–92 %"],
    "source_doc_ids": ["file:nasjonal/kols-forverring.md"],
    "access_groups": ["nasjonal"],
    "topic": "kols",
}
UNANSWERABLE = {**GOOD, "id": "q2", "answerable": False, "reference_answer": "", "key_facts": [], "source_doc_ids": []}


def write(tmp_path, lines):
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_good_file_loads(tmp_path):
    path = write(tmp_path, [json.dumps(GOOD), "", json.dumps(UNANSWERABLE)])
    assert validate_file(path) == []
    questions = load_questions(path)
    assert [q.id for q in questions] == ["q1", "q2"]
    assert questions[1].answerable is False


def test_each_error_is_reported_with_its_line(tmp_path):
    missing = {k: v for k, v in GOOD.items() if k != "question"} | {"id": "q3"}
    lines = [
        json.dumps(GOOD),  # 1 ok
        json.dumps(GOOD),  # 2 duplicate id
        "{not json",  # 3
        json.dumps(missing),  # 4 missing field
        json.dumps({**GOOD, "id": "q5", "language": "sv"}),  # 5 unknown language
        json.dumps({**GOOD, "id": "q6", "answerable": "yes"}),  # 6 wrong type
        json.dumps({**UNANSWERABLE, "id": "q7", "key_facts": ["x"]}),  # 7 unanswerable with key facts
        json.dumps({**GOOD, "id": "q8", "key_facts": "88 %"}),  # 8 wrong type (string, not list)
        "[1, 2]",  # 9 not an object
    ]
    issues = validate_file(write(tmp_path, lines))
    by_line = {}
    for issue in issues:
        by_line.setdefault(issue.line, []).append(issue.message)
    assert sorted(by_line) == [2, 3, 4, 5, 6, 7, 8, 9]
    assert "q1" in by_line[2][0] and "linje 1" in by_line[2][0]
    assert "question" in by_line[4][0]
    assert "language" in by_line[5][0]
    assert "answerable" in by_line[6][0]
    assert "nøkkelfakta" in by_line[7][0]
    assert "key_facts" in by_line[8][0]


def test_load_raises_with_all_issues(tmp_path):
    path = write(tmp_path, [json.dumps(GOOD), json.dumps({**GOOD, "id": "q9", "key_facts": []})])
    with pytest.raises(QuestionSetError) as error:
        load_questions(path)
    assert len(error.value.issues) == 1
    assert error.value.issues[0].line == 2
    assert "fagprat eval validate" in error.value.user_message


def test_missing_and_empty_files(tmp_path):
    assert validate_file(tmp_path / "nope.jsonl")[0].line == 0
    assert validate_file(write(tmp_path, [""]))[0].message == "filen har ingen spørsmål"
