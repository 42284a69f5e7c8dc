"""Over the whole gold set, with the bundled defaults, as a user sees it: every
citation pill sits on a sentence that its cited passage supports, and nothing
is shown as an answer from a document outside the asker's access groups."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.questions import load_questions
from rag.models import Question
from tests.conftest import REPO

GOLD = load_questions(REPO / "eval" / "data" / "gold.jsonl")


@pytest.mark.slow
def test_every_shown_pill_is_on_a_sentence_its_passage_supports(service):
    checked = 0
    for item in GOLD:
        answer = service.answer(Question(text=item.question, access_groups=item.access_groups))
        by_number = {c.number: c for c in answer.citations}
        for citation in answer.citations:
            assert set(citation.passage.access_groups) & set(item.access_groups), item.id
        for sentence in answer.sentences:
            if not sentence.citations:
                assert not sentence.verified, (item.id, sentence.text)
                continue
            assert sentence.verified, (item.id, sentence.text)
            for number in sentence.citations:
                passage = by_number[number].passage
                if sentence.quote:
                    assert sentence.text in passage.text, (item.id, sentence.text)
                else:
                    support = service.checker.check(
                        sentence.text, passage.text, passage_language=passage.language, sentence_language=answer.language
                    )
                    assert support.supported, (item.id, sentence.text, support)
                checked += 1
        # The text shows a pill only where a verified sentence carries it.
        shown_numbers = {n for s in answer.sentences for n in s.citations}
        assert shown_numbers == set(by_number), item.id
    assert checked > len(GOLD)  # most questions were answered with at least one cited sentence


def test_the_gold_file_is_the_one_the_suite_reads():
    assert Path(REPO / "eval" / "data" / "gold.jsonl").is_file() and len(GOLD) >= 150
