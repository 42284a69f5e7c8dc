"""Does a text answer *this* question? Used to rank quote sentences and to
refuse a generated answer whose true sentences are about something else.

The PVK case is the reason: asked how often the insertion site is inspected,
a small model copied the insertion steps from the right passage; every
sentence was supported, none answered the question. Three signals catch it:

- coverage: the share of the question's content terms (stemmed, question
  words and stop words out) that the text contains;
- intent: a question asking *how often*, *how much* or *how fast* is only
  answered by a text with a frequency, a dose or a time in it;
- dense: the multilingual embedder's query-to-passage similarity, which
  carries English questions over Norwegian text, rescaled by a calibrated band.

Weights and bands are calibrated on the gold set by
`benchmarks/quote_answers.py`; the threshold is the setting `addresses_threshold`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from rag.support import medicine_names, medicines_found, routes
from rag.text import analyze, normalize

# Patient groups whose doses and routines differ from adults'. A question about one is only
# answered by a passage that names it: quoting the adult dose to "barn under 10 kg" is the
# near miss that hurts. (nb, nn, en; compounds such as "barnedose" and "spedbarn" count.)
_POPULATIONS: dict[str, re.Pattern[str]] = {
    "children": re.compile(
        r"\b(?:barn\w*|born|borna|bornet|spedbarn\w*|småbarn\w*|nyfødt\w*|nyfødd\w*|neonat\w*"
        r"|child\w*|kids?|infant\w*|newborn\w*|p(?:a)?ediatri\w*)\b",
        re.I,
    ),
    "pregnancy": re.compile(r"\b(?:gravid\w*|svanger\w*|pregnan\w*)", re.I),
    "breastfeeding": re.compile(r"\b(?:ammende|ammar|ammer|amming\w*|breastfeed\w*|lactat\w*)\b", re.I),
}


def populations_named(text: str) -> set[str]:
    return {name for name, pattern in _POPULATIONS.items() if pattern.search(text)}


# A question for the most that may be given is not answered by the usual dose: "max daily dose of
# droperidol" quoted "0,625 mg i.v." reads as if that were the ceiling.
_ASKS_MAXIMUM = re.compile(r"\bmaks\w*|\bmax\w*|\bh(?:øy|øg)este\b|\bupper\s+limit\b", re.I)
_STATES_MAXIMUM = re.compile(
    r"\bmaks\w*|\bmax\w*|\bh(?:øy|ø)st\b|\binntil\b|\bopptil\b|\boverstig\w*|\boverskrid\w*"
    r"|\bikk(?:e|je)\s+(?:over|mer\s+enn|meir\s+enn)\b|\bup\s+to\b|\bnot\s+(?:to\s+)?exceed\w*|\bno\s+more\s+than\b"
    r"|\bat\s+most\b|≤",
    re.I,
)


# Words that make a question a question but say nothing about its topic.
_QUESTION_WORDS = frozenset(
    analyze(
        "hva hvilken hvilke hvem hvor hvordan hvorfor når kva kven kvar korleis kvifor kor "
        "what which who where how why when ofte often mye mykje much many mange lenge long "
        "raskt fort fast soon quickly snart skal bør må kan should must can do does is are "
        "gjelder gjeld anbefales anbefalt recommended recommend få får give given get gets"
    )
)

_NUMBER = r"\d+(?:[.,]\d+)?"
_DOSE_UNIT = r"(?:mg|g|mcg|μg|µg|ml|l|ie|iu|e|mmol|mg/kg|ml/kg|μg/kg|mcg/kg|enheter|units)\b"
_TIME_UNIT = (
    r"(?:min\w*|sek\w*|sec\w*|t|time|timer|timar|timen|h|hours?|døgn|dag\w*|days?|uke\w*|veke\w*|weeks?"
    r"|måned\w*|månad\w*|months?)\b"
)
_UNIT_WORD = re.compile(rf"{_DOSE_UNIT}|{_TIME_UNIT}|år\w*|års\w*|years?|kg|cm|mm|mmhg|kpa|prosent|percent", re.I)

# Scores, tests, devices and agents written with digits: "4AT", "NEWS2", "CRB-65", "FFP3",
# "covid-19". Each names one thing exactly; a text that does not name it answers a neighbour
# ("4AT delirium-screening, hvor ofte?" met the electrolyte checks "daglig" beside delirium).
_CODE = re.compile(r"\b(?:(\d+)-?([^\W\d_]{2,})|([^\W\d_]{2,})-?(\d+))\b")


def codes_named(text: str) -> set[tuple[str, str]]:
    """The codes in a question, as (first part, second part), amounts ("500ml", "30min") left out."""
    codes = set()
    for match in _CODE.finditer(text):
        first, second = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
        letters = second if match.group(1) else first
        if not _UNIT_WORD.fullmatch(letters):
            codes.add((first.lower(), second.lower()))
    return codes


def code_in(code: tuple[str, str], text: str) -> bool:
    """The code in `text`, written with or without a hyphen or space ("NEWS2", "NEWS 2", "CRB-65")."""
    first, second = code
    return re.search(rf"(?<![^\W_]){re.escape(first)}[-\s]?{re.escape(second)}(?![^\W_])", text, re.I) is not None


# (what the question asks, pattern in the question, pattern a text answering it must contain)
_INTENTS: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = (
    (
        "frequency",
        re.compile(r"\b(?:hvor|kor)\s+ofte\b|\bhow\s+often\b|\bintervall\w*|\bfrequen\w+|\bhyppig\w*", re.I),
        re.compile(
            rf"\b(?:hver|hvert|kvar|kvart|every|each)\b|\b(?:ganger?|gonger|times)\b|\d\s*x\b|\bx\s*\d"
            rf"|\bper\s+(?:døgn|dag|time|uke|veke|day|hour|week)\b|/\s*(?:døgn|dag|t|time|uke)\b"
            rf"|\b(?:daglig|dagleg|daily|ukentlig|ukentleg|weekly|timelig|hourly|kontinuerlig\w*)\b",
            re.I,
        ),
    ),
    (
        "dose",
        re.compile(r"\bdos\w*|\w+dos(?:e|en|er|ene|ar|ane|ering\w*)\b|\b(?:hvor|kor)\s+(?:mye|mykje)\b|\bhow\s+much\b|\bmengde\b|\bdosage\b", re.I),
        # An amount, or a rule for one: "1/6 av døgndosen", "del dosen på 2".
        re.compile(rf"{_NUMBER}\s*{_DOSE_UNIT}|\b\d+/\d+\b|\w*dos\w*\b[^.;]*\d|\d[^.;]*\w*dos\w*", re.I),
    ),
    (
        "time",
        re.compile(
            r"\b(?:hvor|kor)\s+(?:raskt|fort|snart|lenge|lang\s+tid)\b|\bhow\s+(?:fast|soon|quickly|long)\b"
            r"|\binnen\s+(?:hvor|kor)\b|\bwithin\s+how\b|\btidsfrist\w*|\bdeadline\b",
            re.I,
        ),
        re.compile(rf"{_NUMBER}\s*\.?\s*{_TIME_UNIT}|\b(?:umiddelbart|straks|omgående|immediately)\b", re.I),
    ),
    (
        "number",
        re.compile(
            r"\b(?:hvor|kor)\s+mange\b|\bhow\s+many\b|\bgrense\w*|\bthreshold\b|\bcut-?off\b|\bhvilken\s+verdi\b",
            re.I,
        ),
        re.compile(rf"{_NUMBER}"),
    ),
)


# A patient's value in the question ("CIWA 17", "barn 8 år", "NEWS2 5") and the bands a source
# gives ("16–20", "6–12 år", "≥ 7", "under 10"): the row whose band holds the value answers it.
_QUESTION_VALUE = re.compile(rf"(?<![\w.,\-–]){_NUMBER}(?![\w])")
_BANDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"({_NUMBER})\s*(?:–|-|—|til)\s*({_NUMBER})"), "between"),
    (re.compile(rf"(?:≥|>=|>|\bover|\bminst|\babove|\bat least)\s*({_NUMBER})", re.I), "from"),
    (re.compile(rf"({_NUMBER})\s*(?:eller|or)\s*(?:høyere|høgare|mer|meir|over|higher|more)\b", re.I), "from"),
    (re.compile(rf"(?:≤|<=|<|\bunder|\bbelow|\bless than|\bmindre enn)\s*({_NUMBER})", re.I), "to"),
    (re.compile(rf"({_NUMBER})\s*(?:eller|or)\s*(?:lavere|lågare|mindre|under|lower|less)\b", re.I), "to"),
)


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def band_fit(values: tuple[float, ...], text: str) -> float | None:
    """1 when the text gives a band holding one of the question's values, 0 when it gives
    bands that hold none of them, None when it gives no band (or the question no value)."""
    if not values:
        return None
    bands: list[tuple[float, float]] = []
    for pattern, kind in _BANDS:
        for match in pattern.finditer(text):
            if kind == "between":
                low, high = _number(match.group(1)), _number(match.group(2))
                if low < high:
                    bands.append((low, high))
            elif kind == "from":
                bands.append((_number(match.group(1)), float("inf")))
            else:
                bands.append((float("-inf"), _number(match.group(1))))
    if not bands:
        return None
    return 1.0 if any(low <= value <= high for value in values for low, high in bands) else 0.0


class QueryEmbedder(Protocol):
    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class AddressingWeights:
    coverage: float
    intent: float
    dense: float
    dense_low: float  # query-passage cosine that counts 0
    dense_high: float  # ... and 1


# What a text keeps of its score when it lacks what the question asks for.
INTENT_MISSING_FACTOR = 0.8

# Calibrated by benchmarks/quote_answers.py on the gold set (see its results file). Two uses, two
# weightings: ranking sentences for a quote answer (where the embedder's similarity finds the answer
# best), and judging whether a generated answer is about the question (where the question's own
# words must be there: the true sentences about dressings score high on similarity to a question
# about inspection).
WEIGHTS = AddressingWeights(coverage=0.3, intent=0.2, dense=0.5, dense_low=0.72, dense_high=0.86)
ANSWER_WEIGHTS = AddressingWeights(coverage=0.45, intent=0.2, dense=0.5, dense_low=0.76, dense_high=0.86)


@dataclass
class QuestionProfile:
    """What a text must contain to answer a question."""

    text: str
    terms: frozenset[str]
    intents: list[tuple[str, re.Pattern[str]]] = field(default_factory=list)
    vector: np.ndarray | None = None
    populations: frozenset[str] = frozenset()  # children, pregnancy, breastfeeding: see _POPULATIONS
    values: tuple[float, ...] = ()  # the patient's numbers in the question: see band_fit
    routes: frozenset[str] = frozenset()  # i.v., s.c. ...: see rag.support.routes
    codes: frozenset[tuple[str, str]] = frozenset()  # 4AT, NEWS2 ...: see _CODE
    asks_maximum: bool = False  # see _ASKS_MAXIMUM


def profile(question: str, embedder: QueryEmbedder | None = None) -> QuestionProfile:
    # Numbers in a question are mostly the patient's (weight, age, a score), which sources give as
    # ranges; matching them finds sentences that merely share a number.
    terms = frozenset(t for t in analyze(question, nynorsk_as_bokmaal=True) if t not in _QUESTION_WORDS and not t[0].isdigit())
    intents = [(name, answer) for name, asks, answer in _INTENTS if asks.search(question)]
    vector = embedder.embed_queries([question])[0] if embedder is not None else None
    values = tuple(_number(m.group(0)) for m in _QUESTION_VALUE.finditer(question))
    return QuestionProfile(
        question, terms, intents, vector, frozenset(populations_named(question)), values,
        frozenset(routes(question)), frozenset(codes_named(question)), bool(_ASKS_MAXIMUM.search(question)),
    )


# Norwegian writes compounds as one word ("adrenalindosen", "gentamicinspeil"): a question
# term this long that begins a word of the text (or a word that begins it) counts as found.
COMPOUND_MIN_CHARS = 4


def coverage(question: QuestionProfile, text: str) -> float:
    """Share of the question's terms in `text`, compounds included."""
    if not question.terms:
        return 0.0
    words = set(analyze(text, nynorsk_as_bokmaal=True))
    return sum(_found(term, words) for term in question.terms) / len(question.terms)


