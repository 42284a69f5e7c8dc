"""Run an evaluation: every set-up answers every gold question through the real
answering service, then judge-free metrics, the RAGAS judge and the benchmarks,
and a report folder.

Answers and judgements are cached under `cache_dir` (keyed by set-up, question
and the settings that change them), so a re-run that only adds a metric or
re-scores regenerates nothing. Everything the report needs is written to
`results.json` in the run folder; `fagprat eval report RUN_DIR` re-renders it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from eval import normedqa, norquad, report
from eval.cache import JsonCache, cache_key
from eval.config import SETUP_ANSWER_SETTINGS, EvalConfig, EvalSetup
from eval.datasets import load_normedqa
from eval.models import resolved
from eval.questions import GoldQuestion, load_questions
from eval.records import answer_record, judge_free_scores, record_shown_text
from rag.errors import ConfigurationError, FagpratError
from rag.models import Answer, Question
from rag.settings import ModelSetup, Settings

RESULTS_FILE = "results.json"
QUOTE_MODEL = "none (quotes from the sources)"
# Settings that only name or place things, not what an answer will be.
_SETTINGS_NOT_IN_ANSWER_KEY = {"models", "audit_enabled", "audit_log_path", "users_file", "group_map_file"}


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except OSError:
        return ""


def machine_info() -> dict[str, Any]:
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def setup_as_flat_settings(setup: ModelSetup) -> dict[str, Any]:
    """The default (flat llm_*) settings for one set-up."""
    return {
        "llm_name": setup.name,
        "llm_backend": setup.backend,
        "llm_model_path": setup.model_path,
        "llm_base_url": setup.base_url,
        "llm_api_key": setup.api_key,
        "llm_server_model": setup.server_model,
        "llm_chat_format": setup.chat_format,
        "llm_n_ctx": setup.n_ctx,
        "llm_n_gpu_layers": setup.n_gpu_layers,
        "llm_n_threads": setup.n_threads,
        "llm_max_tokens": setup.max_tokens,
        "llm_temperature": setup.temperature,
        "llm_timeout_s": setup.request_timeout_s,
    }


def setup_settings(config: EvalConfig, setup: EvalSetup, data_dir: Path) -> Settings:
    """A Settings for one set-up: the run's shared settings, the set-up's own
    overrides, and the set-up as the default model; retrieval is the same for all."""
    concrete = resolved(setup)
    model = ModelSetup.model_validate(concrete.model_dump(include=set(ModelSetup.model_fields)))
    return Settings(
        **{
            "audit_enabled": False,  # evaluation questions are not staff questions
            **config.settings,
            **setup.settings,
            **setup.answer_settings(),
            **setup_as_flat_settings(model),
            "models": [],
            "data_dir": data_dir,
        }
    )


def answer_key(settings: Settings, setup: EvalSetup, question: GoldQuestion, index_version: str) -> str:
    relevant = settings.model_dump(mode="json", exclude=_SETTINGS_NOT_IN_ANSWER_KEY)
    relevant.pop("llm_api_key", None)
    return cache_key(
        settings=relevant,
        setup=setup.model_dump(mode="json", exclude={"api_key"}),
        question=question.model_dump(),
        index=index_version,
    )


def corpus_fingerprint(root: Path) -> str:
    """Changes when any file under the corpus is added, removed or modified, so
    cached answers from an older corpus are not reused."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return cache_key(files=[(str(p.relative_to(root.parent)), p.stat().st_size, p.stat().st_mtime_ns) for p in files])


def base_settings(config: EvalConfig) -> Settings:
    """The fagprat settings every set-up starts from."""
    return Settings(**{"audit_enabled": False, **config.settings})


def index_cache_dir(config: EvalConfig, base: Settings) -> Path:
    """Where the corpus is indexed in the cache: one folder per corpus, embedder, chunking and BM25."""
    from rag.embeddings import get_embedder

    assert config.corpus is not None
    identity = cache_key(
        corpus=str(config.corpus.resolve()),
        embedding=get_embedder(base).identity,  # model, version and prefixes: a new default embedder re-indexes
        chunking=[base.chunk_size_tokens, base.chunk_overlap_tokens],
        bm25=[base.bm25_language, base.bm25_k1, base.bm25_b, base.bm25_avg_doc_tokens],
    )
    return config.cache_dir / "index" / identity[:16]


def prepare_index(config: EvalConfig, base: Settings) -> tuple[Path, dict[str, Any]]:
    """The data_dir to answer from: the configured index, or the corpus ingested
    once into the cache (incremental: unchanged files are skipped)."""
    if config.index_dir is not None:
        # An existing index is taken as it is; give a new index_dir when it changes.
        return config.index_dir, {"index_dir": str(config.index_dir), "version": str(config.index_dir.resolve())}
    from ingest.pipeline import ingest_path  # ingest is only needed when indexing here

    data_dir = index_cache_dir(config, base)
    started = time.perf_counter()
    ingest_report = ingest_path(base.model_copy(update={"data_dir": data_dir}), config.corpus, progress=True)
    info = ingest_report.as_dict()
    info["index_dir"] = str(data_dir)
    info["version"] = corpus_fingerprint(config.corpus)
    info["seconds_total"] = round(time.perf_counter() - started, 2)
    if ingest_report.nothing_done:
        raise FagpratError(
            f"nothing could be indexed from {config.corpus}",
            user_message=f"Ingenting kunne indekseres fra {config.corpus}. Se fagprat ingest for detaljer.",
        )
    return data_dir, info


