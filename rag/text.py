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


def _clean(text: str) -> str:
    """NFC, soft hyphens and zero-width characters removed."""
    text = unicodedata.normalize("NFC", text)
    return re.sub("[\u00ad\u200b\u200c\u200d\ufeff]", "", text)


def normalize(text: str) -> str:
    """NFC, lower case, soft hyphens and zero-width characters removed."""
    return _clean(text).lower()


def tokenize(text: str) -> list[str]:
    return _TOKEN_RE.findall(normalize(text))


def tokens_as_written(text: str) -> list[str]:
    """The tokens of `tokenize`, with their case kept."""
    return _TOKEN_RE.findall(_clean(text))


# Nynorsk forms of words that carry clinical meaning, as bokmål. The Snowball stemmer is
# bokmål's, so "vaksen" and "voksen" (adult), "halde" and "holde" would otherwise never
# meet. Used where both sides are analysed at query time (the relevance floor's term
# coverage, whether a sentence answers the question), not for the BM25 index, so an
# index built before a word was added here stays consistent.
_NYNORSK_AS_BOKMAAL = {
    "vaksen": "voksen", "vaksne": "voksne", "vaksent": "voksent",
    "born": "barn", "borna": "barna", "bornet": "barnet", "borne": "barnet",
    "halde": "holde", "held": "holder", "heldt": "holdt", "haldast": "holdes",
    "gje": "gi", "gjev": "gir", "gjeve": "gitt", "gjevast": "gis", "gjevne": "gitte",
    "mykje": "mye", "meir": "mer", "fleire": "flere", "nokre": "noen", "noko": "noe",
    "sjuk": "syk", "sjuke": "syke", "sjukdom": "sykdom", "sjukepleiar": "sykepleier", "sjukepleiarar": "sykepleiere",
    "sjukehus": "sykehus", "sjukehuset": "sykehuset",
    "høg": "høy", "høgt": "høyt", "høge": "høye", "høgare": "høyere", "låg": "lav", "lågt": "lavt", "låge": "lave",
    "lågare": "lavere",
    "veke": "uke", "veker": "uker", "vekene": "ukene", "timar": "timer", "timane": "timene", "dagar": "dager",
    "dagane": "dagene", "månad": "måned", "månader": "måneder",
    "auke": "øke", "aukar": "øker", "auka": "økt", "søkk": "synk", "fell": "faller",
    "kjelde": "kilde", "kjelder": "kilder", "kjeldene": "kildene",
    "hand": "hånd", "handa": "hånden", "handdesinfeksjon": "hånddesinfeksjon",
    "handhygiene": "håndhygiene", "hovud": "hode", "hovudet": "hodet", "auge": "øye", "augo": "øyne",
    "tidleg": "tidlig", "seinare": "senere", "sein": "sen", "fyrst": "først", "berre": "bare",
    "ikkje": "ikke", "medan": "mens", "byrje": "begynne", "byrjar": "begynner",
    "teke": "tatt", "takast": "tas",
    "pasientar": "pasienter", "pasientane": "pasientene", "legar": "leger",
    "observerast": "observeres", "vurderast": "vurderes", "gjerast": "gjøres",
    "dokumenterast": "dokumenteres", "skiftast": "skiftes", "fjernast": "fjernes", "brukast": "brukes",
    "kontrollerast": "kontrolleres", "målast": "måles", "avsluttast": "avsluttes",
    "heitte": "het", "heiter": "heter", "treng": "trenger", "trengst": "trengs", "gjere": "gjøre",
    "sjølv": "selv", "saman": "sammen", "kvifor": "hvorfor", "korleis": "hvordan", "sjå": "se",
    "nytte": "bruke", "nyttast": "brukes", "kome": "komme", "kjem": "kommer", "utan": "uten",
    "fyrste": "første", "vere": "være", "vore": "vært", "døyande": "døende", "døy": "dø", "døyr": "dør",
}
# Nynorsk endings and their bokmål counterparts, for words the table above does not hold
# ("inspiserast", "pasientane", "forlikelegheit"). Long words only: short bokmål words end so too.
_NYNORSK_ENDINGS = (("erast", "eres"), ("ast", "es"), ("ane", "ene"), ("ande", "ende"), ("legheit", "lighet"),
                    ("heit", "het"), ("leg", "lig"), ("ar", "er"))
_NYNORSK_ENDING_MIN_CHARS = 7


def bokmaal_variants(word: str) -> set[str]:
    """The word and what it would be in bokmål: the table's form, and for a long word a
    nynorsk ending swapped for bokmål's (every rule that applies, so some variants are not words)."""
    variants = {word, _NYNORSK_AS_BOKMAAL.get(word, word)}
    if len(word) >= _NYNORSK_ENDING_MIN_CHARS:
        variants |= {word[: -len(nn)] + nb for nn, nb in _NYNORSK_ENDINGS if word.endswith(nn)}
    return variants


def stem(word: str, language: str = "norwegian") -> str:
    """The stem the BM25 index holds for a lower-case word. Numbers are not stemmed: "0,5"
    must stay "0,5"."""
    return word if word[:1].isdigit() else _stemmer(language).stemWord(word)


def analyze(text: str, language: str = "norwegian", *, nynorsk_as_bokmaal: bool = False) -> list[str]:
    """Stemmed content terms in order (duplicates kept, for term frequency).
    `nynorsk_as_bokmaal` maps common nynorsk word forms to bokmål before stemming."""
    stop = stop_words()
    tokens = [t for t in tokenize(text) if t not in stop]
    if nynorsk_as_bokmaal:
        tokens = [_NYNORSK_AS_BOKMAAL.get(t, t) for t in tokens]
        tokens = [t for t in tokens if t not in stop]
    return [stem(t, language) for t in tokens]
