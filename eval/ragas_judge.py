"""RAGAS 0.4 metric collections (faithfulness, answer relevancy, context
precision with reference, context recall) with a local judge.

Why not `ragas.llms.llm_factory`: it drives the judge through instructor's JSON
mode, which asks only for *some* JSON; small local judges then ramble past
max_tokens or answer with the wrong keys. Instructor's JSON_SCHEMA mode sends
``response_format.type = "json_schema"``, which llama-cpp-python's server
rejects (HTTP 500, it accepts only ``json_object`` with a ``schema``). So the
judge here is a small `InstructorBaseRagasLLM` of our own that sends the output
model's JSON schema in the dialect the server understands; llama.cpp turns it
into a grammar, so the output always parses. Arrays and strings in the schema
get upper bounds, which keeps a constrained judge from looping until it hits
max_tokens.

Every judgement has a timeout, is retried with exponential backoff (a little
warmer each time, so a retry is not the same deterministic failure), and ends
either as a finite score or as a counted failure with its reason. NaN is a
failure. Nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import openai
from pydantic import BaseModel, Field, ValidationError
from ragas.embeddings.base import BaseRagasEmbedding
from ragas.llms.base import InstructorBaseRagasLLM
from ragas.metrics.collections import AnswerRelevancy, ContextPrecisionWithReference, ContextRecall, Faithfulness
from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential
from tqdm import tqdm

from eval import judge_prompts
from eval.cache import JsonCache, cache_key
from eval.metrics import strip_citations
from rag.settings import ModelSetup

JUDGE_METRICS = ("faithfulness", "answer_relevancy", "context_precision", "context_recall")
# The metrics score in [0, 1], except answer relevancy, a cosine that can dip
# below 0; a score above 1 means the judge broke the output's contract.
SCORE_RANGE = (-1.0, 1.0)
_TOLERANCE = 1e-6
JsonDialect = Literal["json_object_schema", "json_schema"]

# Retry attempt number of the running judgement (each asyncio task has its own).
_attempt: contextvars.ContextVar[int] = contextvars.ContextVar("judge_attempt", default=0)
# Metric of the running judgement, to count judge calls per metric.
_metric: contextvars.ContextVar[str] = contextvars.ContextVar("judge_metric", default="")


class JudgeOptions(BaseModel):
    """How the judge is driven; part of every judgement's cache key."""

    max_tokens: int = Field(default=2048, description="Output tokens per judge call (RAGAS's 1,024 truncates lists)")
    temperature: float = 0.0
    retry_temperature_step: float = Field(default=0.3, description="Added to the temperature on each retry")
    concurrency: int = Field(default=1, ge=1, description="Judgements in flight; 1-2 on a CPU")
    retries: int = Field(default=2, ge=0, description="Retries after a failed judgement")
    backoff_s: float = Field(default=1.0, description="First retry wait; doubles each time")
    timeout_s: float = Field(default=300.0, description="Per judgement (all of one metric's judge calls)")
    json_dialect: JsonDialect = Field(
        default="json_object_schema",
        description="json_object_schema: llama.cpp / llama-cpp-python servers; json_schema: OpenAI, vLLM",
    )
    max_list_items: int = Field(default=12, description="Upper bound on arrays in the judge's JSON")
    max_string_chars: int = Field(default=400, description="Upper bound on strings in the judge's JSON")
    answer_relevancy_strictness: int = Field(default=3, ge=1, description="Questions generated per answer")


class JudgeOutputError(RuntimeError):
    """The judge answered, but not with a usable judgement."""


def bounded_schema(schema: dict[str, Any], max_items: int, max_chars: int) -> dict[str, Any]:
    """The JSON schema with upper bounds on every array and string, and every
    integer restricted to 0 or 1: in the RAGAS outputs we use, each integer is a
    binary verdict (verdict, attributed, noncommittal), and a small judge that
    may write 3 there turns context recall into 1.3."""
    schema = copy.deepcopy(schema)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "array":
                node.setdefault("maxItems", max_items)
            if node.get("type") == "string":
                node.setdefault("maxLength", max_chars)
            if node.get("type") == "integer":
                node.setdefault("enum", [0, 1])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


@dataclass
class JudgeCallStats:
    calls: int = 0
    truncated: int = 0
    unparseable: int = 0
    seconds: float = 0.0
    calls_per_metric: dict[str, int] = field(default_factory=dict)


