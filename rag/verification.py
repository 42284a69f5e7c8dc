"""From the model's text to what the user is shown: clean it, then verify it claim by claim.

1. Clean: markup the model should never have written goes (images, HTML and
   source-fence tags, links reduced to their text, "[[1]](%5B1%5D)" to "[1]"),
   and so do lines that read the prompt back and repeated lines.
2. Verify each factual sentence against the passages it cites
   (`rag.support.SupportChecker`): a citation is kept only where its passage
   supports the sentence. A sentence whose citations all fail, or that has none,
   gets the one passage that does support it, if any (the service then cites
   it: `attributed`), else it is unverified.
3. Unverified sentences are removed (`removed`), or kept and marked when
   `keep_unverified_sentences` is set; never with a citation. Sentences that
   are not claims (greetings, headings, "the sources do not say") are removed:
   only what a source supports is shown as an answer.
4. Citations are renumbered by first appearance in what is shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.citations import is_factual, parse_citations, segments, strip_citations
from rag.models import AnswerSentence, Citation, Language, Passage
from rag.support import SupportChecker

UNVERIFIED_LABEL: dict[Language, str] = {
    "nb": "(ikke verifisert mot kildene)",
    "nn": "(ikkje verifisert mot kjeldene)",
    "en": "(not verified against the sources)",
}

# --- cleaning ------------------------------------------------------------------

_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
# "[[1]](%5B1%5D)", "[1](#1)", "[kilde 1](...)": a citation dressed as a link.
_CITATION_LINK = re.compile(r"\[\s*(\[\s*\d+\s*\]|\d+)\s*\]\([^)]*\)|\[(\[?\s*(?:kilde|kjelde|source)?\s*\d+\s*\]?)\]\([^)]*\)", re.I)
_LINK = re.compile(r"\[([^\]]+)\]\((?:[^)]*)\)")
_BARE_URL = re.compile(r"<?\bhttps?://\S+>?", re.I)
_TAG = re.compile(r"</?\s*[A-Za-zæøåÆØÅ][\w:-]*(?:\s[^<>]*)?/?>")
_ENTITY_TAG = re.compile(r"&lt;/?\s*kild\w*[^&]*&gt;", re.I)
# Prompt section labels a model copies back ("Kilder:", "Spørsmål: ...", "Regler:").
_PROMPT_LABEL = re.compile(r"^\s*(?:kilder|kjelder|sources|spørsmål|spørsmål|question|regler|rules)\s*:", re.I)
# A line sharing this share of its word 4-grams with the prompt's instructions reads the prompt back.
ECHO_SHARE = 0.5
_ECHO_NGRAM = 4
_WORD = re.compile(r"\w+")


def _ngrams(text: str, n: int = _ECHO_NGRAM) -> set[tuple[str, ...]]:
    words = [w.lower() for w in _WORD.findall(text)]
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _citation_from_link(match: re.Match[str]) -> str:
    number = re.search(r"\d+", match.group(0))
    return f"[{number.group(0)}]" if number else ""


def clean_model_text(text: str, instructions: str = "") -> tuple[str, list[str]]:
    """The model's text without markup, prompt echo and repeats; and what was removed."""
    removed: list[str] = []
    text = _IMAGE.sub(lambda m: removed.append(m.group(0)) or "", text)  # type: ignore[func-returns-value]
    text = _CITATION_LINK.sub(_citation_from_link, text)
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _BARE_URL.sub(lambda m: removed.append(m.group(0)) or "", text)  # type: ignore[func-returns-value]
    text = _ENTITY_TAG.sub("", text)
    text = _TAG.sub("", text)
    prompt_ngrams = _ngrams(instructions) if instructions else set()
    kept: list[str] = []
    seen: set[str] = set()
    for line in text.splitlines():
        key = " ".join(strip_citations(line).lower().split())
        if not key:  # a blank line, or markers alone that cite the line before
            kept.append(line)
            continue
        grams = _ngrams(line)
        echo = bool(prompt_ngrams and grams) and len(grams & prompt_ngrams) / len(grams) >= ECHO_SHARE
        if echo or _PROMPT_LABEL.match(line) or key in seen:
            removed.append(line.strip())
            continue
        seen.add(key)
        kept.append(line)
    return "\n".join(kept).strip(), removed


# --- verification --------------------------------------------------------------


@dataclass
class VerifiedAnswer:
    text: str
    sentences: list[AnswerSentence] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    attributed: list[str] = field(default_factory=list)
    invalid_citations: list[int] = field(default_factory=list)
    removed_claims: list[str] = field(default_factory=list)  # factual sentences no source supports

    @property
    def verified_count(self) -> int:
        return sum(s.verified for s in self.sentences)


@dataclass
class _Claim:
    text: str  # without markers
    line: int
    list_item: bool
    prompt_numbers: list[int]  # cited, valid, as in the prompt
    evidence: dict[int, tuple[float, str]] = field(default_factory=dict)  # prompt number -> (score, span)
    verified: bool = False
    support: float = 0.0


def _header(passage: Passage) -> str:
    return " > ".join([passage.title, *[h for h in passage.heading_path if h != passage.title]])


