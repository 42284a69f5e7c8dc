"""Words a question names that the library has never seen.

A near-miss question names something specific that no document the user may
read mentions: "vankomycin dosering og speil", "hvor ofte skal
epiduralkateter inspiseres", "hvordan behandle hyperkalemi akutt". Similarity
cannot see it: the passage on the neighbouring topic (another antibiotic,
another catheter) scores as high as a real answer would. The missing word can.

A question word counts as *unknown* when all of these hold:

- the question is Norwegian (an English question meets a Norwegian library
  whose words it does not share; the dense floor judges those);
- it is not a name: capitalised inside the question, or one of two capitalised
  words opening it (often the patient's name);
- it is rare in everyday language (wordfreq's Zipf frequency for bokmål below
  `unknown_term_max_zipf`, after nynorsk forms are read as bokmål): everyday
  words ("mye", "bruke", "spørre") say how something is asked, rare ones say
  what it is about;
- its stem occurs in no chunk the user may read;
- it is not a compound whose parts the library or everyday language knows
  ("insulinbrukere", "smartklokke", "blodoverføring"): Norwegian writes new
  compounds freely, and a new compound of known words is a way of asking,
  not a new thing;
- it is not an abbreviated compound or an inflection of a word in the retrieved
  passages ("respfrekvens" for "respirasjonsfrekvens", "innstikkstaden" beside
  "innstikkstedet"), nor the first part of a compound there ("lunge" in
  "lungetuberkulose").

Nynorsk words are looked up in their bokmål forms too (`rag.text.bokmaal_variants`):
everyday nynorsk ("heitte", "pasientane", "inspiserast") is rare in bokmål text.

The refusal names the word, so a nurse whose ward says "venflon" where the
procedure says "PVK" sees at once what to ask instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache

from wordfreq import zipf_frequency

from rag.models import Language
from rag.sparse import term_index
from rag.text import bokmaal_variants, stem, stop_words, tokens_as_written

# Enough to find what a real question names; a 2,000-character paste of rare words would
# otherwise cost thousands of lookups (about 2 s for 166 words).
MAX_CANDIDATES = 12
# A compound part shorter than this is too short to be a word of its own ("ab" + "stinens").
COMPOUND_PART_MIN_CHARS = 3
# Letters that join Norwegian compound parts ("abstinens-s-behandling", "sykehus-e-...").
_LINKING = ("s", "e")


# A word sharing its first letters, this share of them and at least NEARBY_PREFIX_MIN_CHARS,
# with a word of the retrieved passages is an inflection of it ("innstikkstaden", "innstikkstedet").
NEARBY_PREFIX_SHARE = 0.7
NEARBY_PREFIX_MIN_CHARS = 6


@lru_cache(maxsize=50_000)
def everyday_frequency(word: str) -> float:
    """Zipf frequency of a word in everyday bokmål (0 = never seen, 7 = the commonest words);
    a nynorsk word counts as its bokmål form."""
    return max(zipf_frequency(variant, "nb") for variant in bokmaal_variants(word))


def candidate_words(question: str, language: Language, *, min_chars: int, max_zipf: float) -> list[str]:
    """The question's words that could name something the library lacks: Norwegian, not stop
    words or numbers, at least `min_chars` long, rare in everyday language, and not a name."""
    if language == "en":
        return []
    stop = stop_words()
    found: list[str] = []
    written_tokens = tokens_as_written(question)
    for position, written in enumerate(written_tokens):
        word = written.lower()
        if word in stop or word[0].isdigit() or len(word) < min_chars or word in found:
            continue
        # "Har Kari Aarflot feber?": a capitalised word inside the question, or two capitalised
        # words opening it, is a name (often the patient's); refusing over it would echo the
        # name back and answer nothing.
        following = written_tokens[position + 1] if position + 1 < len(written_tokens) else ""
        if _capitalised(written) and (position > 0 or _capitalised(following)):
            continue
        if everyday_frequency(word) < max_zipf:
            found.append(word)
            if len(found) == MAX_CANDIDATES:
                break
    return found


def _capitalised(token: str) -> bool:
    return len(token) > 1 and token[0].isupper() and token[1:].islower()


def _splits(word: str) -> Iterable[tuple[str, str]]:
    """(head, tail) for every split of a compound into two parts, with and without a linking letter."""
    for cut in range(COMPOUND_PART_MIN_CHARS, len(word) - COMPOUND_PART_MIN_CHARS + 1):
        head, tail = word[:cut], word[cut:]
        yield head, tail
        if head.endswith(_LINKING) and len(head) > COMPOUND_PART_MIN_CHARS:
            yield head[:-1], tail


def _stems(word: str) -> set[str]:
    return {stem(variant) for variant in bokmaal_variants(word)}


def unknown_words(
    candidates: list[str],
    present: Callable[[set[int]], set[int]],
    nearby_words: set[str],
    *,
    max_zipf: float,
) -> list[str]:
    """The candidates that the library does not know (see the module docstring).

    `present` says which BM25 term indices occur in the chunks the user may read (one call);
    `nearby_words` are the words of the retrieved passages, for abbreviations, inflections and
    compound parts of their words."""
    if not candidates:
        return []
    needed: set[str] = set()
    for word in candidates:
        needed |= _stems(word)
        for head, tail in _splits(word):
            needed |= _stems(head) | _stems(tail)
    known_indices = present({term_index(s) for s in needed})

    def known(word: str) -> bool:
        return any(term_index(s) in known_indices for s in _stems(word))

    def part_known(part: str) -> bool:
        return known(part) or everyday_frequency(part) >= max_zipf

    unknown: list[str] = []
    for word in candidates:
        if known(word):
            continue
        # A compound of known parts, at least one of them in the library.
        if any(part_known(h) and part_known(t) and (known(h) or known(t)) for h, t in _splits(word)):
            continue
        if _abbreviates(word, nearby_words) or _inflects(word, nearby_words):
            continue
        unknown.append(word)
    return unknown


def _inflects(word: str, nearby_words: set[str]) -> bool:
    """'innstikkstaden' beside 'innstikkstedet': a retrieved word that begins the same way for
    most of the word's length (inflections, nynorsk forms, spelling variants)."""
    if any(len(w) > len(word) and w.startswith(word) for w in nearby_words):
        return True  # the first part of a compound there: "lunge" in "lungetuberkulose"
    needed = max(NEARBY_PREFIX_MIN_CHARS, round(NEARBY_PREFIX_SHARE * len(word)))
    if len(word) < needed:
        return False
    head = word[:needed]
    return any(w.startswith(head) for w in nearby_words)


def _abbreviates(word: str, nearby_words: set[str]) -> bool:
    """'respfrekvens' for 'respirasjonsfrekvens': a longer nearby word that begins with the
    word's head and ends with its tail."""
    for head, tail in _splits(word):
        if len(tail) < 2 * COMPOUND_PART_MIN_CHARS:
            continue
        if any(len(w) > len(word) and w.startswith(head) and w.endswith(tail) for w in nearby_words):
            return True
    return False
