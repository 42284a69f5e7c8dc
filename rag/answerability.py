"""The answerability gate: before it writes an answer, the model states, in
JSON it cannot escape (a llama.cpp grammar from the schema), whether the
numbered sources answer this question and which ones do.

The relevance floor is cheap but cannot tell "same topic, not answered here"
from "answered here"; near misses (the adult dose is there, the child dose is
asked) are where a model invents. A capable model can tell them apart. A tiny
one cannot, which is why the gate is on by default only for server-backed
models (`answerability_gate=auto`) and its cost is recorded in every answer.

A verdict that cannot be had (malformed JSON, a model error) lets the answer
go ahead: the verification after generation still stands guard.
"""

from __future__ import annotations

import json
import time

from rag.llm import LLM
from rag.models import GateVerdict, Language, Passage
from rag.prompting import build_answer_messages, gate_system_prompt

def verdict_schema(source_count: int) -> dict:
    """The verdict's JSON schema. The source list is bounded by the number of sources:
    unbounded, a small model counts on ("[1, 2, 3, ... 11, 1") until the token cap cuts the JSON."""
    return {
        "type": "object",
        "properties": {
            "answerable": {"type": "boolean"},
            "sources": {
                "type": "array",
                "items": {"type": "integer", "minimum": 1, "maximum": max(source_count, 1)},
                "maxItems": max(source_count, 1),
            },
        },
        "required": ["answerable", "sources"],
    }

# The verdict is a handful of tokens; a cap keeps a looping model cheap.
VERDICT_MAX_TOKENS = 48


def gate_enabled(mode: str, backend: str) -> bool:
    return mode == "on" or (mode == "auto" and backend == "openai")


def check_answerability(llm: LLM, question: str, passages: list[Passage], language: Language) -> GateVerdict:
    """The model's verdict on `passages` (numbered 1..n as in the answer prompt)."""
    started = time.perf_counter()
    messages, in_prompt = build_answer_messages(
        question, passages, language, llm, max_answer_tokens=VERDICT_MAX_TOKENS, system=gate_system_prompt()
    )
    prompt_tokens = sum(llm.count_tokens(str(m.content)) for m in messages)
    reply = llm.complete_json(messages, verdict_schema(len(in_prompt)), max_tokens=VERDICT_MAX_TOKENS)
    ms = (time.perf_counter() - started) * 1000
    completion_tokens = llm.count_tokens(reply) if reply else 0
    try:
        data = json.loads(reply)
        answerable = data["answerable"]
        sources = [int(n) for n in data.get("sources", []) if 1 <= int(n) <= len(in_prompt)]
        if not isinstance(answerable, bool):
            raise TypeError("answerable is not a boolean")
    except (ValueError, KeyError, TypeError) as error:
        return GateVerdict(
            answerable=True, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, ms=ms,
            error=f"unreadable verdict ({type(error).__name__}): {reply[:200]!r}",
        )
    return GateVerdict(
        answerable=answerable, sources=sources, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, ms=ms
    )
