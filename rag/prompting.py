"""Prompts: numbered, fenced sources within the model's context budget, and
follow-up questions made standalone.

The prompt texts live in `rag/prompts/` (Norwegian). This module decides what
goes into them: which passages fit the context window, how a passage is fenced
off so that its text cannot pose as instructions, and when a small model's
rewrite of a follow-up question is junk.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from functools import lru_cache
from importlib.resources import files
from typing import TYPE_CHECKING, Protocol

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from rag.errors import ConfigurationError
from rag.fencing import FENCE_TAG, neutralize_fences
from rag.models import ChatTurn, Language, Passage
from rag.text import analyze, stop_words, tokenize

if TYPE_CHECKING:
    from rag.llm import LLM

# Chat templates wrap every message in role markers (and some add a BOS token);
# `count_tokens` sees only the message texts, so keep this much room for them.
TEMPLATE_MARGIN_TOKENS = 32

TRUNCATION_MARKER = "[...]"

_LANGUAGE_NAMES: dict[Language, str] = {"nb": "bokmål", "nn": "nynorsk", "en": "engelsk"}

# The fence around each source. Anything in a passage or question that a model
# could read as one of ours (look-alike characters, invisible ones, HTML entities,
# `</source>`) is replaced by rag/fencing.py, so a planted document cannot close
# its fence and speak outside it.
_FENCE_TAG = FENCE_TAG

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WHITESPACE = re.compile(r"\s+")
# A new sentence: end punctuation, space, then a capital (so "f.eks. til" is one sentence).
_SENTENCE_BREAK = re.compile(r"[.!?]\s+(?=[A-ZÆØÅ])")
_CITATION = re.compile(r"\[\d+\]")
_ANSWER_LABEL = re.compile(
    r"^(?:(?:selvstendig|sjølvstendig|omskrevet|omskrive|nytt)\s+)?(?:spørsmål|standalone question|question)\s*:\s*",
    re.IGNORECASE,
)
_SPEAKER_LABEL = re.compile(r"^(?:bruker|brukar|assistent|user|assistant)\s*:", re.IGNORECASE)
_QUOTES = "\"'«»“”‘’` "


class TokenCounter(Protocol):
    """What prompt budgeting needs from a model (an `rag.llm.LLM` has it)."""

    @property
    def context_window(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...


@lru_cache(maxsize=None)
def load_prompt(name: str) -> str:
    """A prompt file from rag/prompts/ (UTF-8, trailing whitespace removed)."""
    return files("rag.prompts").joinpath(name).read_text(encoding="utf-8").rstrip()


# --------------------------------------------------------------------------
# Answer prompt
# --------------------------------------------------------------------------


def _attribute(value: str) -> str:
    # Neutralised before escaping: html.escape alone turns a planted tag into `&lt;kilde`,
    # which a model still reads as the tag.
    return html.escape(" ".join(neutralize_fences(value).split()), quote=True)


def format_source(number: int, passage: Passage, text: str | None = None) -> str:
    """One source, fenced: `<kilde nr=".." tittel=".." ...>` text `</kilde>`.

    `text` replaces the passage's own text (for a truncated passage)."""
    attributes = {
        "nr": str(number),
        "tittel": passage.title,
        "overskrift": " > ".join(h for h in passage.heading_path if h != passage.title),
        "side": passage.pages,
        "oppdatert": passage.updated.isoformat() if passage.updated else "",
    }
    header = " ".join(f'{key}="{_attribute(value)}"' for key, value in attributes.items() if value)
    body = neutralize_fences(passage.text if text is None else text).strip()
    return f"<{_FENCE_TAG} {header}>\n{body}\n</{_FENCE_TAG}>"


def answer_system_prompt(language: Language) -> str:
    return load_prompt("answer_system.md").format(language_instruction=load_prompt(f"language_{language}.txt"))


def gate_system_prompt() -> str:
    return load_prompt("gate_system.md")


def _answer_user_prompt(sources: list[str], question: str) -> str:
    return load_prompt("answer_user.md").format(sources="\n\n".join(sources), question=neutralize_fences(question))


