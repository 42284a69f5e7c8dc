"""Language detection on real questions and document text in all three languages."""

from __future__ import annotations

import pytest

from rag.language import detect_language

BOKMAL = [
    "Hva er dosen av paracetamol ved KOLS?",
    "Hvordan behandles sepsis hos voksne?",
    "Når skal pasienten få antibiotika?",
    "NEWS2 over 5, hva gjør jeg?",
    "Dosering av ceftriaxon til barn",
    "Hvor ofte skal CRP måles ved pneumoni?",
    "Skal pasienter med KOLS få oksygen?",
    "Trenger pasienten blodkultur før antibiotika ved mistanke om sepsis?",
    "Hvem skal varsles ved hjertestans på sykehuset?",
    "Kan jeg gi NSAID til pasienter med nedsatt nyrefunksjon og eGFR under 30?",
    "Når skal blodkultur tas ved mistanke om sepsis?",  # no marker word: lingua's low-accuracy mode said nynorsk
    "når skal gentamicinspeil tas",
    "heparinlås på CVK?",
    "dosering ibuprofen postoperativt?",
]
NYNORSK = [
    "Kva er dosen av paracetamol ved KOLS?",
    "Korleis behandlar ein sepsis hjå vaksne?",
    "NEWS2 over 5, kva gjer eg?",
    "Når skal ein gje antibiotika ved mistanke om sepsis?",
    "Kor ofte skal ein måle CRP hos pasientar med pneumoni?",
    "Treng pasienten oksygen ved SpO2 under 92 %?",
    "Kven skal varslast ved hjartestans på sjukehuset?",
    "Kan eg gje NSAID til pasientar med nedsett nyrefunksjon?",
    "Skal sjukepleiaren måle blodtrykket før og etter?",
    "Når må PVK fjernast?",  # the nynorsk passive
    "Adrenalindose ved anafylaksi hos vaksen?",  # 'hos' is nynorsk too
]
ENGLISH = [
    "What is the dose of paracetamol in COPD?",
    "How should sepsis be treated in adults?",
    "When should antibiotics be given for suspected sepsis?",
    "Is there no upper dose limit for paracetamol?",
    "NEWS2 above 5, what do I do?",
    "What is the target SpO2 for KOLS patients?",
    "How often should CRP be measured in pneumonia?",
    "Can I give NSAIDs to patients with eGFR below 30?",
    "When was the last dose given, and how fast?",
]


@pytest.mark.parametrize("question", BOKMAL)
def test_bokmal_questions(question: str):
    assert detect_language(question) == "nb"


@pytest.mark.parametrize("question", NYNORSK)
def test_nynorsk_questions(question: str):
    assert detect_language(question) == "nn"


@pytest.mark.parametrize("question", ENGLISH)
def test_english_questions(question: str):
    assert detect_language(question) == "en"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Pasientar med sepsis skal få antibiotika så raskt som mogleg. Dersom pasienten ikkje "
            "har fått blodkultur, skal denne takast før første dose. Sjukepleiaren varslar lege "
            "når NEWS2 er 5 eller meir, og legen vurderer då vidare behandling.",
            "nn",
        ),
        (
            "Pasienter med sepsis skal få antibiotika så raskt som mulig. Dersom pasienten ikke "
            "har fått blodkultur, skal denne tas før første dose. Sykepleieren varsler lege når "
            "NEWS2 er 5 eller mer, og legen vurderer da videre behandling.",
            "nb",
        ),
        (
            "Patients with sepsis should receive antibiotics as soon as possible. If no blood "
            "culture has been taken, take one before the first dose. The nurse alerts a doctor "
            "when NEWS2 is 5 or more, and the doctor then decides on further treatment.",
            "en",
        ),
    ],
)
def test_document_text(text: str, expected: str):
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "???", "12.5 mg", "CRP", "sepsis"])
def test_empty_or_ambiguous_input_defaults_to_bokmal(text: str):
    assert detect_language(text) == "nb"