def verify_answer(
    raw_text: str,
    passages: list[Passage],
    checker: SupportChecker,
    *,
    language: Language,
    instructions: str = "",
    keep_unverified: bool = False,
) -> VerifiedAnswer:
    """Check `raw_text` against `passages` (source i+1 is passages[i])."""
    cleaned, removed = clean_model_text(raw_text, instructions)
    invalid: list[int] = []
    claims: list[_Claim] = []
    previous: _Claim | None = None
    for segment in segments(cleaned):
        numbers = list(dict.fromkeys(parse_citations(segment.text)))
        valid = [n for n in numbers if 1 <= n <= len(passages)]
        invalid.extend(n for n in numbers if n not in valid and n not in invalid)
        plain = strip_citations(segment.text).strip()
        if not plain:
            if previous is not None:  # a marker alone on its line cites the sentence before it
                previous.prompt_numbers.extend(n for n in valid if n not in previous.prompt_numbers)
            continue
        if segment.heading or not is_factual(plain):
            removed.append(plain)
            previous = None
            continue
        previous = _Claim(plain, segment.line, segment.list_item, valid)
        claims.append(previous)

    attributed: list[str] = []
    for claim in claims:
        _verify_claim(claim, passages, checker, language)
        if claim.verified and not (set(claim.evidence) & set(claim.prompt_numbers)):
            attributed.append(claim.text)

    return _assemble(claims, passages, language, removed, invalid, attributed, keep_unverified)


def _verify_claim(claim: _Claim, passages: list[Passage], checker: SupportChecker, language: Language) -> None:
    def check(number: int) -> tuple[float, str, bool]:
        passage = passages[number - 1]
        result = checker.check(
            claim.text, passage.text, header=_header(passage), passage_language=passage.language, sentence_language=language
        )
        return result.score, result.evidence, result.supported

    best = 0.0
    for number in claim.prompt_numbers:
        score, evidence, supported = check(number)
        best = max(best, score)
        if supported:
            claim.evidence[number] = (score, evidence)
    if not claim.evidence:
        # The model cited nothing that supports it: one passage that does is cited instead.
        found: list[tuple[float, int, str]] = []
        for number in range(1, len(passages) + 1):
            if number in claim.prompt_numbers:
                continue
            score, evidence, supported = check(number)
            best = max(best, score)
            if supported:
                found.append((score, number, evidence))
        if found:
            score, number, evidence = max(found)
            claim.evidence[number] = (score, evidence)
    claim.verified = bool(claim.evidence)
    claim.support = max((s for s, _ in claim.evidence.values()), default=best)


def _with_markers(sentence: str, numbers: list[int]) -> str:
    if not numbers:
        return sentence
    markers = "".join(f"[{n}]" for n in numbers)
    stripped = sentence.rstrip()
    if stripped and stripped[-1] in ".!?":
        return f"{stripped[:-1]} {markers}{stripped[-1]}"
    return f"{stripped} {markers}"


def _assemble(
    claims: list[_Claim],
    passages: list[Passage],
    language: Language,
    removed: list[str],
    invalid: list[int],
    attributed: list[str],
    keep_unverified: bool,
) -> VerifiedAnswer:
    display: dict[int, int] = {}  # prompt number -> shown number
    citations: dict[int, Citation] = {}
    shown: list[AnswerSentence] = []
    unverified: list[str] = []
    removed_claims: list[str] = []
    lines: dict[int, list[str]] = {}
    list_lines: set[int] = set()
    for claim in claims:
        if not claim.verified:
            if not keep_unverified:
                removed.append(claim.text)
                removed_claims.append(claim.text)
                continue
            unverified.append(claim.text)
            shown.append(AnswerSentence(text=claim.text, verified=False, support=claim.support, paragraph=claim.line))
            lines.setdefault(claim.line, []).append(f"{claim.text} {UNVERIFIED_LABEL[language]}")
        else:
            numbers = []
            for prompt_number in sorted(claim.evidence, key=lambda n: (n not in claim.prompt_numbers, n)):
                if prompt_number not in display:
                    display[prompt_number] = len(display) + 1
                    citations[prompt_number] = Citation(number=display[prompt_number], passage=passages[prompt_number - 1], support=1.0)
                citation = citations[prompt_number]
                score, evidence = claim.evidence[prompt_number]
                citation.sentences.append(claim.text)
                citation.support = min(citation.support, score)
                if evidence and evidence not in citation.highlights:
                    citation.highlights.append(evidence)
                numbers.append(display[prompt_number])
            first_evidence = claim.evidence[min(claim.evidence, key=lambda n: display[n])][1]
            shown.append(
                AnswerSentence(
                    text=claim.text, citations=numbers, verified=True, support=claim.support,
                    evidence=first_evidence, paragraph=claim.line,
                )
            )
            lines.setdefault(claim.line, []).append(_with_markers(claim.text, numbers))
        if claim.list_item:
            list_lines.add(claim.line)
    paragraphs = [("- " if line in list_lines else "") + " ".join(parts) for line, parts in sorted(lines.items())]
    ordered = sorted(citations.values(), key=lambda c: c.number)
    return VerifiedAnswer(
        text="\n".join(paragraphs),
        sentences=shown,
        citations=ordered,
        removed=removed,
        unverified=unverified,
        attributed=[a for a in attributed if any(s.text == a and s.verified for s in shown)],
        invalid_citations=invalid,
        removed_claims=removed_claims,
    )
