"""NorMedQA: a closed-book check of what a model itself knows of Norwegian
medicine, independent of retrieval.

Each option is scored by its log-likelihood as the continuation of the question
(in-process llama.cpp with logits for every position). Two scores per option:

- ``sum``: total log-probability of the option's tokens. Favours short options.
- ``norm``: the sum divided by the option's length in characters (lm-eval's
  ``acc_norm``). **Primary**: NorMedQA's options differ a lot in length, and a
  character count is the same for every tokenizer, so models with different
  vocabularies are compared on equal terms.

Items with a single option cannot be scored and are counted as skipped; so are
items that do not fit the context window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from eval.datasets import NorMedQAItem
from eval.models import resolved
from eval.stats import Estimate, wilson_interval
from rag.settings import ModelSetup

PROMPT = "Følgende er et flervalgsspørsmål fra en norsk medisinsk eksamen.\n\nSpørsmål: {question}\nSvar:"
PRIMARY = "norm"


@dataclass
class ItemResult:
    item_id: str
    logprob_sum: list[float]
    logprob_norm: list[float]
    correct_index: int

    @property
    def pick_sum(self) -> int:
        return int(np.argmax(self.logprob_sum))

    @property
    def pick_norm(self) -> int:
        return int(np.argmax(self.logprob_norm))


@dataclass
class ModelResult:
    model: str
    items: list[ItemResult] = field(default_factory=list)
    skipped_single_option: int = 0
    skipped_too_long: int = 0
    skipped_backend: str = ""  # why the model could not be scored at all

    def accuracy(self, kind: str = PRIMARY) -> Estimate:
        picks = [(r.pick_norm if kind == "norm" else r.pick_sum) == r.correct_index for r in self.items]
        return wilson_interval(sum(picks), len(picks))


def _log_softmax(rows: np.ndarray) -> np.ndarray:
    rows = rows.astype(np.float64)
    peak = rows.max(axis=-1, keepdims=True)
    return rows - peak - np.log(np.exp(rows - peak).sum(axis=-1, keepdims=True))


class OptionScorer:
    """Log-likelihood of continuations with one llama.cpp model. The question's
    tokens stay in the KV cache across its options."""

    def __init__(self, llm):  # llama_cpp.Llama created with logits_all=True
        self.llm = llm

    def continuation_logprob(self, prefix: str, continuation: str) -> float:
        llm = self.llm
        prefix_tokens = llm.tokenize(prefix.encode("utf-8"), add_bos=True)
        tokens = llm.tokenize((prefix + continuation).encode("utf-8"), add_bos=True)
        if len(tokens) > llm.n_ctx():
            raise OverflowError(f"{len(tokens)} tokens > n_ctx {llm.n_ctx()}")
        # Where the continuation's tokens start (a merge at the boundary moves it left).
        start = 0
        while start < min(len(prefix_tokens), len(tokens)) and prefix_tokens[start] == tokens[start]:
            start += 1
        start = max(start, 1)  # the first token has no prediction to score
        # Reuse what is already evaluated (the shared question prefix).
        cached = 0
        evaluated = llm.input_ids[: llm.n_tokens]
        while cached < min(len(evaluated), len(tokens) - 1) and evaluated[cached] == tokens[cached]:
            cached += 1
        llm.n_tokens = cached
        llm.eval(tokens[cached:])
        rows = _log_softmax(llm.scores[start - 1 : len(tokens) - 1])
        targets = np.asarray(tokens[start:])
        return float(rows[np.arange(len(targets)), targets].sum())

    def score_item(self, item: NorMedQAItem) -> ItemResult:
        prefix = PROMPT.format(question=item.question)
        sums = [self.continuation_logprob(prefix, " " + option) for option in item.options]
        norms = [s / max(1, len(option)) for s, option in zip(sums, item.options, strict=True)]
        return ItemResult(item.id, sums, norms, item.answer_index)


def load_scoring_llm(setup: ModelSetup, n_ctx: int):
    from llama_cpp import Llama

    setup = resolved(setup)
    return Llama(
        model_path=setup.model_path,
        n_ctx=n_ctx,
        n_gpu_layers=setup.n_gpu_layers,
        n_threads=setup.n_threads,
        logits_all=True,
        seed=setup.seed,
        verbose=False,
    )


def evaluate_model(setup: ModelSetup, items: Sequence[NorMedQAItem], n_ctx: int) -> ModelResult:
    result = ModelResult(model=setup.name)
    if setup.backend != "llamacpp":
        result.skipped_backend = "needs a GGUF file run in-process (log-likelihoods); an HTTP server set-up is skipped"
        return result
    scorer = OptionScorer(load_scoring_llm(setup, n_ctx))
    try:
        for item in tqdm(items, desc=f"NorMedQA {setup.name}", unit="sp"):
            if len(item.options) < 2:
                result.skipped_single_option += 1
                continue
            try:
                scored = scorer.score_item(item)
            except OverflowError:
                result.skipped_too_long += 1
                continue
            if all(math.isfinite(v) for v in scored.logprob_sum):
                result.items.append(scored)
    finally:
        scorer.llm.close()
    return result


def evaluate(setups: Sequence[ModelSetup], items: Sequence[NorMedQAItem], n_ctx: int) -> list[ModelResult]:
    return [evaluate_model(setup, items, n_ctx) for setup in setups]
