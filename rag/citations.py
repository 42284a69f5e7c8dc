"""The pieces citation checking is built from: reading "[n]" markers in a
model's answer (`parse_citations`, `strip_citations`), splitting it into
sentences (`segments`), telling a factual sentence from a greeting
(`is_factual`) and the lexical support score (`lexical_support`). The check
itself, claim by claim, is `rag/verification.py`.

Sentence splitting is a regex with an abbreviation list rather than a library:
the sentence splitters on PyPI either need a model download (nltk's punkt) or
know no Norwegian clinical abbreviations ("i.m.", "f.eks.", "mg."), and none
keeps a citation marker after the full stop ("... i.m. [1].") with its
sentence, which is what citation checking needs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from rag.text import analyze


# --- citation markers ---------------------------------------------------------

# One number or a range: "2", "1-3", "1–3".
_ITEM = r"\d+(?:\s*[-–—]\s*\d+)?"
# "[1]", "[1, 2]", "[1-3]", "[kilde 2]", "[Kilder 1 og 2]", "[source 3]".
_MARKER = (
    r"\[\s*(?:(?:kilder?|kjelder?|sources?)\s*)?"
    rf"{_ITEM}(?:\s*(?:,|;|&|\bog\b|\band\b)\s*{_ITEM})*\s*\]"
)
_MARKER_RE = re.compile(_MARKER, re.IGNORECASE)
_ITEM_RE = re.compile(r"(\d+)(?:\s*[-–—]\s*(\d+))?")
# A run of adjacent markers ("[1][2]", "[1] [3]") with the blanks before it.
_MARKER_RUN_RE = re.compile(rf"(?P<lead>[ \t]*)(?P<run>{_MARKER}(?:[ \t]*{_MARKER})*)", re.IGNORECASE)
# "[1-300]" is a typo, not three hundred citations: longer ranges keep their ends only.
_MAX_RANGE = 20


def _numbers_in_marker(marker: str) -> list[int]:
    numbers: list[int] = []
    for item in _ITEM_RE.finditer(marker):
        first = int(item.group(1))
        last = int(item.group(2)) if item.group(2) else first
        if first <= last and last - first <= _MAX_RANGE:
            numbers.extend(range(first, last + 1))
        else:
            numbers.extend([first, last])
    return numbers


def parse_citations(text: str) -> list[int]:
    """All cited numbers in order of appearance, ranges expanded, repeats kept."""
    numbers: list[int] = []
    for marker in _MARKER_RE.finditer(text):
        numbers.extend(_numbers_in_marker(marker.group(0)))
    return numbers


def strip_citations(text: str) -> str:
    """`text` without its citation markers (and the blanks before them)."""
    return _MARKER_RUN_RE.sub("", text).strip()


# --- sentences ----------------------------------------------------------------

# Never end a sentence: what follows them belongs to the same sentence.
_NON_FINAL_ABBREVIATIONS = frozenset(
    {
        "f.eks", "bl.a", "ca", "dvs", "kl", "nr", "evt", "ev", "jf", "jfr", "pkt", "pga",
        "p.g.a", "iht", "i.h.t", "mht", "m.h.t", "ift", "vs", "inkl", "ekskl", "maks",
        "ang", "dr", "prof", "t.o.m", "f.o.m", "s", "kap", "tab", "fig", "avd", "tlf",
        "hhv", "e.g", "i.e", "approx",
    }
)  # fmt: skip
# Units, routes and list endings: they end a sentence when a capital letter follows.
_MAY_END_ABBREVIATIONS = frozenset(
    {
        "mg", "g", "kg", "mcg", "µg", "μg", "ml", "l", "dl", "mmol", "min", "sek", "t",
        "mnd", "i.m", "i.v", "s.c", "p.o", "p.r", "i.n", "osv", "etc", "m.m", "o.l", "o.a",
    }
)  # fmt: skip
# Full stop, "!", "?" or an ellipsis, the citation markers right after it, closing quotes.
_TERMINATOR_RE = re.compile(rf"[.!?…]+(?:[ \t]*{_MARKER})*[\"'»”’)]*(?=\s|$)", re.IGNORECASE)
_NEXT_CHAR_RE = re.compile(r"\s*(\S)")
_OPENING_CHARS = "\"'«“‘(["
_HEADING_MARK_RE = re.compile(r"^#{1,6}\s+")
_LIST_MARK_RE = re.compile(r"^(?:[-*•·–]|\d{1,2}[.)])\s+")
# A line this short with no full stop and no number reads as a heading, not a claim.
_HEADING_MAX_WORDS = 6


@dataclass
class Segment:
    """A sentence of a text, with where it stood."""

    text: str
    heading: bool = False
    line: int = 0  # index of the non-empty line it came from
    list_item: bool = False


def _word_before(line: str, end: int) -> str:
    start = end
    while start > 0 and not line[start - 1].isspace():
        start -= 1
    return line[start:end]


def _ends_sentence(line: str, terminator: re.Match[str]) -> bool:
    punctuation = terminator.group(0)
    next_char = _NEXT_CHAR_RE.match(line, terminator.end())
    if next_char is None:
        return True
    if "!" in punctuation or "?" in punctuation:
        return True
    following = next_char.group(1)
    if following == "[":
        # "i.m. [1]." : the marker belongs to this sentence, the full stop after it ends it.
        return False
    word = _word_before(line, terminator.start()).lstrip(_OPENING_CHARS).lower()
    if word in _NON_FINAL_ABBREVIATIONS:
        return False
    if word in _MAY_END_ABBREVIATIONS:
        return following.isupper()
    if len(word) == 1 and word.isalpha():
        return False  # an initial: "A. Hansen"
    return following.isupper() or following.isdigit() or following in _OPENING_CHARS


def _split_line(line: str) -> list[str]:
    sentences = []
    start = 0
    for terminator in _TERMINATOR_RE.finditer(line):
        if _ends_sentence(line, terminator):
            sentences.append(line[start : terminator.end()].strip())
            start = terminator.end()
    sentences.append(line[start:].strip())
    return [s for s in sentences if s]


def segments(text: str) -> list[Segment]:
    """Sentences with a flag for heading-like lines. Every line is at least one
    sentence (list items and table rows stand alone); markdown heading and list
    marks are dropped."""
    found: list[Segment] = []
    for line_number, raw_line in enumerate(line for line in text.splitlines() if line.strip()):
        line = raw_line.strip()
        markdown_heading = bool(_HEADING_MARK_RE.match(line))
        line = _HEADING_MARK_RE.sub("", line)
        list_item = bool(_LIST_MARK_RE.match(line))
        line = _LIST_MARK_RE.sub("", line)
        sentences = _split_line(line)
        plain = strip_citations(line)
        heading_like = markdown_heading or (
            not list_item
            and len(sentences) == 1
            and (
                plain.endswith(":")
                or (
                    not plain.endswith((".", "!", "?", "…"))
                    and len(plain.split()) <= _HEADING_MAX_WORDS
                    and not any(ch.isdigit() for ch in plain)
                )
            )
        )
        found.extend(Segment(sentence, heading_like, line_number, list_item) for sentence in sentences)
    return found


def split_sentences(text: str) -> list[str]:
    """Norwegian-aware sentence split; citation markers stay with their sentence."""
    return [segment.text for segment in segments(text)]


# --- factual content ----------------------------------------------------------

# A sentence with fewer content words than this (stop words out) and no number is
# small talk ("Takk for spørsmålet."), not a claim that needs a source.
FACTUAL_MIN_CONTENT_WORDS = 3
# Sentences saying the sources do not cover something: statements about the sources,
# not clinical claims (bokmål, nynorsk, English).
_NOT_COVERED_RE = re.compile(
    r"\b(?:jeg|eg)\s+(?:finner|fant|finn|fann)\s+(?:ikke|ikkje|ingen|inga|inkje)\b"
    r"|\b(?:finner|fant|finn|fann)\s+(?:jeg\s+|eg\s+)?(?:ikke|ikkje|ingen|inga)\s+(?:noe\s+|noko\s+)?"
    r"(?:svar|informasjon|opplysning)"
    r"|\b(?:ikke|ikkje)\s+(?:omtalt|omtala|beskrevet|beskrive|dekket|dekt|nevnt|nemnt|besvart|svar)\b"
    r"|\b(?:omtales|dekkes|beskrives|nevnes|besvares|omtalast|dekkast|nemnast)\s+(?:ikke|ikkje)\b"
    r"|\b(?:fremgår|framgår)\s+(?:ikke|ikkje)\b|\bgår\s+(?:ikke|ikkje)\s+(?:fram|frem)\b"
    r"|\bingen\s+(?:informasjon|opplysninger|svar)\b|\binga\s+opplysningar\b"
    r"|\bsier\s+ingenting\b|\bseier\s+ingenting\b"
    r"|\bkan\s+(?:jeg|eg)\s+(?:ikke|ikkje)\s+svare\b"
    r"|\b(?:do|does|did)\s+not\s+(?:cover|mention|address|say|contain|answer)\b"
    r"|\bnot\s+(?:covered|mentioned|described|addressed)\b|\bno\s+information\b"
    r"|\b(?:cannot|can't|could\s+not|couldn't)\s+(?:find|answer)\b",
    re.IGNORECASE,
)


def _content_terms(text: str) -> set[str]:
    """Stemmed content words; numbers are left to the quantity check."""
    return {term for term in analyze(text) if not term[0].isdigit()}


def is_factual(sentence: str) -> bool:
    """Whether a sentence states something that needs a source.

    The rule: a question does not; a sentence saying the sources do not cover
    something does not; one with a number (dose, interval, threshold) does; any
    other needs FACTUAL_MIN_CONTENT_WORDS content words (stemmed, stop words out),
    which leaves out greetings and thanks. Heading-like lines are left out by
    the caller (`_segments`)."""
    plain = strip_citations(sentence)
    if not plain or plain.endswith("?") or _NOT_COVERED_RE.search(plain):
        return False
    if any(ch.isdigit() for ch in plain):
        return True
    return len(_content_terms(plain)) >= FACTUAL_MIN_CONTENT_WORDS


# --- support ------------------------------------------------------------------

# A number counts as much as this many words: a dose is the claim that matters.
_NUMBER_WEIGHT = 3
# The most a sentence can score when one of its numbers is not in the passage.
MISSING_NUMBER_CAP = 0.2

_CHARACTER_MAP = str.maketrans(
    {"–": "-", "—": "-", "−": "-", "‐": "-", "≥": ">=", "≤": "<=", "×": "x", "µ": "μ"}
)
# Norwegian thousands grouping: "1 000 000" -> "1000000".
_THOUSANDS_RE = re.compile(r"(?<![\d.,])\d{1,3}(?: \d{3})+(?![\d.,]?\d)")
_NUMBER = r"\d+(?:[.,]\d+)?"
_QUANTITY_RE = re.compile(
    rf"(?<![\w.,])(?P<first>{_NUMBER})(?:\s*-\s*(?P<last>{_NUMBER}))?"
    r"(?:\s*(?P<unit>%|°[cC]|[^\W\d_]+(?:/[^\W\d_]+)?))?"
)
# Spelling variants of the units doses and intervals are written in.
_UNIT_SYNONYMS = {
    "mcg": "μg", "ug": "μg", "mikrogram": "μg", "gram": "g", "milligram": "mg",
    "liter": "l", "milliliter": "ml", "umol": "μmol", "iu": "ie", "enheter": "e",
    "grader": "°c", "sekund": "s", "sekunder": "s", "sek": "s", "minutt": "min",
    "minutter": "min", "time": "t", "timer": "t", "h": "t", "døgn": "dag", "dager": "dag",
    "d": "dag", "uker": "uke", "måned": "mnd", "måneder": "mnd", "tablett": "tbl",
    "tabletter": "tbl", "doser": "dose", "ganger": "gang", "dråper": "dråpe",
    # English spellings: an English answer over a Norwegian source must match its numbers.
    "hour": "t", "hours": "t", "hrs": "t", "hr": "t", "minute": "min", "minutes": "min", "mins": "min",
    "second": "s", "seconds": "s", "day": "dag", "days": "dag", "week": "uke", "weeks": "uke",
    "month": "mnd", "months": "mnd", "year": "år", "years": "år", "tablet": "tbl", "tablets": "tbl",
    "times": "gang", "doses": "dose", "dosar": "dose", "drop": "dråpe", "drops": "dråpe", "units": "e", "degrees": "°c",
    # nynorsk
    "timar": "t", "dagar": "dag", "veker": "uke", "veke": "uke", "månader": "mnd",
    "gonger": "gang",
}  # fmt: skip
_UNITS = frozenset(
    {
        "mg", "g", "kg", "μg", "ng", "ml", "l", "dl", "mmol", "mol", "μmol", "ie", "e", "%",
        "mmhg", "kpa", "°c", "mm", "cm", "s", "min", "t", "dag", "uke", "mnd", "år", "tbl",
        "dose", "gang", "puff", "dråpe",
    }
)  # fmt: skip


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_CHARACTER_MAP)
    return _THOUSANDS_RE.sub(lambda match: match.group(0).replace(" ", ""), text)


def _unit(raw: str | None) -> str | None:
    if not raw:
        return None
    parts = [_UNIT_SYNONYMS.get(part, part) for part in raw.lower().split("/")]
    return "/".join(parts) if parts[0] in _UNITS else None


def _quantities(text: str) -> set[tuple[float, str | None]]:
    """(value, unit) for every number in `text`; a range gives both ends the unit."""
    found: set[tuple[float, str | None]] = set()
    for match in _QUANTITY_RE.finditer(text):
        unit = _unit(match.group("unit"))
        for number in (match.group("first"), match.group("last")):
            if number:
                found.add((float(number.replace(",", ".")), unit))
    return found


def _quantity_found(quantity: tuple[float, str | None], passage: set[tuple[float, str | None]]) -> bool:
    value, unit = quantity
    if unit is None:
        return any(value == other for other, _ in passage)
    # A passage number with no recognisable unit next to it (a table cell) still counts.
    return (value, unit) in passage or (value, None) in passage


# Enough for the passages of a few answers: each is compared with every sentence citing it.
_PASSAGE_CACHE_SIZE = 64


@lru_cache(maxsize=_PASSAGE_CACHE_SIZE)
def _passage_profile(passage_text: str) -> tuple[frozenset[str], frozenset[tuple[float, str | None]]]:
    normalized = _normalize(passage_text)
    return frozenset(_content_terms(normalized)), frozenset(_quantities(normalized))


def lexical_support(sentence: str, passage_text: str) -> float:
    """0-1: the share of the sentence's content terms and numbers found in the passage.

    Numbers weigh more than words, and a number (with its unit) missing from the
    passage caps the score at MISSING_NUMBER_CAP: "0,5 mg" cited to a passage that
    says "0,3 mg" is the dangerous case. Compound words are compared whole, so a
    paraphrase that splits a compound scores lower than one that keeps it."""
    sentence = _normalize(strip_citations(sentence))
    terms = _content_terms(sentence)
    quantities = _quantities(sentence)
    total = len(terms) + _NUMBER_WEIGHT * len(quantities)
    if total == 0:
        return 0.0
    passage_terms, passage_quantities = _passage_profile(passage_text)
    numbers_found = sum(_quantity_found(q, passage_quantities) for q in quantities)
    terms_found = len(terms & passage_terms)
    score = (terms_found + _NUMBER_WEIGHT * numbers_found) / total
    if numbers_found < len(quantities):
        score = min(score, MISSING_NUMBER_CAP)
    return score
