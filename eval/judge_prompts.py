"""Norwegian prompts for the RAGAS judge.

RAGAS 0.4's `adapt()` translates only a prompt's few-shot examples; the
instruction stays English, and answer relevancy then generates English
questions whose embeddings sit far from the Norwegian question, which biases
the score against Norwegian answers. These subclasses keep RAGAS's input and
output models (so its scoring code is unchanged) and replace

- the instruction with a Norwegian one of the same meaning, and
- the few-shot examples with short Norwegian clinical ones. RAGAS's English
  examples are long (about 1,000 prompt tokens for context recall alone), which
  on a CPU judge costs more time than the judgement itself.
"""

from __future__ import annotations

from ragas.metrics.collections.answer_relevancy.util import (
    AnswerRelevanceInput,
    AnswerRelevanceOutput,
    AnswerRelevancePrompt,
)
from ragas.metrics.collections.context_precision.util import (
    ContextPrecisionInput,
    ContextPrecisionOutput,
    ContextPrecisionPrompt,
)
from ragas.metrics.collections.context_recall.util import (
    ContextRecallClassification,
    ContextRecallInput,
    ContextRecallOutput,
    ContextRecallPrompt,
)
from ragas.metrics.collections.faithfulness.util import (
    NLIStatementInput,
    NLIStatementOutput,
    NLIStatementPrompt,
    StatementFaithfulnessAnswer,
    StatementGeneratorInput,
    StatementGeneratorOutput,
    StatementGeneratorPrompt,
)

# Bump when a prompt or the judge's output constraints (eval/ragas_judge.py:
# bounded_schema) change: it is part of the judgement cache key.
PROMPT_VERSION = "nb-3"

_SEPSIS_CONTEXT = (
    "Ved mistenkt sepsis hos voksne skal bredspektret antibiotika gis innen én time. "
    "Blodkulturer tas før første dose, men skal ikke forsinke behandlingen."
)


class NorwegianStatementGeneratorPrompt(StatementGeneratorPrompt):
    language = "norwegian"
    instruction = (
        "Du får et spørsmål og et svar. Del hver setning i svaret opp i ett eller flere utsagn "
        "som kan forstås hver for seg. Ikke bruk pronomen i utsagnene. Skriv utsagnene på samme "
        "språk som svaret. Ta ikke med kildehenvisninger som [1]."
    )
    examples = [
        (
            StatementGeneratorInput(
                question="Hvor raskt skal antibiotika gis ved sepsis?",
                answer="Antibiotika skal gis innen én time [1]. Ta blodkulturer først, men ikke vent på dem [1].",
            ),
            StatementGeneratorOutput(
                statements=[
                    "Antibiotika ved sepsis skal gis innen én time.",
                    "Blodkulturer skal tas før antibiotika ved sepsis.",
                    "Antibiotika ved sepsis skal ikke vente på blodkulturer.",
                ]
            ),
        )
    ]


class NorwegianNLIStatementPrompt(NLIStatementPrompt):
    language = "norwegian"
    instruction = (
        "Vurder om hvert utsagn er tro mot den gitte konteksten. Gi verdict 1 hvis utsagnet kan "
        "utledes direkte av konteksten, og 0 hvis det ikke kan utledes direkte av konteksten. "
        "Skriv en kort begrunnelse (reason) på norsk."
    )
    examples = [
        (
            NLIStatementInput(
                context=_SEPSIS_CONTEXT,
                statements=["Antibiotika ved sepsis skal gis innen én time.", "Sepsis behandles med kortison."],
            ),
            NLIStatementOutput(
                statements=[
                    StatementFaithfulnessAnswer(
                        statement="Antibiotika ved sepsis skal gis innen én time.",
                        reason="Konteksten sier dette direkte.",
                        verdict=1,
                    ),
                    StatementFaithfulnessAnswer(
                        statement="Sepsis behandles med kortison.",
                        reason="Konteksten nevner ikke kortison.",
                        verdict=0,
                    ),
                ]
            ),
        )
    ]


class NorwegianAnswerRelevancePrompt(AnswerRelevancePrompt):
    language = "norwegian"
    instruction = (
        "Lag ett spørsmål som svaret besvarer. Skriv spørsmålet på norsk, i samme målform som svaret "
        "(bokmål eller nynorsk). Avgjør også om svaret er unnvikende: gi noncommittal 1 hvis svaret "
        "er unnvikende, vagt eller tvetydig (for eksempel «Jeg vet ikke», «Det står ikke i kildene», "
        "«Det kommer an på»), og 0 hvis svaret har et konkret innhold."
    )
    examples = [
        (
            AnswerRelevanceInput(response="Voksne med sepsis skal ha antibiotika innen én time [1]."),
            AnswerRelevanceOutput(question="Hvor raskt skal voksne med sepsis få antibiotika?", noncommittal=0),
        ),
        (
            AnswerRelevanceInput(response="Pasienten skal faste i seks timar før inngrepet [2]."),
            AnswerRelevanceOutput(question="Kor lenge skal pasienten faste før inngrepet?", noncommittal=0),
        ),
        (
            AnswerRelevanceInput(response="Jeg fant ikke noe om dette i kildene jeg har tilgang til."),
            AnswerRelevanceOutput(question="Hva er anbefalt dose av legemiddelet til barn?", noncommittal=1),
        ),
    ]


class NorwegianContextPrecisionPrompt(ContextPrecisionPrompt):
    language = "norwegian"
    instruction = (
        "Du får et spørsmål, et svar og en kontekst. Avgjør om konteksten var nyttig for å komme fram "
        'til svaret. Gi verdict "1" hvis den var nyttig og "0" hvis ikke, med en kort begrunnelse på norsk, som JSON.'
    )
    examples = [
        (
            ContextPrecisionInput(
                question="Hvor raskt skal antibiotika gis ved sepsis?", context=_SEPSIS_CONTEXT, answer="Innen én time."
            ),
            ContextPrecisionOutput(reason="Konteksten oppgir tidsfristen på én time.", verdict=1),
        ),
        (
            ContextPrecisionInput(
                question="Hvor raskt skal antibiotika gis ved sepsis?",
                context="Perifert venekateter skal skiftes ved tegn på flebitt.",
                answer="Innen én time.",
            ),
            ContextPrecisionOutput(reason="Konteksten handler om venekateter, ikke sepsis.", verdict=0),
        ),
    ]


class NorwegianContextRecallPrompt(ContextRecallPrompt):
    language = "norwegian"
    instruction = (
        "Du får en kontekst og et svar. Gå gjennom hvert utsagn i svaret og avgjør om utsagnet kan "
        "tilskrives konteksten. Bruk bare 1 (kan tilskrives konteksten) eller 0 (kan ikke). "
        "Gi en kort begrunnelse på norsk for hvert utsagn."
    )
    examples = [
        (
            ContextRecallInput(
                question="Hvordan behandles sepsis hos voksne?",
                context=_SEPSIS_CONTEXT,
                answer="Gi bredspektret antibiotika innen én time. Gi også 30 ml/kg væske.",
            ),
            ContextRecallOutput(
                classifications=[
                    ContextRecallClassification(
                        statement="Gi bredspektret antibiotika innen én time.",
                        reason="Står i konteksten.",
                        attributed=1,
                    ),
                    ContextRecallClassification(
                        statement="Gi også 30 ml/kg væske.",
                        reason="Konteksten nevner ikke væske.",
                        attributed=0,
                    ),
                ]
            ),
        )
    ]
