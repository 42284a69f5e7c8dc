"""Identity-number masking.

Every number here is synthetic: built in the test from a date part and the
official mod-11 check-digit rule, never taken from a real person."""

from __future__ import annotations

import pytest

from rag.privacy import (
    MASK_REPLACEMENT,
    find_identity_numbers,
    mask_identity_numbers,
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