def _found(term: str, words: set[str]) -> bool:
    if term in words:
        return True
    if len(term) < COMPOUND_MIN_CHARS:
        return False
    return any(word.startswith(term) or (len(word) > COMPOUND_MIN_CHARS and term.startswith(word)) for word in words)


def _line_of(text: str, around: str) -> str:
    """The line (a table row, a list item) of `around` that holds `text`; `text` when not there."""
    start = around.find(text)
    if start < 0:
        return text
    end = around.find("\n", start + len(text))
    return around[around.rfind("\n", 0, start) + 1 : end if end >= 0 else len(around)]


def intent_met(question: QuestionProfile, text: str) -> float | None:
    """1 when the text has what the question asks for (a frequency, a dose ...),
    0 when it lacks it, None when the question asks for nothing in particular."""
    if not question.intents:
        return None
    plain = normalize(text)
    return 1.0 if any(pattern.search(plain) for _, pattern in question.intents) else 0.0


def dense_score(question: QuestionProfile, passage_vector: np.ndarray | None, weights: AddressingWeights = WEIGHTS) -> float:
    if question.vector is None or passage_vector is None:
        return 0.0
    cosine = float(np.dot(question.vector, passage_vector))
    return float(min(1.0, max(0.0, (cosine - weights.dense_low) / (weights.dense_high - weights.dense_low))))


