"""What the service itself says to a user, in the question's language form.

Refusals say *why* nothing is shown as an answer: "the guidelines do not
cover this" only when retrieval found nothing relevant. When the right
documents were found but the model's answer could not be verified, or no
sentence in them answers the question, the text says that instead, so a
nurse does not conclude the guideline is silent.
"""

from __future__ import annotations

from rag.models import Language

# Refusal reasons recorded in the answer and the audit log.
REASON_NOT_FOUND = "no_relevant_sources"
REASON_UNKNOWN_TERM = "unknown_term"
REASON_NOT_ANSWERABLE = "sources_do_not_answer"
REASON_NO_QUOTE = "no_sentence_answers"
REASON_UNSUPPORTED = "answer_not_supported_by_sources"

# An unknown-term refusal names at most this many words (the first in the question).
MAX_NAMED_TERMS = 3

# Why a quote answer was given instead of the model's.
FALLBACK_QUOTE_MODE = "quote_mode"
FALLBACK_MODEL_UNAVAILABLE = "model_unavailable"
FALLBACK_NOT_VERIFIED = "not_verified"
FALLBACK_OFF_TOPIC = "off_topic"

REFUSALS: dict[str, dict[Language, str]] = {
    REASON_NOT_FOUND: {
        "nb": "Jeg finner ikke svar på dette i retningslinjene som er tilgjengelige.",
        "nn": "Eg finn ikkje svar på dette i retningslinjene som er tilgjengelege.",
        "en": "I cannot find an answer to this in the available guidelines.",
    },
    REASON_UNKNOWN_TERM: {
        "nb": "Jeg finner ikke {terms} i kildene du har tilgang til, så jeg gir ikke noe svar. "
        "Bruker kildene et annet ord for det, kan du spørre med det ordet.",
        "nn": "Eg finn ikkje {terms} i kjeldene du har tilgang til, så eg gir ikkje noko svar. "
        "Brukar kjeldene eit anna ord for det, kan du spørje med det ordet.",
        "en": "I cannot find {terms} in the sources available to you, so I give no answer. "
        "If the sources use another word for it, ask with that word.",
    },
    REASON_NOT_ANSWERABLE: {
        "nb": "Dokumentene jeg fant om temaet, svarer ikke på akkurat dette. Se de nærmeste kildene.",
        "nn": "Dokumenta eg fann om temaet, svarer ikkje på akkurat dette. Sjå dei næraste kjeldene.",
        "en": "The documents I found on this topic do not answer exactly this. See the closest sources.",
    },
    REASON_NO_QUOTE: {
        "nb": "Jeg fant dokumenter om temaet, men ingen setning i dem svarer direkte på spørsmålet. Se de nærmeste kildene.",
        "nn": "Eg fann dokument om temaet, men ingen setning i dei svarer direkte på spørsmålet. Sjå dei næraste kjeldene.",
        "en": "I found documents on this topic, but no sentence in them answers the question directly. See the closest sources.",
    },
    REASON_UNSUPPORTED: {
        "nb": "Språkmodellens svar kunne ikke bekreftes av kildene, og ingen setning i kildene svarer direkte på spørsmålet.",
        "nn": "Svaret frå språkmodellen kunne ikkje stadfestast av kjeldene, og ingen setning i kjeldene svarer direkte på spørsmålet.",
        "en": "The language model's answer could not be confirmed by the sources, and no sentence in them answers the question directly.",
    },
}

FALLBACK_NOTICES: dict[str, dict[Language, str]] = {
    FALLBACK_QUOTE_MODE: {
        "nb": "Ingen språkmodell skriver svar her, så du får setningene fra kildene som best svarer på spørsmålet.",
        "nn": "Ingen språkmodell skriv svar her, så du får setningane frå kjeldene som best svarer på spørsmålet.",
        "en": "No language model writes answers here, so you get the sentences from the sources that best answer the question.",
    },
    FALLBACK_MODEL_UNAVAILABLE: {
        "nb": "Språkmodellen svarer ikke akkurat nå, så du får sitater fra kildene i stedet.",
        "nn": "Språkmodellen svarer ikkje akkurat no, så du får sitat frå kjeldene i staden.",
        "en": "The language model is not responding right now, so you get quotes from the sources instead.",
    },
    FALLBACK_NOT_VERIFIED: {
        "nb": "Språkmodellens svar kunne ikke verifiseres mot kildene, så du får sitater fra kildene i stedet.",
        "nn": "Svaret frå språkmodellen kunne ikkje verifiserast mot kjeldene, så du får sitat frå kjeldene i staden.",
        "en": "The language model's answer could not be verified against the sources, so you get quotes from them instead.",
    },
    FALLBACK_OFF_TOPIC: {
        "nb": "Språkmodellens svar svarte ikke på spørsmålet, så du får sitater fra kildene i stedet.",
        "nn": "Svaret frå språkmodellen svarte ikkje på spørsmålet, så du får sitat frå kjeldene i staden.",
        "en": "The language model's answer did not answer the question, so you get quotes from the sources instead.",
    },
}

REMOVED_NOTICE: dict[Language, str] = {
    "nb": "{count} setning(er) fra språkmodellen ble fjernet fordi kildene ikke støtter dem.",
    "nn": "{count} setning(ar) frå språkmodellen vart fjerna fordi kjeldene ikkje støttar dei.",
    "en": "{count} sentence(s) from the language model were removed because the sources do not support them.",
}


def refusal_text(language: Language, reason: str = REASON_NOT_FOUND, *, terms: list[str] | None = None) -> str:
    """The refusal in the question's language form; an unknown-term refusal names the words."""
    if reason == REASON_UNKNOWN_TERM:
        if not terms:
            reason = REASON_NOT_FOUND
        else:
            conjunction = {"nb": "eller", "nn": "eller", "en": "or"}[language]
            quoted = [f"«{t}»" for t in terms[:MAX_NAMED_TERMS]]
            named = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} {conjunction} {quoted[-1]}"
            return REFUSALS[REASON_UNKNOWN_TERM][language].format(terms=named)
    return REFUSALS.get(reason, REFUSALS[REASON_NOT_FOUND])[language]


def fallback_notice(language: Language, reason: str) -> str:
    return FALLBACK_NOTICES[reason][language]


def removed_notice(language: Language, count: int) -> str:
    return REMOVED_NOTICE[language].format(count=count)
