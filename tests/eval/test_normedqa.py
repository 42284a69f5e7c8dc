"""NorMedQA scoring with the real bundled model on a few items."""

import math

import pytest

from eval import normedqa
from eval.datasets import NorMedQAItem, load_normedqa
from rag.settings import ModelSetup
from tests.conftest import SHARED

NORMEDQA = SHARED / "datasets" / "normedqa" / "normedqa.json"


def test_options_are_answer_first_then_wrong_answers():
    items = load_normedqa(NORMEDQA)
    assert len(items) == 1315
    first = items[0]
    assert first.answer.startswith("Du ringer kirurg")
    assert len(first.options) == 4
    assert len({i.id for i in items}) == len(items)
    assert any(len(i.options) == 1 for i in items)


@pytest.mark.slow
def test_scoring_three_items_with_the_bundled_model():
    items = load_normedqa(NORMEDQA)[:3]
    single = NorMedQAItem(id="single", question="Hva er 2 + 2?", options=["4"])
    [result] = normedqa.evaluate([ModelSetup(name="smollm2")], [*items, single], n_ctx=1024)
    assert result.skipped_single_option == 1
    assert len(result.items) == 3
    for scored, item in zip(result.items, items, strict=True):
        assert len(scored.logprob_sum) == len(item.options)
        assert all(math.isfinite(v) and v < 0 for v in scored.logprob_sum)
        assert scored.logprob_norm[0] == pytest.approx(scored.logprob_sum[0] / len(item.options[0]))
    accuracy = result.accuracy("norm")
    assert accuracy.n == 3 and 0.0 <= accuracy.mean <= 1.0
    assert accuracy.low <= accuracy.mean <= accuracy.high


@pytest.mark.slow
def test_a_likely_continuation_beats_an_unlikely_one():
    from llama_cpp import Llama

    from rag import bundled

    llm = Llama(model_path=str(bundled.smollm2_path()), n_ctx=256, logits_all=True, verbose=False)
    scorer = normedqa.OptionScorer(llm)
    prefix = "The capital of France is"
    assert scorer.continuation_logprob(prefix, " Paris") > scorer.continuation_logprob(prefix, " banana")
    llm.close()


def test_http_set_ups_are_skipped_with_a_reason():
    [result] = normedqa.evaluate([ModelSetup(name="server", backend="openai", base_url="http://127.0.0.1:9/v1")], [], 256)
    assert result.skipped_backend and result.items == []
