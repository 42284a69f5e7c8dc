"""Identity-number masking.

Every number here is synthetic: built in the test from a date part and the
official mod-11 check-digit rule, never taken from a real person."""

from __future__ import annotations

import pytest

from rag.privacy import (
    MASK_REPLACEMENT,
    find_identity_numbers,
    mask_identity_numbers,
    without_masks,
)

K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def control_digit(digits: str, weights: tuple[int, ...]) -> int:
    check = 11 - sum(int(d) * w for d, w in zip(digits, weights)) % 11
    return 0 if check == 11 else check  # 10 means: no valid number with this prefix


def synthetic_number(first_six: str, start: int = 0) -> str:
    """The first 11-digit number with valid check digits after `first_six`,
    trying individual numbers from `start` upwards."""
    for individual in range(start, 1000):
        nine = f"{first_six}{individual:03d}"
        k1 = control_digit(nine, K1_WEIGHTS)
        if k1 == 10:
            continue
        k2 = control_digit(nine + str(k1), K2_WEIGHTS)
        if k2 == 10:
            continue
        return f"{nine}{k1}{k2}"
    raise AssertionError(f"no valid number for {first_six}")


def with_wrong_last_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


FNR = synthetic_number("150687")  # 15 June 1987
D_NUMBER = synthetic_number("550687")  # day 15 + 40
H_NUMBER = synthetic_number("154687")  # month 06 + 40
FH_NUMBER = synthetic_number("812345")  # felles hjelpenummer: first digit 8, no date


@pytest.mark.parametrize(
    ("number", "kind"),
    [(FNR, "fødselsnummer"), (D_NUMBER, "d-nummer"), (H_NUMBER, "h-nummer"), (FH_NUMBER, "fh-nummer")],
)
def test_valid_numbers_are_found_and_masked(number: str, kind: str) -> None:
    text = f"Pasient {number} har feber og CRP 85."
    matches = find_identity_numbers(text)
    assert [(m.text, m.kind) for m in matches] == [(number, kind)]
    assert text[matches[0].start : matches[0].end] == number

    masked, count = mask_identity_numbers(text)
    assert count == 1
    assert masked == f"Pasient {MASK_REPLACEMENT} har feber og CRP 85."


@pytest.mark.parametrize("separator", [" ", "-", ".", "\u00a0"])
def test_separator_after_the_date_part(separator: str) -> None:
    written = f"{FNR[:6]}{separator}{FNR[6:]}"
    masked, count = mask_identity_numbers(f"fnr: {written}, innlagt i går")
    assert count == 1
    assert masked == f"fnr: {MASK_REPLACEMENT}, innlagt i går"


def test_several_numbers_in_one_text_are_all_masked() -> None:
    text = f"Mor {FNR}, far {D_NUMBER[:6]}-{D_NUMBER[6:]} og barnet ({H_NUMBER})."
    masked, count = mask_identity_numbers(text)
    assert count == 3
    assert masked == f"Mor {MASK_REPLACEMENT}, far {MASK_REPLACEMENT} og barnet ({MASK_REPLACEMENT})."
    assert [m.kind for m in find_identity_numbers(text)] == ["fødselsnummer", "d-nummer", "h-nummer"]


def test_searches_see_the_question_without_the_mask_placeholder() -> None:
    masked, _ = mask_identity_numbers(f"Hvor ofte skal PVK inspiseres? Pasient {FNR}, seng 4")
    assert without_masks(masked) == "Hvor ofte skal PVK inspiseres? Pasient , seng 4"
    assert MASK_REPLACEMENT not in without_masks(masked)


@pytest.mark.parametrize(
    "number",
    [
        with_wrong_last_digit(FNR),
        FNR[:9] + str((int(FNR[9]) + 1) % 10) + FNR[10],  # first check digit wrong
        with_wrong_last_digit(D_NUMBER),
        with_wrong_last_digit(H_NUMBER),
    ],
)
def test_failing_check_digits_are_left_alone(number: str) -> None:
    text = f"Prøvenummer {number} er sendt."
    assert find_identity_numbers(text) == []
    assert mask_identity_numbers(text) == (text, 0)


@pytest.mark.parametrize(
    "first_six",
    [
        "320190",  # day 32
        "001290",  # day 0
        "311390",  # month 13
        "310490",  # 31 April
        "290201",  # 29 February in a year that is no leap year in any century
        "720190",  # D-number with day 32
        "015390",  # H-number with month 13
    ],
)
def test_impossible_dates_are_left_alone_even_with_valid_check_digits(first_six: str) -> None:
    number = synthetic_number(first_six)
    assert mask_identity_numbers(f"Lab-id {number}") == (f"Lab-id {number}", 0)


def test_leap_day_is_a_valid_date() -> None:
    number = synthetic_number("290200")  # 29 February 2000
    assert mask_identity_numbers(number) == (MASK_REPLACEMENT, 1)