def generate_answers(
    config: EvalConfig, questions: list[GoldQuestion], data_dir: Path, index_version: str, cache: JsonCache
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    from rag.service import get_service

    records: list[dict[str, Any]] = []
    seconds: dict[str, float] = {}
    for setup in config.setups:
        settings = setup_settings(config, setup, data_dir)
        service = get_service(settings)
        started = time.perf_counter()
        for question in tqdm(questions, desc=f"Svar {setup.name}", unit="sp"):
            key = answer_key(settings, setup, question, index_version)
            cached = cache.get("answers", key)
            answer: Answer | None = None
            error = ""
            if cached is not None:
                answer = Answer.model_validate(cached)
            else:
                try:
                    answer = service.answer(
                        Question(text=question.question, access_groups=question.access_groups, user="eval")
                    )
                except FagpratError as exc:  # counted as a failed answer, shown in the report
                    error = f"{type(exc).__name__}: {exc}"
                if answer is not None:
                    cache.put("answers", key, answer.model_dump(mode="json"))
            record = answer_record(setup.name, question, answer, error)
            record["answer_cached"] = cached is not None
            records.append(record)
        seconds[setup.name] = round(time.perf_counter() - started, 2)
    return records, seconds


def judge_records(config: EvalConfig, records: list[dict[str, Any]], run_dir: Path, cache: JsonCache) -> dict[str, Any]:
    from eval.judge_server import judge_endpoint
    from eval.ragas_judge import JudgeInput, RagasJudge
    from rag.embeddings import get_embedder

    assert config.judge is not None
    embedder = get_embedder(
        Settings(
            **config.settings,
            embedding_model=config.embedding.model,
            embedding_query_prefix=config.embedding.query_prefix,
            embedding_passage_prefix=config.embedding.passage_prefix,
        )
    )
    items = []
    for index, record in enumerate(records):
        if record.get("error"):
            continue
        items.append(
            (
                str(index),
                JudgeInput(
                    question=record["question"],
                    # What the user read: the shown sentences, not a quote answer's heading line.
                    answer=record_shown_text(record) or record["answer"],
                    contexts=[p["text"] for p in record["retrieved"]],
                    reference=record["reference_answer"],
                    answerable=record["answerable"],
                    refused=record["refused"],
                ),
            )
        )
    judge_identity = config.judge.model_dump_json(exclude={"api_key"})
    started = time.perf_counter()
    with judge_endpoint(config.judge, run_dir) as endpoint:
        judge = RagasJudge(endpoint, embedder, config.judge_options, cache=cache, identity=judge_identity)
        results = judge.judge(items, config.judge_metrics)
    for (index, metric), judgement in results.items():
        records[int(index)].setdefault("judgements", {})[metric] = judgement.to_dict()
    return {
        "judge": config.judge.name,
        "calls": judge.llm.stats.calls,
        "calls_per_metric": judge.llm.stats.calls_per_metric,
        "truncated": judge.llm.stats.truncated,
        "unparseable": judge.llm.stats.unparseable,
        "judge_call_seconds": round(judge.llm.stats.seconds, 2),
        "judgements": len(results),
        "cached": sum(1 for j in results.values() if j.cached),
        "seconds": round(time.perf_counter() - started, 2),
    }


def describe_setups(config: EvalConfig) -> dict[str, dict[str, Any]]:
    """How each set-up answers, for the report's reader."""
    described = {}
    for setup in config.setups:
        model = (setup.model_path or "bundled SmolLM2-135M") if setup.backend == "llamacpp" else setup.base_url
        if config.setup_setting(setup, "answer_mode") == "quote":
            model = QUOTE_MODEL
        described[setup.name] = {
            "model": model,
            "backend": setup.backend,
            **{name: config.setup_setting(setup, name) for name in SETUP_ANSWER_SETTINGS},
        }
        if model == QUOTE_MODEL:  # quotes: no model to ask, nothing unverified to keep
            described[setup.name].update(answerability_gate="not used", keep_unverified_sentences=False)
    return described


def normedqa_setups(config: EvalConfig) -> tuple[list[ModelSetup], list[str]]:
    """One entry per distinct model: set-ups that differ only in how they answer
    (gate on/off, keep unverified) share a model, scored once under their joined
    names; quote-mode set-ups use no model and are left out (listed)."""
    by_model: dict[tuple[str, str, str], list[EvalSetup]] = {}
    quote_only: list[str] = []
    for setup in config.setups:
        if config.setup_setting(setup, "answer_mode") == "quote":
            quote_only.append(setup.name)
            continue
        identity = (setup.backend, setup.model_path if setup.backend == "llamacpp" else setup.base_url, setup.chat_format)
        by_model.setdefault(identity, []).append(setup)
    setups = [
        ModelSetup.model_validate(
            {**group[0].model_dump(include=set(ModelSetup.model_fields)), "name": " = ".join(s.name for s in group)}
        )
        for group in by_model.values()
    ]
    return setups, quote_only


def run_benchmarks(config: EvalConfig, base: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    bench = config.benchmarks
    if bench.normedqa:
        started = time.perf_counter()
        items = load_normedqa(base.datasets_dir / "normedqa" / "normedqa.json")
        if config.limits.normedqa:
            items = items[: config.limits.normedqa]
        setups, quote_only = normedqa_setups(config)
        results = normedqa.evaluate(setups, items, bench.normedqa_n_ctx)
        out["normedqa"] = {
            "items": len(items),
            "primary": normedqa.PRIMARY,
            "not_scored_quote_mode": quote_only,
            "seconds": round(time.perf_counter() - started, 2),
            "models": [
                {
                    "model": r.model,
                    "accuracy_norm": asdict(r.accuracy("norm")),
                    "accuracy_sum": asdict(r.accuracy("sum")),
                    "scored": len(r.items),
                    "skipped_single_option": r.skipped_single_option,
                    "skipped_too_long": r.skipped_too_long,
                    "skipped_backend": r.skipped_backend,
                    "items": [asdict(i) for i in r.items],
                }
                for r in results
            ],
        }
    if bench.norquad:
        started = time.perf_counter()
        results = norquad.evaluate(bench.embedders, base, split=bench.norquad_split, limit=config.limits.norquad)
        out["norquad"] = {
            "split": bench.norquad_split,
            "questions": len(results[0].ranks) if results else 0,
            "seconds": round(time.perf_counter() - started, 2),
            "embedders": [
                {"name": r.name, "scores": {k: asdict(v) for k, v in r.scores().items()}, "ranks": r.ranks, "seconds": round(r.seconds, 2)}
                for r in results
            ],
        }
    return out


def select_questions(questions: list[GoldQuestion], ids: list[str]) -> list[GoldQuestion]:
    if not ids:
        return questions
    by_id = {q.id: q for q in questions}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise ConfigurationError(
            f"unknown question ids {unknown}", user_message=f"Ukjente spørsmåls-id-er i oppsettet: {', '.join(unknown)}"
        )
    return [by_id[i] for i in ids]


def run(config: EvalConfig, *, out_dir: Path | None = None, limit: int | None = None) -> Path:
    """Run the whole evaluation; returns the run folder with the report."""
    started = time.perf_counter()
    stamp = dt.datetime.now(dt.timezone.utc)
    run_dir = (out_dir or config.output_dir) / f"{stamp:%Y%m%d-%H%M%S}-{config.name}"
    run_dir.mkdir(parents=True, exist_ok=True)
    cache = JsonCache(config.cache_dir)
    phases: dict[str, Any] = {}

    questions = select_questions(load_questions(config.questions), config.question_ids)
    question_limit = limit or config.limits.questions
    if question_limit:
        questions = questions[:question_limit]

    base = base_settings(config)
    phase = time.perf_counter()
    data_dir, index_info = prepare_index(config, base)
    phases["index_s"] = round(time.perf_counter() - phase, 2)

    phase = time.perf_counter()
    records, per_setup_seconds = generate_answers(config, questions, data_dir, index_info["version"], cache)
    phases["answers_s"] = round(time.perf_counter() - phase, 2)
    phases["answers_per_setup_s"] = per_setup_seconds

    for record in records:
        record["scores"] = judge_free_scores(record, config.hit_ks, config.metrics)

    judge_info: dict[str, Any] = {}
    if config.judge_metrics:
        phase = time.perf_counter()
        judge_info = judge_records(config, records, run_dir, cache)
        phases["judge_s"] = round(time.perf_counter() - phase, 2)

    phase = time.perf_counter()
    benchmarks = run_benchmarks(config, base)
    phases["benchmarks_s"] = round(time.perf_counter() - phase, 2)
    phases["total_s"] = round(time.perf_counter() - started, 2)

    results = {
        "run": {
            "name": config.name,
            "date": stamp.isoformat(),
            "git_commit": _git_commit(),
            "machine": machine_info(),
            "config": json.loads(config.model_dump_json()),
            "questions_file": str(config.questions),
            "questions": len(questions),
            "index": index_info,
            "phases": phases,
            "judge": judge_info,
        },
        "setups": [s.name for s in config.setups],
        "setup_info": describe_setups(config),
        "comparisons": [list(pair) for pair in config.compared_pairs],
        "judge_metrics": config.judge_metrics,
        "records": records,
        "benchmarks": benchmarks,
    }
    (run_dir / RESULTS_FILE).write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    report.render(run_dir)
    return run_dir
