"""Does a passage support a sentence? The check behind every citation pill.

A sentence is compared with each sentence (line, table row, list item) of the
passage, never with the passage as a bag of words: a claim that recombines
words from two unrelated sentences is not supported. A passage sentence
supports it when the hard rules hold and one of two signals is strong enough:

- every content term of the claim is in that sentence (stemmed, compounds
  allowed: "adrenalindosen" has "adrenalin"), which is what a copied or
  lightly edited sentence looks like; or
- the multilingual embedder finds them near-identical in meaning: the
  cosine, rescaled by a calibrated band, reaches the threshold, and (for two
  texts in the same language) most of the claim's words are there too. An
  English claim over a Norwegian passage shares few words with it, so for
  those the cosine alone decides, with a band of its own.

The hard rules make a claim unsupported whatever its scores, because these
are the errors that hurt patients; each was seen in the labelled pairs:

- every number must be there with the same unit ("2 g x 4" is not "1 g x 4",
  "hver 8. time" is "every 8 hours");
- every frequency ("daglig", "to ganger i uka", "x 3") and route ("i.v.",
  "p.o.", "s.c.") must be there;
- every medicine name (recognised by its INN stem: -cillin, -mycin, -azol,
  -olol, -setron ...) must be there, in either spelling (doxycycline/doksysyklin);
- the claim and the sentence must agree on negation ("skal ikke" vs "skal");
  "ikke mer enn" and "no later than" are limits, not negations.

The bands, the lexical gate and the threshold come from
`benchmarks/support_calibration.py` on the labelled pairs in
`eval/data/support_pairs.jsonl`, where they reach a precision of 0.98 on
"supported" (see its results file for recall and the cross-validated figure).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from rag.citations import _normalize, _quantities, lexical_support, segments, strip_citations
from rag.language import detect_language
from rag.text import analyze

# A score this low is what a sentence gets when a hard rule fails.
FAILED_RULE_CAP = 0.2
# Same language: the share of the claim's terms and numbers that must be in the sentence for
# the semantic signal to count (a near-identical meaning with other words is a paraphrase; the
# same cosine with few shared words was, in the labelled pairs, as often another claim).
LEXICAL_GATE = 0.7
# Compound words: a claim term this long that begins a word of the sentence (or the reverse) is found.
COMPOUND_MIN_CHARS = 4


@dataclass(frozen=True)
class SemanticBand:
    """Cosines at or below `low` count 0, at or above `high` count 1, linear between."""

    low: float
    high: float

    def scale(self, cosine: float) -> float:
        return float(min(1.0, max(0.0, (cosine - self.low) / (self.high - self.low))))


# Calibrated on eval/data/support_pairs.jsonl (benchmarks/support_calibration.py) for
# multilingual-e5-small: with the default threshold 0.5 a claim needs a cosine of 0.97 with a
# sentence in its own language, 0.91 with a sentence in another. Sentences of one clinical topic
# sit between 0.80 and 0.95 whatever they say; translations a little lower than paraphrases.
SAME_LANGUAGE_BAND = SemanticBand(low=0.94, high=1.0)
CROSS_LANGUAGE_BAND = SemanticBand(low=0.88, high=0.94)


class SentenceEmbedder(Protocol):
    def embed_queries(self, texts: list[str]) -> np.ndarray: ...


# --- hard rules ----------------------------------------------------------------

# "ikke mer enn 3 doser", "no later than 8 hours": a limit, not a negation.
_LIMIT_AFTER = r"(?!\s+(?:mer|meir|mindre|senere|seinare|seinere|tidligere|tidlegare|lenger|lengre|more|less|fewer|later|earlier|longer|sooner)\b)"
_NEGATION = re.compile(
    rf"\b(?:ikke|ikkje|aldri|ingen|inga|intet|inkje|never|not|none|nor)\b{_LIMIT_AFTER}|n['’]t\b|\bcannot\b", re.I
)
# "no" is nynorsk for "now", so it only negates in English.
_ENGLISH_NO = re.compile(rf"\bno\b{_LIMIT_AFTER}", re.I)

# Frequencies, each mapped to one period. "x 3" (three times, a daily dose in Norwegian prescriptions) counts as daily.
_PERIOD_WORDS = {
    "day": r"døgnet|døgn|dagen|dag|day|24 ?t",
    "week": r"uken|uka|uke|veka|veke|week",
    "month": r"måneden|måned|månaden|månad|month",
    "year": r"året|år|year",
    "hour": r"timen|time|hour",
}
_FREQUENCIES = [
    (re.compile(r"(?<![\w.,])x\s*\d|\b(?:daglig|dagleg|daily|døgnlig)\b|\b(?:i|per|pr\.?|om|a|an|each)\s+(?:" + _PERIOD_WORDS["day"] + r")\b", re.I), "day"),
    (re.compile(r"\b(?:ukentlig|ukentleg|vekentleg|weekly)\b|\b(?:i|per|pr\.?|a|om|each)\s+(?:" + _PERIOD_WORDS["week"] + r")\b", re.I), "week"),
    (re.compile(r"\b(?:månedlig|månadleg|monthly)\b|\b(?:i|per|pr\.?|a|each)\s+(?:" + _PERIOD_WORDS["month"] + r")\b", re.I), "month"),
    (re.compile(r"\b(?:årlig|årleg|yearly|annually)\b|\b(?:i|per|pr\.?|a|each)\s+(?:" + _PERIOD_WORDS["year"] + r")\b", re.I), "year"),
    (re.compile(r"\b(?:timelig|hourly)\b|\b(?:i|per|pr\.?|an|each)\s+(?:" + _PERIOD_WORDS["hour"] + r")\b", re.I), "hour"),
    (re.compile(r"\b(?:kontinuerlig\w*|continuous\w*)\b", re.I), "continuous"),
]
_ROUTES = [
    (re.compile(r"\bi\.?\s?v\.?(?=\W|$)|\bintravenø\w*|\bintravenous\w*", re.I), "iv"),
    (re.compile(r"\bp\.?\s?o\.?(?=\W|$)|\bperoral\w*|\bper os\b|\boral(?:ly|t)?\b|\bby mouth\b|\btablett\w*|\btablets?\b", re.I), "po"),
    (re.compile(r"\bi\.?\s?m\.?(?=\W|$)|\bintramusk\w*|\bintramuscular\w*", re.I), "im"),
    (re.compile(r"\bs\.?\s?c\.?(?=\W|$)|\bsubkutan\w*|\bsubcutaneous\w*", re.I), "sc"),
    (re.compile(r"\brektal\w*|\brectal\w*|\bsupp\b|\bstikkpille\w*|\bsuppositor\w*", re.I), "pr"),
]
# Medicine names by their INN stems, Norwegian and English spellings.
_MEDICINE = re.compile(
    r"^[a-zæøå]{3,}(?:cillin|micin|mycin|oksacin|oxacin|syklin|cyklin|cycline|azol|azole|olol|pril|sartan|statin"
    r"|prazol|prazole|parin|dronat|dronate|mab|nib|kain|caine|setron|azepam|zepam|zolam|alin|aline|amin|amine"
    r"|ridol|pramid|pramide|metason|methasone|kortison|cortisone|nisolon|nisolone|profen|proksen|proxen|fenak"
    r"|fenac|kodon|codone|tanyl|adol|etamol|amol|gliptin|glinid|formin|tiazid|thiazide|semid)$"
    # Common ones without a telling stem.
    r"|^(?:morfin|morphine|insulin|kodein|codeine|nalokson|naloxone|digoksin|digoxin|litium|lithium|warfarin"
    r"|marevan|fentanyl|glukagon|glucagon|diazepam|tiamin|thiamine)$"
)
_LETTERS = re.compile(r"[^\W\d_]+")
# English and Norwegian spell the same medicine differently (doxycycline, doksysyklin).
_SPELLING = (("ph", "f"), ("th", "t"), ("qu", "kv"), ("x", "ks"), ("c", "k"))


def negated(text: str, language: str = "nb") -> bool:
    """Whether a sentence says something is not so."""
    return bool(_NEGATION.search(text) or (language == "en" and _ENGLISH_NO.search(text)))


def frequencies(text: str) -> set[str]:
    return {period for pattern, period in _FREQUENCIES if pattern.search(text)}


def routes(text: str) -> set[str]:
    return {route for pattern, route in _ROUTES if pattern.search(text)}


def _spelling_key(word: str) -> str:
    word = word.lower()
    for old, new in _SPELLING:
        word = word.replace(old, new)
    return word.rstrip("e")


def medicine_names(text: str) -> list[str]:
    """Words of `text` that are medicine names by their INN stem."""
    return [w.lower() for w in _LETTERS.findall(text) if _MEDICINE.match(w.lower())]


def medicines_found(claim: str, evidence: str, *, every: bool = True) -> bool:
    """Whether the medicines the claim names are in the evidence (in either spelling);
    `every=False`: at least one of them."""
    names = medicine_names(claim)
    if not names:
        return True
    keys = {_spelling_key(w) for w in _LETTERS.findall(evidence)}
    found = [any(_spelling_key(name) in key for key in keys) for name in names]
    return all(found) if every else any(found)


def _dose_quantities(text: str) -> set[tuple[float, str | None]]:
    text = _normalize(strip_citations(text))
    text = re.sub(r"(?<![\w.,])x\s*(\d+)", r"\1 ganger", text)  # "2 g x 4": four times
    text = re.sub(r"(\d)\.\s+(?=[^\W\d_])", r"\1 ", text)  # "hver 8. time": an ordinal, its unit follows
    return _quantities(text)


def numbers_match(claim: str, evidence: str) -> bool:
    """Every number of the claim is in the evidence, with the same unit when it has one."""
    found = _dose_quantities(evidence)
    values = {value for value, _ in found}
    return all((value, unit) in found if unit else value in values for value, unit in _dose_quantities(claim))


def failed_rule(claim: str, evidence: str, claim_language: str, evidence_language: str) -> str:
    """The first hard rule the pair breaks, or ''."""
    if not numbers_match(claim, evidence):
        return "number"
    if not frequencies(claim) <= frequencies(evidence):
        return "frequency"
    if not routes(claim) <= routes(evidence):
        return "route"
    if not medicines_found(claim, evidence):
        return "medicine"
    if negated(claim, claim_language) != negated(evidence, evidence_language):
        return "negation"
    return ""


# --- the check -----------------------------------------------------------------


@dataclass
class Support:
    score: float
    supported: bool
    evidence: str = ""  # the passage sentence that supports it best (verbatim)
    rule: str = ""  # the hard rule that failed, if any


def passage_sentences(passage_text: str) -> list[str]:
    return [s.text for s in segments(passage_text)] or [passage_text.strip()]


def all_terms_found(claim: str, sentence: str) -> bool:
    """Every content term of the claim (numbers aside) is in the sentence, compounds allowed."""
    terms = {t for t in analyze(claim) if not t[0].isdigit()}
    if not terms:
        return False
    words = set(analyze(sentence))
    return all(_term_found(term, words) for term in terms)


def _term_found(term: str, words: set[str]) -> bool:
    if term in words:
        return True
    if len(term) < COMPOUND_MIN_CHARS:
        return False
    return any(w.startswith(term) or (len(w) > COMPOUND_MIN_CHARS and term.startswith(w)) for w in words)


def same_language(claim_language: str, passage_language: str) -> bool:
    # Bokmål and nynorsk share most words and the embedder treats them alike.
    return (claim_language == "en") == (passage_language == "en")


def sentence_score(
    claim: str,
    sentence: str,
    cosine: float | None,
    same: bool,
    threshold: float,
    bands: tuple[SemanticBand, SemanticBand] = (SAME_LANGUAGE_BAND, CROSS_LANGUAGE_BAND),
    lexical_gate: float = LEXICAL_GATE,
) -> float:
    """0-1 support of one passage sentence for the claim, before the hard rules."""
    if same and all_terms_found(claim, sentence):
        return 1.0
    below = threshold - 0.01  # what a path that may not decide is capped at
    if cosine is None:  # no calibrated embedder: only the lexical path
        return min(lexical_support(claim, sentence), below)
    same_band, cross_band = bands
    if same:
        semantic = same_band.scale(cosine)
        return semantic if lexical_support(claim, sentence) >= lexical_gate else min(semantic, below)
    return cross_band.scale(cosine)


class SupportChecker:
    """Scores sentences against passages; thread-safe. Give it a `SentenceVectorCache` (the
    answering service does): a passage's sentences are embedded again for every claim."""

    def __init__(self, embedder: SentenceEmbedder | None, threshold: float):
        self.embedder = embedder
        self.threshold = threshold

    def vectors(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Symmetric sentence vectors (the embedder's query side for both texts)."""
        assert self.embedder is not None
        return list(np.asarray(self.embedder.embed_queries(list(texts)), dtype=np.float32))

    def check(
        self,
        sentence: str,
        passage_text: str,
        *,
        header: str = "",
        passage_language: str = "nb",
        sentence_language: str | None = None,
    ) -> Support:
        """The best-supporting sentence of the passage for `sentence`. `header` (title and
        heading) is read with each passage sentence: a claim may name the topic the heading gives."""
        claim = strip_citations(sentence).strip()
        if not claim:
            return Support(0.0, False)
        language = sentence_language or detect_language(claim)
        same = same_language(language, passage_language)
        candidates = passage_sentences(passage_text)
        cosines: list[float | None] = [None] * len(candidates)
        if self.embedder is not None:
            claim_vector, *vectors = self.vectors([claim, *candidates])
            cosines = [float(np.dot(claim_vector, v)) for v in vectors]
        best: Support | None = None
        for candidate, cosine in zip(candidates, cosines, strict=True):
            context = f"{header}\n{candidate}" if header else candidate
            score = sentence_score(claim, context, cosine, same, self.threshold)
            rule = failed_rule(claim, context, language, passage_language)
            result = Support(min(score, FAILED_RULE_CAP) if rule else score, not rule and score >= self.threshold, candidate, rule)
            if best is None or (result.supported, result.score) > (best.supported, best.score):
                best = result
        assert best is not None
        return best