class StructuredJudgeLLM(InstructorBaseRagasLLM):
    """A RAGAS judge over an OpenAI-compatible server with schema-constrained output."""

    def __init__(self, client: openai.AsyncOpenAI, model: str, options: JudgeOptions):
        self.client = client
        self.model = model
        self.options = options
        self.stats = JudgeCallStats()

    def _response_format(self, response_model: type[BaseModel]) -> dict[str, Any]:
        schema = bounded_schema(
            response_model.model_json_schema(), self.options.max_list_items, self.options.max_string_chars
        )
        if self.options.json_dialect == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": response_model.__name__, "schema": schema}}
        return {"type": "json_object", "schema": schema}

    async def agenerate(self, prompt: str, response_model: type[BaseModel]) -> Any:
        temperature = self.options.temperature + self.options.retry_temperature_step * _attempt.get()
        started = time.perf_counter()
        self.stats.calls += 1
        metric = _metric.get()
        self.stats.calls_per_metric[metric] = self.stats.calls_per_metric.get(metric, 0) + 1
        try:
            response = await self.client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": prompt}],
                response_format=self._response_format(response_model),  # type: ignore[arg-type]
                max_tokens=self.options.max_tokens,
                temperature=temperature,
            )
        finally:
            self.stats.seconds += time.perf_counter() - started
        choice = response.choices[0]
        if choice.finish_reason == "length":
            self.stats.truncated += 1
            raise JudgeOutputError(f"judge output truncated at max_tokens={self.options.max_tokens}")
        try:
            # strict=False: a raw control character inside a string (which a
            # grammar-constrained small model does write) is not worth a failure.
            return response_model.model_validate(json.loads(choice.message.content or "", strict=False))
        except (ValidationError, json.JSONDecodeError) as exc:
            self.stats.unparseable += 1
            raise JudgeOutputError(f"judge output does not fit {response_model.__name__}: {exc}") from exc

    def generate(self, prompt: str, response_model: type[BaseModel]) -> Any:
        return asyncio.run(self.agenerate(prompt, response_model))


class LocalEmbeddings(BaseRagasEmbedding):
    """RAGAS embeddings over fagprat's own sentence-transformers embedder
    (`rag.embeddings`), so the model and its query prefix are the configured ones."""

    def __init__(self, embedder: Any):
        super().__init__(cache=None)
        self.embedder = embedder

    def embed_text(self, text: str, **kwargs: Any) -> list[float]:
        return self.embedder.embed_queries([text])[0].tolist()

    async def aembed_text(self, text: str, **kwargs: Any) -> list[float]:
        return await asyncio.to_thread(self.embed_text, text)

    def embed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        return np.asarray(self.embedder.embed_queries(list(texts))).tolist()

    async def aembed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_texts, texts)


@dataclass(frozen=True)
class JudgeInput:
    """One answer to judge: what the set-up produced for one gold question."""

    question: str
    answer: str
    contexts: list[str]
    reference: str
    answerable: bool
    refused: bool


@dataclass
class Judgement:
    metric: str
    value: float | None = None
    error: str = ""  # set = a failed judgement (counted in the report)
    not_applicable: str = ""  # set = the metric does not apply (not a failure)
    attempts: int = 0
    seconds: float = 0.0
    cached: bool = False

    @property
    def failed(self) -> bool:
        return bool(self.error)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def not_applicable_reason(metric: str, item: JudgeInput) -> str:
    if metric in ("faithfulness", "answer_relevancy"):
        if item.refused:
            return "refused (no answer to judge)"
        if not item.answer.strip():
            return "empty answer"
    if metric == "faithfulness" and not item.contexts:
        return "no retrieved context"
    if metric in ("context_precision", "context_recall"):
        if not item.answerable or not item.reference.strip():
            return "no reference answer"
        if not item.contexts:
            return "no retrieved context"
    return ""


def build_metrics(llm: StructuredJudgeLLM, embeddings: BaseRagasEmbedding, options: JudgeOptions) -> dict[str, Any]:
    faithfulness = Faithfulness(llm=llm)
    faithfulness.statement_generator_prompt = judge_prompts.NorwegianStatementGeneratorPrompt()
    faithfulness.nli_statement_prompt = judge_prompts.NorwegianNLIStatementPrompt()
    relevancy = AnswerRelevancy(llm=llm, embeddings=embeddings, strictness=options.answer_relevancy_strictness)
    relevancy.prompt = judge_prompts.NorwegianAnswerRelevancePrompt()
    precision = ContextPrecisionWithReference(llm=llm, name="context_precision")
    precision.prompt = judge_prompts.NorwegianContextPrecisionPrompt()
    recall = ContextRecall(llm=llm)
    recall.prompt = judge_prompts.NorwegianContextRecallPrompt()
    return {
        "faithfulness": faithfulness,
        "answer_relevancy": relevancy,
        "context_precision": precision,
        "context_recall": recall,
    }


def metric_arguments(metric: str, item: JudgeInput) -> dict[str, Any]:
    # The judge sees the answer without [n] markers: they are not claims.
    answer = strip_citations(item.answer).strip()
    if metric == "faithfulness":
        return {"user_input": item.question, "response": answer, "retrieved_contexts": item.contexts}
    if metric == "answer_relevancy":
        return {"user_input": item.question, "response": answer}
    if metric == "context_precision":
        return {"user_input": item.question, "reference": item.reference, "retrieved_contexts": item.contexts}
    if metric == "context_recall":
        return {"user_input": item.question, "reference": item.reference, "retrieved_contexts": item.contexts}
    raise ValueError(f"unknown judge metric {metric!r}; known: {', '.join(JUDGE_METRICS)}")


