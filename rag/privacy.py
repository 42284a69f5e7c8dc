"""Find and mask Norwegian national identity numbers in free text.

Staff sometimes paste patient data into a question by mistake. Every question is
masked here before it is logged, stored or sent to a model server.

What counts as an identity number: 11 digits, DDMMYY followed by a three-digit
individual number and two check digits computed with the official mod-11 weights.

- fødselsnummer: a real calendar date;
- D-nummer: the day plus 40 (first digit + 4);
- H-nummer (a hospital's help number): the month plus 40;
- FH-nummer (felles hjelpenummer, used for unidentified patients): first digit 8
  or 9 and no date; only the check digits are tested.

How it may be written: the 11 digits in one run, or with separators between the
natural groups (day, month, year, individual number, check digits): spaces, a
dot, a slash, a hyphen or any Unicode dash ("15.03.85 10190", "150385 101 90",
"15 03 85 10190", "150385/10190", "150385\u201310190"). Invisible format
characters (zero-width space, joiners, soft hyphen: Unicode category Cf) are
ignored wherever they sit, so a pasted number cannot hide behind them. Strings
whose check digits fail or whose date is impossible (phone numbers, lab ids,
order numbers) are left alone: masking them would hide the clinical content of a
question for no gain.

This module is the one place that decides what an identity number is. Every
boundary where text is kept or sent (the model, the audit log, chat history,
feedback and its exports, the Teams bot's memory) calls `mask_identity_numbers`
or, for a JSON-ready structure, `mask_identity_numbers_in`.

The century is not checked against the individual number: a date that exists in
any century the register uses is accepted, so a number is never missed because of
an allocation rule. Skatteetaten's planned 2032 scheme (relaxed first check digit)
is not yet accepted.

The tests build their numbers from a date part and the check-digit rule
(synthetic numbers); no real person's number is written anywhere in the repo.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

IdentityKind = Literal["fødselsnummer", "d-nummer", "h-nummer", "fh-nummer"]

MASK_REPLACEMENT = "[fødselsnummer fjernet]"

MASK_NOTICE = (
    "Spørsmålet inneholdt noe som ligner et fødselsnummer. Det er fjernet før spørsmålet "
    "ble behandlet og lagret. Ikke skriv inn pasientidentifiserende opplysninger."
)

# Official weights for the two check digits (Skatteetaten).
_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
# D-numbers add 4 to the first digit of the day, H-numbers 4 to the first digit of the month.
_D_NUMBER_OFFSET = 40
_H_NUMBER_OFFSET = 40
_FH_FIRST_DIGITS = "89"
# Centuries the register's individual-number ranges map two-digit years into.
_CENTURIES = (1800, 1900, 2000)

# What may stand between two groups of digits: one or two spaces (also no-break and
# thin spaces), or one dot, slash, hyphen, Unicode dash or minus with optional spaces
# around it. Newlines are not separators: digits on two lines are two things.
_SPACE = "[ \t\u00a0\u2007\u2009\u202f]"
_MARK = "[./\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d]"
_SEPARATOR = f"(?:{_SPACE}{{1,2}}|{_SPACE}?{_MARK}{_SPACE}?)"
# DD MM YY III KK with an optional separator between groups; not part of a longer digit run.
_CANDIDATE = re.compile(
    rf"(?<!\d)(\d\d){_SEPARATOR}?(\d\d){_SEPARATOR}?(\d\d){_SEPARATOR}?(\d{{3}}){_SEPARATOR}?(\d\d)(?!\d)"
)
# Invisible characters (zero-width space, joiners, soft hyphen, BOM ...) are Unicode category Cf.
_INVISIBLE_CATEGORY = "Cf"


@dataclass(frozen=True)
class IdentityMatch:
    """One identity number found in a text: its span, as written, and its kind."""

    start: int
    end: int
    text: str
    kind: IdentityKind


def _check_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    check = 11 - remainder
    if check == 11:
        return 0
    if check == 10:
        return None  # no valid number has this prefix
    return check


def check_digits_valid(digits: str) -> bool:
    """True when the two last of 11 digits are the mod-11 check digits of the rest."""
    if len(digits) != 11 or not digits.isdigit():
        return False
    k1 = _check_digit(digits[:9], _K1_WEIGHTS)
    if k1 is None or k1 != int(digits[9]):
        return False
    k2 = _check_digit(digits[:10], _K2_WEIGHTS)
    return k2 is not None and k2 == int(digits[10])


def _date_exists(day: int, month: int, two_digit_year: int) -> bool:
    if not 1 <= month <= 12 or day < 1:
        return False
    return any(
        day <= calendar.monthrange(century + two_digit_year, month)[1] for century in _CENTURIES
    )


def classify(digits: str) -> IdentityKind | None:
    """The kind of identity number `digits` (11 digits, no separators) is, or None."""
    if not check_digits_valid(digits):
        return None
    if digits[0] in _FH_FIRST_DIGITS:
        return "fh-nummer"
    day, month, year = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    if day > _D_NUMBER_OFFSET:
        kind: IdentityKind = "d-nummer"
        day -= _D_NUMBER_OFFSET
    elif month > _H_NUMBER_OFFSET:
        kind = "h-nummer"
        month -= _H_NUMBER_OFFSET
    else:
        kind = "fødselsnummer"
    return kind if _date_exists(day, month, year) else None


def _without_invisible(text: str) -> tuple[str, list[int] | None]:
    """`text` without invisible format characters, and where each remaining
    character stood in `text` (None when nothing was removed)."""
    if text.isascii():
        return text, None
    kept = [(i, ch) for i, ch in enumerate(text) if unicodedata.category(ch) != _INVISIBLE_CATEGORY]
    if len(kept) == len(text):
        return text, None
    return "".join(ch for _, ch in kept), [i for i, _ in kept]


def find_identity_numbers(text: str) -> list[IdentityMatch]:
    """Valid identity numbers in `text`, in order of appearance (spans in `text` itself)."""
    visible, positions = _without_invisible(text)
    matches = []
    position = 0
    while candidate := _CANDIDATE.search(visible, position):
        kind = classify("".join(candidate.groups()))
        if kind is None:
            # A failed candidate may hide a valid number that starts inside it
            # ("12 150385 10190"): look again one character further on.
            position = candidate.start() + 1
            continue
        start, end = candidate.start(), candidate.end()
        if positions is not None:
            start, end = positions[start], positions[end - 1] + 1
        matches.append(IdentityMatch(start, end, text[start:end], kind))
        position = candidate.end()
    return matches


def contains_identity_number(text: str) -> bool:
    return bool(find_identity_numbers(text))


def mask_identity_numbers(text: str) -> tuple[str, int]:
    """`text` with each valid identity number replaced by MASK_REPLACEMENT, and the count."""
    matches = find_identity_numbers(text)
    parts = []
    position = 0
    for match in matches:
        parts.append(text[position : match.start])
        parts.append(MASK_REPLACEMENT)
        position = match.end
    parts.append(text[position:])
    return "".join(parts), len(matches)


def without_masks(text: str) -> str:
    """`text` with the mask placeholders dropped: the placeholder means nothing to a search
    or a relevance score, and would only push a real question below the relevance floor."""
    return " ".join(text.replace(MASK_REPLACEMENT, " ").split())


def mask_identity_numbers_in(value: Any) -> Any:
    """A copy of a JSON-ready structure (dicts, lists, tuples, strings, scalars) with
    identity numbers masked in every string, dictionary keys included."""
    if isinstance(value, str):
        return mask_identity_numbers(value)[0]
    if isinstance(value, dict):
        return {mask_identity_numbers_in(key): mask_identity_numbers_in(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_identity_numbers_in(item) for item in value)
    return value
