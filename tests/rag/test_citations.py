"""Citation parsing, renumbering, support scoring and uncited-claim flags."""

from __future__ import annotations

import pytest

from rag.citations import (
    MISSING_NUMBER_CAP,
    is_factual,
    lexical_support,
    parse_citations,
    split_sentences,
    strip_citations,
)

ANAFYLAKSI = (
    "Ved anafylaksi hos voksne gis adrenalin 0,5 mg intramuskulært i låret. "
    "Dosen kan gjentas etter 5–10 minutter ved manglende effekt."
)
SEPSIS = "Ved mistanke om sepsis skal bredspektret antibiotika gis innen 1 time etter ankomst."
BARN = "Barn får adrenalin 0,01 mg/kg intramuskulært, maksimalt 0,3 mg per dose."


# --- parsing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Gi adrenalin [1].", [1]),
        ("Gi adrenalin [1, 2].", [1, 2]),
        ("Gi adrenalin [1,2].", [1, 2]),
        ("Gi adrenalin [1][2].", [1, 2]),
        ("Gi adrenalin [1-3].", [1, 2, 3]),
        ("Gi adrenalin [2–4].", [2, 3, 4]),
        ("Gi adrenalin [kilde 2].", [2]),
        ("Gi adrenalin [Kilde 2] og oksygen [Kilder 1 og 3].", [2, 1, 3]),
        ("Først [3], så [1], så [3] igjen.", [3, 1, 3]),
        ("Ingen kilder her, bare [tekst] i klammer.", []),
    ],
)
def test_parse_citations_variants(text: str, numbers: list[int]) -> None:
    assert parse_citations(text) == numbers


def test_strip_citations_removes_markers_and_their_blanks() -> None:
    assert strip_citations("Gi 0,5 mg [1][2] i låret [kilde 3].") == "Gi 0,5 mg i låret."


# --- sentence splitting --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        (
            "Gi 0,5 mg adrenalin i.m. [1]. Gjenta etter 5 min. ved behov [2].",
            ["Gi 0,5 mg adrenalin i.m. [1].", "Gjenta etter 5 min. ved behov [2]."],
        ),
        (
            "Gi 0,5 mg adrenalin i.m.[1][3] Legg pasienten flatt.",
            ["Gi 0,5 mg adrenalin i.m.[1][3]", "Legg pasienten flatt."],
        ),
        (
            "Bruk f.eks. paracetamol, bl.a. ved feber. Dosen er ca. 1 g. Kontroll kl. 08.00 dvs. i morgen.",
            ["Bruk f.eks. paracetamol, bl.a. ved feber.", "Dosen er ca. 1 g.", "Kontroll kl. 08.00 dvs. i morgen."],
        ),
        (
            "Se pkt. 3 og nr. 4 i prosedyren, jf. Helsedirektoratet. Evt. gis 2,5 mg. Neste dose gis i.v.",
            ["Se pkt. 3 og nr. 4 i prosedyren, jf. Helsedirektoratet.", "Evt. gis 2,5 mg.", "Neste dose gis i.v."],
        ),
        ("Gi 0,5 mg. adrenalin i låret.", ["Gi 0,5 mg. adrenalin i låret."]),
        ("Dosen er 0.5 mg. Gjenta ved behov!", ["Dosen er 0.5 mg.", "Gjenta ved behov!"]),
        (
            "Tiltak:\n- Gi oksygen [1]\n- Gi 0,5 mg adrenalin [2]\n1. Legg pasienten flatt.",
            ["Tiltak:", "Gi oksygen [1]", "Gi 0,5 mg adrenalin [2]", "Legg pasienten flatt."],
        ),
        ("Hva er dosen? Den er 1 g [2].", ["Hva er dosen?", "Den er 1 g [2]."]),
        ("", []),
    ],
)
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


@pytest.mark.parametrize(
    ("sentence", "factual"),
    [
        ("Gi 2 g ceftriakson.", True),
        ("Kontakt anestesilege ved forverring av luftveisproblemer.", True),
        ("Hei!", False),
        ("Takk for spørsmålet.", False),
        ("Jeg finner ikke svar på dette i retningslinjene som er tilgjengelige.", False),
        ("Retningslinjene omtaler ikke dette, og dosering til barn er ikke omtalt.", False),
        ("Eg finn ikkje svar på dette i retningslinjene.", False),
        ("The guidelines do not cover dosing in pregnancy.", False),
        ("Hvor mye adrenalin skal gis til voksne ved anafylaksi?", False),
        # Negations in clinical claims are still claims.
        ("Feberen går ikke ned hos alle pasienter med sepsis.", True),
        ("Man finner ikke alltid feber hos eldre pasienter.", True),
    ],
)
def test_factual_content_rule(sentence: str, factual: bool) -> None:
    assert is_factual(sentence) is factual


def test_the_same_dose_scores_high_and_a_changed_dose_is_capped() -> None:
    good = lexical_support("Voksne får adrenalin 0,5 mg intramuskulært.", ANAFYLAKSI)
    wrong = lexical_support("Dosen er 0,3 mg til voksne.", ANAFYLAKSI)
    assert good > 0.8 and wrong <= MISSING_NUMBER_CAP


# --- lexical support -----------------------------------------------------------


def test_paraphrase_with_the_same_dose_is_supported() -> None:
    assert lexical_support("Voksne skal ha 0,5 mg adrenalin intramuskulært i låret [1].", ANAFYLAKSI) >= 0.8


def test_decimal_point_and_comma_are_the_same_number() -> None:
    assert lexical_support("Voksne får 0.5 mg adrenalin.", ANAFYLAKSI) >= 0.8


def test_wrong_dose_scores_low() -> None:
    assert lexical_support("Voksne skal ha 0,3 mg adrenalin intramuskulært i låret.", ANAFYLAKSI) <= MISSING_NUMBER_CAP


def test_wrong_unit_scores_low() -> None:
    # "0,01 mg" is a different dose from "0,01 mg/kg".
    assert lexical_support("Barn får adrenalin 0,01 mg intramuskulært.", BARN) <= MISSING_NUMBER_CAP
    assert lexical_support("Barn får adrenalin 0,01 mg/kg intramuskulært.", BARN) >= 0.8


def test_unrelated_passage_scores_low() -> None:
    assert lexical_support("Voksne får 0,5 mg adrenalin intramuskulært.", SEPSIS) <= MISSING_NUMBER_CAP
    assert lexical_support("Legg pasienten flatt med hevede ben.", SEPSIS) < 0.2


def test_ranges_and_unicode_dashes_match() -> None:
    assert lexical_support("Dosen kan gjentas etter 5-10 minutter.", ANAFYLAKSI) >= 0.8
    assert lexical_support("Dosen kan gjentas etter 5–15 minutter.", ANAFYLAKSI) <= MISSING_NUMBER_CAP


def test_unit_spelling_variants_and_thousands_grouping() -> None:
    passage_text = "Gi 1 000 mg paracetamol, deretter 500 mikrogram. Effekt etter 30 min."
    assert lexical_support("Gi 1000 mg paracetamol og deretter 500 mcg.", passage_text) >= 0.8
    assert lexical_support("Effekten kommer etter 30 minutter.", passage_text) >= 0.5


def test_sentence_without_content_scores_zero() -> None:
    assert lexical_support("[1]", ANAFYLAKSI) == 0.0
