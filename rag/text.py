"""Norwegian text analysis for lexical search: tokens, stop words, stems.

BM25 over stems is what finds drug names, doses and abbreviations (KOLS,
NEWS2, qSOFA) that dense embeddings miss. The stemmer is Snowball's (PyStemmer)
and the stop words come from the `stop-words` package; only the tokenisation
rule is ours, because clinical text needs doses ("0,5") and codes ("NEWS2")
kept whole.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer
from stop_words import get_stop_words

# Numbers with decimal comma/point, words with trailing digits (NEWS2), plain words.
_TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+\d*", re.UNICODE)

# English questions meet a Norwegian corpus; drop both languages' function words.
_STOP_LANGUAGES = ("norwegian", "english")


@lru_cache(maxsize=4)
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(language)


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    words: set[str] = set()
    for language in _STOP_LANGUAGES:
        words.update(get_stop_words(language))
    return frozenset(words)


def normalize(text: str) -> str:
    """NFC, lower case, soft hyphens and zero-width characters removed."""
    text = unicodedata.normalize("NFC", text)
    return re.sub("[\u00ad\u200b\u200c\u200d\ufeff]", "", text).lower()


def tokenize(text: str) -> list[str]:
    return _TOKEN_RE.findall(normalize(text))


def analyze(text: str, language: str = "norwegian") -> list[str]:
    """Stemmed content terms in order (duplicates kept, for term frequency)."""
    stop = stop_words()
    tokens = [t for t in tokenize(text) if t not in stop]
    # Numbers are not stemmed: "0,5" must stay "0,5".
    stemmer = _stemmer(language)
    return [t if t[0].isdigit() else stemmer.stemWord(t) for t in tokens]
