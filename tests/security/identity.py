"""Synthetic national identity numbers for the security tests, and a search for them in files.

The numbers are built here from a date part and the official check-digit rule
(`rag.privacy.check_digits_valid`): never a real person's number.
"""

from __future__ import annotations

import re
from pathlib import Path

from rag.privacy import check_digits_valid, mask_identity_numbers


def synthetic_number(date_part: str, start: int = 0) -> str:
    """The first valid 11-digit number after ``date_part`` (DDMMYY), from individual number ``start`` up."""
    for individual in range(start, 1000):
        for checks in range(100):
            candidate = f"{date_part}{individual:03d}{checks:02d}"
            if check_digits_valid(candidate):
                return candidate
    raise AssertionError(f"no valid number for {date_part}")


FNR = synthetic_number("150385")  # 15 March 1985


def spellings(number: str) -> list[str]:
    """Ways staff write a number: the plain run, the separators rag/privacy.py has always known, and
    the spellings of issue 13 (which count once the masking function recognises them)."""
    date, individual = number[:6], number[6:]
    dd, mm, yy = date[:2], date[2:4], date[4:]
    return [
        number,
        f"{date} {individual}",
        f"{date}-{individual}",
        f"{dd}.{mm}.{yy} {individual}",
        f"{date} {individual[:3]} {individual[3:]}",
        f"{dd} {mm} {yy} {individual}",
        f"{date}/{individual}",
        f"{date}\u2013{individual}",
        f"{date[:3]}\u200b{date[3:]}{individual}",
    ]


# What rag/privacy.py has recognised from the start: these must always be masked.
BASIC_SPELLINGS = 3


def recognised_spellings(number: str = FNR) -> list[str]:
    """The spellings the masking function recognises today (the basic ones at least)."""
    found = [s for s in spellings(number) if mask_identity_numbers(f"Pasient {s} har feber")[1] == 1]
    assert found[:BASIC_SPELLINGS] == spellings(number)[:BASIC_SPELLINGS], found
    return found


def digit_pattern(number: str) -> re.Pattern[bytes]:
    """The number's digits in order with up to six non-digit bytes between each (spaces, dots,
    a UTF-8 zero-width space, a JSON escape such as \\u200b), as bytes, for any file."""
    return re.compile(rb"\D{0,6}".join(re.escape(d.encode()) for d in number))


def files_containing(folder: Path, number: str) -> list[str]:
    """Every file under ``folder`` whose name or bytes hold ``number`` in any spelling."""
    pattern = digit_pattern(number)
    hits = []
    for path in sorted(folder.rglob("*")):
        relative = str(path.relative_to(folder))
        if pattern.search(relative.encode()) or (path.is_file() and pattern.search(path.read_bytes())):
            hits.append(relative)
    return hits