def addresses(
    question: QuestionProfile,
    text: str,
    passage_vector: np.ndarray | None = None,
    weights: AddressingWeights = WEIGHTS,
    *,
    context: str = "",
    surroundings: str = "",
) -> float:
    """0-1: how well `text` answers the question. `context` (a heading) counts
    for half of the coverage: a sentence under "Inspeksjon" is about inspection.
    A question naming a medicine is only answered by a text whose `surroundings`
    (the passage it stands in; default: the text and its context) name it too:
    the adult dose of another medicine does not answer it. Likewise a question about
    children, pregnancy or breastfeeding needs surroundings that name that group, one
    naming a route (i.v., s.c. ...) surroundings that name that route, one naming a
    code (4AT, NEWS2, CRB-65) surroundings that name that code, and one asking for a
    maximum a text that states a limit ("maks", "inntil", "ikke overstige")."""
    around = surroundings or f"{context}\n{text}"
    if not medicines_found(question.text, around, every=False):
        return 0.0
    # ... nor by a row of the right table that names only another medicine (midazolam's dose
    # beside morphine's in the palliative table), also when the sentence is the row's second one
    # ("maks 16 mg/døgn" is ondansetron's, not droperidol's).
    row = _line_of(text, around)
    if not medicines_found(question.text, row, every=False) and medicine_names(row):
        return 0.0
    if question.populations and not question.populations <= populations_named(around):
        return 0.0
    # Asked for morphine i.v., the s.c. dose beside it is not an answer.
    if question.routes and not question.routes <= routes(around):
        return 0.0
    if not all(code_in(code, around) for code in question.codes):
        return 0.0
    if question.asks_maximum and not _STATES_MAXIMUM.search(f"{context}\n{text}"):
        return 0.0
    cover = coverage(question, text)
    if context:
        cover = (cover + coverage(question, f"{context}\n{text}")) / 2
    intent = intent_met(question, text)
    dense = dense_score(question, passage_vector, weights)
    use_dense = question.vector is not None and passage_vector is not None
    parts = [(weights.coverage, cover)]
    if intent is not None:
        parts.append((weights.intent, intent))
    if use_dense:
        parts.append((weights.dense, dense))
    band = band_fit(question.values, text)
    if band is not None:
        parts.append((weights.intent, band))
    total = sum(w for w, _ in parts)
    score = sum(w * v for w, v in parts) / total if total else 0.0
    # A question that asks how often / how much is not answered without one.
    return score * INTENT_MISSING_FACTOR if intent == 0.0 else score