def build_answer_messages(
    question: str,
    passages: list[Passage],
    language: Language,
    llm: TokenCounter,
    *,
    max_answer_tokens: int,
    system: str | None = None,
) -> tuple[list[BaseMessage], list[Passage]]:
    """The system prompt and one user message with numbered, fenced sources
    and the question; and the passages that fit. `system` replaces the answer
    instructions (the answerability gate asks its own question of the same sources).

    Passages are numbered 1..n in the given (ranked) order. The prompt never
    exceeds `llm.context_window - max_answer_tokens - TEMPLATE_MARGIN_TOKENS`
    tokens: whole passages are dropped from the end, and if not even the first
    fits, its text is cut at a sentence boundary (a word boundary if one
    sentence is too long) and marked "[...]". The returned passages are the
    originals (the first possibly shown truncated), so citations point at the
    whole passage. If no source fits at all, the list is empty; if not even
    the instructions and the question fit, that is a `ConfigurationError`.
    """
    system = system or answer_system_prompt(language)
    budget = llm.context_window - max_answer_tokens - TEMPLATE_MARGIN_TOKENS
    fixed = llm.count_tokens(system) + llm.count_tokens(_answer_user_prompt([], question))
    if fixed > budget:
        raise ConfigurationError(
            f"Context window {llm.context_window} is too small for the instructions and the question "
            f"({fixed} tokens) plus an answer of {max_answer_tokens} tokens"
        )

    separator_tokens = llm.count_tokens("\n\n")
    kept: list[Passage] = []
    sources: list[str] = []
    used = fixed
    for number, passage in enumerate(passages, start=1):
        source = format_source(number, passage)
        cost = llm.count_tokens(source) + separator_tokens
        if used + cost > budget:
            break
        kept.append(passage)
        sources.append(source)
        used += cost

    if passages and not kept:
        first = _truncated_source(passages[0], budget - fixed - separator_tokens, llm)
        if first is not None:
            kept, sources = [passages[0]], [first]

    # Parts were counted one by one; check the assembled prompt, whose seams
    # can tokenise a little differently.
    while sources and llm.count_tokens(system) + llm.count_tokens(_answer_user_prompt(sources, question)) > budget:
        sources.pop()
        kept.pop()

    messages: list[BaseMessage] = [
        SystemMessage(content=system),
        HumanMessage(content=_answer_user_prompt(sources, question)),
    ]
    return messages, kept


def _truncated_source(passage: Passage, room: int, llm: TokenCounter) -> str | None:
    """The first passage cut to fit `room` tokens, or None if nothing useful fits.

    Cuts fall at sentence ends, or at word ends when one sentence is too long;
    the text before a cut keeps its own line breaks."""
    text = passage.text.strip()

    def cut(end: int) -> str:
        return format_source(1, passage, f"{text[:end]} {TRUNCATION_MARKER}")

    for boundary in (_SENTENCE_END, _WHITESPACE):
        ends = [m.start() for m in boundary.finditer(text)]
        fitting = _longest_fitting_prefix(len(ends), lambda n: llm.count_tokens(cut(ends[n - 1])) <= room)
        if fitting > 0:
            return cut(ends[fitting - 1])
    return None


def _longest_fitting_prefix(count: int, fits: Callable[[int], bool]) -> int:
    """Largest n in 0..count with fits(n) true, assuming fits is monotone (binary search)."""
    low, high = 0, count
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


# --------------------------------------------------------------------------
# Follow-up questions
# --------------------------------------------------------------------------

# Only the opening of an earlier answer is needed to know its topic; long
# answers would crowd a small model's context window.
_MAX_ASSISTANT_CHARS = 500
# A rewrite only combines the question with earlier questions; one longer than
# this many times their combined length has added content of its own.
_MAX_REWRITE_GROWTH = 1.5
# Room for the few words a rewrite adds (a drug name, a patient group).
_REWRITE_SLACK_CHARS = 40
_REWRITE_SLACK_TOKENS = 16
# At most this many of the last user turn's key terms are prepended in the fallback.
_MAX_FALLBACK_TERMS = 12


def _history_text(history: list[ChatTurn]) -> str:
    lines = []
    for turn in history:
        if turn.role == "user":
            lines.append(f"Bruker: {turn.content.strip()}")
        else:
            content = turn.content.strip()
            if len(content) > _MAX_ASSISTANT_CHARS:
                content = content[:_MAX_ASSISTANT_CHARS].rsplit(" ", 1)[0] + f" {TRUNCATION_MARKER}"
            lines.append(f"Assistent: {content}")
    return "\n".join(lines)


def build_condense_messages(history: list[ChatTurn], question: str, language: Language) -> list[BaseMessage]:
    """Messages asking the model to rewrite `question` as a standalone question."""
    system = load_prompt("condense_system.md").format(language_name=_LANGUAGE_NAMES[language])
    user = load_prompt("condense_user.md").format(history=_history_text(history), question=question.strip())
    return [SystemMessage(content=system), HumanMessage(content=user)]