def test_longer_digit_runs_and_short_numbers_are_not_identity_numbers() -> None:
    text = f"Ordre 99{FNR}7, telefon 22 33 44 55, mobil +47 912 34 567, tlf 004791234567."
    assert mask_identity_numbers(text) == (text, 0)


def test_text_without_numbers_is_unchanged() -> None:
    assert mask_identity_numbers("Hva er dosen av adrenalin ved anafylaksi?") == (
        "Hva er dosen av adrenalin ved anafylaksi?",
        0,
    )


# --- spellings staff actually type (issue 13, finding 2) ---------------------------------

SPELLINGS = {
    "date with dots, space": lambda n: f"{n[0:2]}.{n[2:4]}.{n[4:6]} {n[6:]}",
    "individual number split": lambda n: f"{n[:6]} {n[6:9]} {n[9:]}",
    "spaced date": lambda n: f"{n[0:2]} {n[2:4]} {n[4:6]} {n[6:]}",
    "slash": lambda n: f"{n[:6]}/{n[6:]}",
    "en dash": lambda n: f"{n[:6]}\u2013{n[6:]}",
    "em dash with spaces": lambda n: f"{n[:6]} \u2014 {n[6:]}",
    "minus sign": lambda n: f"{n[:6]}\u2212{n[6:]}",
    "hyphen with spaces": lambda n: f"{n[:6]} - {n[6:]}",
    "two spaces": lambda n: f"{n[:6]}  {n[6:]}",
    "narrow no-break space": lambda n: f"{n[:6]}\u202f{n[6:]}",
    "zero-width space inside": lambda n: f"{n[:4]}\u200b{n[4:]}",
    "zero-width joiner and soft hyphen": lambda n: f"{n[:2]}\u200d{n[2:7]}\u00ad{n[7:]}",
    "word joiner beside a dot": lambda n: f"{n[0:2]}.\u2060{n[2:4]}.{n[4:6]} {n[6:]}",
    "dots everywhere": lambda n: f"{n[0:2]}.{n[2:4]}.{n[4:6]}.{n[6:9]}.{n[9:]}",
}


@pytest.mark.parametrize("spelling", list(SPELLINGS))
@pytest.mark.parametrize("number", [FNR, D_NUMBER, H_NUMBER], ids=["fnr", "d", "h"])
def test_common_spellings_are_recognised_and_masked_whole(spelling: str, number: str) -> None:
    written = SPELLINGS[spelling](number)
    text = f"Pasient {written} har feber."

    matches = find_identity_numbers(text)
    masked, count = mask_identity_numbers(text)

    assert [m.text for m in matches] == [written]
    assert (masked, count) == (f"Pasient {MASK_REPLACEMENT} har feber.", 1)


@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_common_spellings_with_failing_check_digits_are_left_alone(spelling: str) -> None:
    text = f"Prøve {SPELLINGS[spelling](with_wrong_last_digit(FNR))} er sendt."
    assert mask_identity_numbers(text) == (text, 0)


def test_the_issues_example_spelling_with_a_synthetic_number() -> None:
    number = synthetic_number("150385")
    text = f"Pas. f. {number[0:2]}.{number[2:4]}.{number[4:6]} {number[6:]}, spørsmål om dosering"
    assert mask_identity_numbers(text) == (f"Pas. f. {MASK_REPLACEMENT}, spørsmål om dosering", 1)


def test_a_valid_number_right_after_digits_that_are_not_one_is_still_found() -> None:
    text = f"Rom 12 {FNR[:6]} {FNR[6:]}"
    assert mask_identity_numbers(text) == (f"Rom 12 {MASK_REPLACEMENT}", 1)


def test_a_line_break_is_not_a_separator() -> None:
    text = f"Dato {FNR[:6]}\n{FNR[6:]} stk"
    assert mask_identity_numbers(text) == (text, 0)


def test_tables_of_small_numbers_and_dates_are_left_alone() -> None:
    text = "Doser: 10 12 15 20 25 mg; kontroll 15.03.85 kl. 10.30; 1 2 3 4 5 6 7 8 9 10 11 12"
    assert mask_identity_numbers(text) == (text, 0)


def test_structures_are_masked_in_every_string_and_key() -> None:
    from rag.privacy import contains_identity_number, mask_identity_numbers_in

    spaced = SPELLINGS["spaced date"](FNR)
    value = {"question": f"om {spaced}", "steps": [{"output": FNR}, ("x", 3)], FNR: None, "n": 5}

    masked = mask_identity_numbers_in(value)

    assert masked == {
        "question": f"om {MASK_REPLACEMENT}",
        "steps": [{"output": MASK_REPLACEMENT}, ("x", 3)],
        MASK_REPLACEMENT: None,
        "n": 5,
    }
    assert contains_identity_number(spaced) and not contains_identity_number(str(masked))
