"""The RAGAS judge: schema bounds, applicability, failures counted (a judge
that cannot be reached), and a real judgement by the bundled SmolLM2 served by
llama-cpp-python's OpenAI-compatible server on loopback."""

import math

import pytest
from ragas.metrics.collections.faithfulness.util import StatementGeneratorOutput

from eval import judge_prompts
from eval.cache import JsonCache
from eval.judge_server import judge_endpoint
from eval.ragas_judge import (
    JUDGE_METRICS,
    JudgeInput,
    JudgeOptions,
    RagasJudge,
    bounded_schema,
    not_applicable_reason,
)
from rag.embeddings import get_embedder
from rag.settings import ModelSetup
from tests.conftest import make_settings

CONTEXTS = [
    "Ved akutt forverring av kols gis oksygen med mål om SpO2 88–92 %.",
    "Ta ny blodgass 30–60 minutter etter oppstart av oksygen.",
]
ANSWERED = JudgeInput(
    question="Hva er målet for oksygenmetning ved kols-forverring?",
    answer="Målet er SpO2 88–92 % [1].",
    contexts=CONTEXTS,
    reference="SpO2 88–92 %.",
    answerable=True,
    refused=False,
)
REFUSED = JudgeInput(
    question="Hva er dosen levetiracetam til barn?",
    answer="Jeg fant ikke svaret i kildene.",
    contexts=CONTEXTS,
    reference="",
    answerable=False,
    refused=True,
)


def test_bounded_schema_caps_every_array_and_string():
    schema = bounded_schema(StatementGeneratorOutput.model_json_schema(), max_items=5, max_chars=100)
    statements = schema["properties"]["statements"]
    assert statements["maxItems"] == 5
    assert statements["items"]["maxLength"] == 100


def test_not_applicable_is_not_a_failure():
    assert not_applicable_reason("faithfulness", REFUSED)
    assert not_applicable_reason("context_recall", REFUSED) == "no reference answer"
    assert all(not_applicable_reason(m, ANSWERED) == "" for m in JUDGE_METRICS)


def test_prompts_are_norwegian():
    for prompt in (
        judge_prompts.NorwegianStatementGeneratorPrompt(),
        judge_prompts.NorwegianNLIStatementPrompt(),
        judge_prompts.NorwegianAnswerRelevancePrompt(),
        judge_prompts.NorwegianContextPrecisionPrompt(),
        judge_prompts.NorwegianContextRecallPrompt(),
    ):
        assert prompt.language == "norwegian"
        assert "Einstein" not in prompt._generate_examples()


def test_an_unreachable_judge_fails_every_judgement_visibly(tmp_path):
    # Port 9 (discard) on loopback: nothing listens, the connection is refused.
    setup = ModelSetup(name="judge", backend="openai", base_url="http://127.0.0.1:9/v1")
    judge = RagasJudge(
        setup,
        get_embedder(make_settings(tmp_path)),
        JudgeOptions(retries=1, backoff_s=0.01, timeout_s=5),
        cache=JsonCache(tmp_path / "cache"),
    )
    results = judge.judge([("a", ANSWERED), ("r", REFUSED)], JUDGE_METRICS)
    assert len(results) == 8
    answered = [results[("a", m)] for m in JUDGE_METRICS]
    assert all(j.failed and j.value is None and j.attempts == 2 for j in answered)
    assert all("Connection" in j.error for j in answered)
    refused = [results[("r", m)] for m in JUDGE_METRICS]
    assert all(not j.failed and j.not_applicable for j in refused)
    assert not (tmp_path / "cache" / "judgements").exists()  # failures are retried next run, not cached


def test_a_judgement_two_setups_share_is_made_once(tmp_path):
    # Context recall reads the question, the reference and the contexts, not the answer:
    # two set-ups' answers to one question are one judgement (one judge call, here failing).
    setup = ModelSetup(name="judge", backend="openai", base_url="http://127.0.0.1:9/v1")
    judge = RagasJudge(setup, get_embedder(make_settings(tmp_path)), JudgeOptions(retries=0, timeout_s=5))
    quote = JudgeInput(**{**ANSWERED.__dict__, "answer": "«Mål: SpO2 88–92 %.» [1]"})
    results = judge.judge([("a", ANSWERED), ("b", quote)], ["context_recall", "faithfulness"])
    assert judge.llm.stats.calls_per_metric == {"context_recall": 1, "faithfulness": 2}
    assert results[("a", "context_recall")].error == results[("b", "context_recall")].error != ""
    assert results[("a", "context_recall")] is not results[("b", "context_recall")]


@pytest.mark.slow
def test_real_judgement_with_the_bundled_model(tmp_path):
    options = JudgeOptions(max_tokens=256, retries=1, backoff_s=0.1, timeout_s=240, answer_relevancy_strictness=1)
    cache = JsonCache(tmp_path / "cache")
    embedder = get_embedder(make_settings(tmp_path))
    with judge_endpoint(ModelSetup(name="judge", n_ctx=2048), tmp_path) as endpoint:
        assert endpoint.base_url.startswith("http://127.0.0.1:")
        judge = RagasJudge(endpoint, embedder, options, cache=cache, identity="smollm2")
        results = judge.judge([("a", ANSWERED)], ["answer_relevancy", "context_precision"])
        calls = judge.llm.stats.calls
        assert calls >= 3  # one question + one verdict per context
        for judgement in results.values():
            # A 135M judge may fail; then the failure is recorded, never a silent NaN.
            if judgement.failed:
                assert judgement.value is None and judgement.error
            else:
                assert judgement.value is not None and math.isfinite(judgement.value)
                assert 0.0 <= judgement.value <= 1.0 + 1e-9
        # Judged again: successes come from the cache without judge calls.
        again = RagasJudge(endpoint, embedder, options, cache=cache, identity="smollm2")
        second = again.judge([("a", ANSWERED)], ["answer_relevancy", "context_precision"])
        for metric, judgement in results.items():
            if not judgement.failed:
                assert second[metric].cached and second[metric].value == judgement.value
        failed_before = sum(1 for j in results.values() if j.failed)
        assert again.llm.stats.calls == 0 or failed_before > 0
    assert (tmp_path / "judge_server.log").exists()


def test_integers_in_the_schema_are_binary_verdicts():
    from ragas.metrics.collections.context_recall.util import ContextRecallOutput

    schema = bounded_schema(ContextRecallOutput.model_json_schema(), max_items=4, max_chars=50)
    attributed = schema["$defs"]["ContextRecallClassification"]["properties"]["attributed"]
    assert attributed["enum"] == [0, 1]