def condense_question(
    llm: LLM,
    history: list[ChatTurn],
    question: str,
    language: Language,
    *,
    max_turns: int,
) -> str:
    """`question` made standalone with the last `max_turns` chat turns.

    Without history the question comes back unchanged and the model is not
    called. A reply that is junk by `is_acceptable_rewrite` is replaced by
    `fallback_question`. Oldest turns are dropped until the request fits the
    model's context window. `LLMUnavailableError` from the model propagates.
    """
    turns = history[-max_turns:] if max_turns > 0 else []
    if not turns or not question.strip():
        return question
    users = [t.content for t in turns if t.role == "user"]
    max_chars = _max_rewrite_chars(question, users)
    reference_tokens = llm.count_tokens(" ".join([question, *users]))
    max_tokens = int(reference_tokens * _MAX_REWRITE_GROWTH) + _REWRITE_SLACK_TOKENS

    window = turns
    while window:
        messages = build_condense_messages(window, question, language)
        prompt_tokens = sum(llm.count_tokens(m.text) for m in messages)
        if prompt_tokens + max_tokens + TEMPLATE_MARGIN_TOKENS <= llm.context_window:
            break
        window = window[1:]
    if not window:
        return fallback_question(turns, question)

    reply = llm.complete(messages, max_tokens=max_tokens)
    candidate = clean_rewrite(reply)
    if is_acceptable_rewrite(candidate, question, max_chars):
        return candidate
    return fallback_question(window, question)


def _max_rewrite_chars(question: str, user_turns: list[str]) -> int:
    reference = len(question.strip()) + sum(len(t.strip()) for t in user_turns)
    return int(reference * _MAX_REWRITE_GROWTH) + _REWRITE_SLACK_CHARS


def clean_rewrite(reply: str) -> str:
    """The first non-empty line of a reply, without a label ("Spørsmål:") or quotes."""
    line = next((ln.strip() for ln in reply.splitlines() if ln.strip()), "")
    line = _ANSWER_LABEL.sub("", line)
    return line.strip(_QUOTES)


def is_acceptable_rewrite(candidate: str, question: str, max_chars: int) -> bool:
    """Junk from a small model is rejected: an empty reply; one longer than
    `max_chars`; an echo of the conversation (it starts with a speaker label
    such as "Bruker:"); one that drops every content word of the question; and
    one that answers instead of asking (it cites sources, runs to several
    sentences, or drops the question mark the question had)."""
    if not candidate or len(candidate) > max_chars or _SPEAKER_LABEL.match(candidate):
        return False
    question_terms = set(analyze(question))
    if question_terms and not question_terms & set(analyze(candidate)):
        return False
    if _CITATION.search(candidate) or _SENTENCE_BREAK.search(candidate):
        return False
    return not (question.rstrip().endswith("?") and not candidate.endswith("?"))


# A question with at least this many content terms names its own topic.
_STANDALONE_MIN_TERMS = 4
# Openings that lean on the conversation: "og for barn?", "hva med dosen?", "what about children?".
_FOLLOW_UP_OPENING = re.compile(
    r"^\s*(?:og|eller|men|så|hva med|kva med|hvordan med|korleis med|gjelder det|gjeld det|samme|same|and|or|but|"
    r"what about|how about|does that|is that|den|det|dette|denne|disse|desse|dei|it|this|that|those|these)\b",
    re.IGNORECASE,
)
# Pronouns pointing back at something said before.
_BACK_REFERENCE = re.compile(r"\b(?:den|det|dette|denne|disse|desse|dei|dem|it|this|that|those|these|them)\b", re.IGNORECASE)


def reads_as_follow_up(question: str) -> bool:
    """Whether a question needs the conversation to be understood: it opens like
    a follow-up, or it is short and points back ("hva er dosen?", "og for barn?").
    A question that names its topic in four content words stands on its own."""
    if _FOLLOW_UP_OPENING.match(question):
        return True
    terms = [t for t in tokenize(question) if t not in stop_words()]
    return len(terms) < _STANDALONE_MIN_TERMS and (len(terms) <= 2 or bool(_BACK_REFERENCE.search(question)))


def fallback_question(history: list[ChatTurn], question: str) -> str:
    """The deterministic rewrite when the model's is junk: the last user turn's
    key terms (lower-cased, stop words and terms already in the question
    removed, in order, each once, at most 12) prepended to the question as
    "term term ...: question"."""
    last_user = next((t.content for t in reversed(history) if t.role == "user"), "")
    in_question = set(tokenize(question))
    stop = stop_words()
    terms: list[str] = []
    for term in tokenize(last_user):
        if term not in stop and term not in in_question and term not in terms:
            terms.append(term)
    if not terms:
        return question
    return f"{' '.join(terms[:_MAX_FALLBACK_TERMS])}: {question.strip()}"