@dataclass
class RagasJudge:
    setup: ModelSetup  # an OpenAI-compatible endpoint (see eval.judge_server)
    embedder: Any  # rag.embeddings.Embedder for answer relevancy
    options: JudgeOptions = field(default_factory=JudgeOptions)
    cache: JsonCache | None = None
    identity: str = ""  # what the judge is (model file, server model), for the cache key

    def __post_init__(self) -> None:
        self.llm = StructuredJudgeLLM(self._client(), self.setup.server_model or self.setup.name, self.options)
        self.metrics = build_metrics(self.llm, LocalEmbeddings(self.embedder), self.options)

    def _client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=self.setup.base_url,
            api_key=self.setup.api_key.get_secret_value(),
            timeout=self.options.timeout_s,
            max_retries=0,  # retries are ours, per judgement, with backoff
        )

    def _key(self, metric: str, item: JudgeInput) -> str:
        options = self.options.model_dump(exclude={"concurrency", "timeout_s", "retries", "backoff_s"})
        return cache_key(
            metric=metric,
            prompts=judge_prompts.PROMPT_VERSION,
            judge=self.identity or self.setup.name,
            embedder=getattr(self.embedder, "name", ""),
            options=options,
            # Only what this metric reads: context precision and recall of a
            # question are then judged once, not once per set-up.
            inputs=metric_arguments(metric, item),
        )

    async def _judge_one(self, metric: str, item: JudgeInput, limit: asyncio.Semaphore) -> Judgement:
        reason = not_applicable_reason(metric, item)
        if reason:
            return Judgement(metric, not_applicable=reason)
        key = self._key(metric, item)
        if self.cache is not None and (hit := self.cache.get("judgements", key)) is not None:
            return Judgement(**{**hit, "cached": True})
        judgement = Judgement(metric)
        started = time.perf_counter()
        async with limit:
            try:
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(self.options.retries + 1),
                    wait=wait_exponential(multiplier=self.options.backoff_s, max=30),
                    reraise=True,
                ):
                    with attempt:
                        judgement.attempts = attempt.retry_state.attempt_number
                        _attempt.set(judgement.attempts - 1)
                        _metric.set(metric)
                        result = await asyncio.wait_for(
                            self.metrics[metric].ascore(**metric_arguments(metric, item)), self.options.timeout_s
                        )
                        value = float(result.value) if result.value is not None else math.nan
                        if not math.isfinite(value):
                            raise JudgeOutputError("score is NaN (e.g. no statements extracted)")
                        if not SCORE_RANGE[0] - _TOLERANCE <= value <= SCORE_RANGE[1] + _TOLERANCE:
                            raise JudgeOutputError(f"score {value} outside {SCORE_RANGE}")
                        judgement.value = value
            except Exception as exc:  # every failure is recorded, none is raised or dropped
                judgement.error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
        judgement.seconds = time.perf_counter() - started
        if self.cache is not None and not judgement.failed:
            self.cache.put("judgements", key, judgement.to_dict())
        return judgement

    async def ajudge(self, items: Sequence[tuple[str, JudgeInput]], metrics: Sequence[str]) -> dict[tuple[str, str], Judgement]:
        for metric in metrics:
            if metric not in JUDGE_METRICS:
                raise ValueError(f"unknown judge metric {metric!r}; known: {', '.join(JUDGE_METRICS)}")
        # An async HTTP client belongs to one event loop; each judge() run has its own.
        self.llm.client = self._client()
        limit = asyncio.Semaphore(self.options.concurrency)
        # Metric by metric: consecutive judge calls then share the prompt's
        # instruction and examples, which llama.cpp keeps in its KV cache.
        # Identical judgements (the same inputs for a metric, e.g. context
        # recall of one question in two set-ups) run once; the rest share it.
        jobs: dict[str, tuple[str, JudgeInput]] = {}
        owners: dict[tuple[str, str], str] = {}
        for metric in metrics:
            for key, item in items:
                job = f"{metric}:{key}" if not_applicable_reason(metric, item) else self._key(metric, item)
                jobs.setdefault(job, (metric, item))
                owners[(key, metric)] = job
        done: dict[str, Judgement] = {}
        with tqdm(total=len(jobs), desc="RAGAS-dommer", unit="vurd") as bar:

            async def run(job: str, metric: str, item: JudgeInput) -> None:
                done[job] = await self._judge_one(metric, item, limit)
                bar.update(1)

            try:
                await asyncio.gather(*(run(job, metric, item) for job, (metric, item) in jobs.items()))
            finally:
                await self.llm.client.close()
        return {owner: copy.copy(done[job]) for owner, job in owners.items()}

    def judge(self, items: Sequence[tuple[str, JudgeInput]], metrics: Sequence[str]) -> dict[tuple[str, str], Judgement]:
        return asyncio.run(self.ajudge(items, metrics))
