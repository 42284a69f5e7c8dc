"""Synthetic national identity numbers for the tests, and the search for them in files.

One implementation, shared with the security check (scripts/security_check.py):
the numbers are built from a date part and the official check-digit rule
(never a real person's number), and a file "holds" a number when its name or
bytes hold its digits in order with at most a few non-digits (or escapes such
as ``\\u200b``) between them.
"""

from __future__ import annotations

from rag.privacy import mask_identity_numbers
from scripts.security_check import digit_pattern, files_holding, spellings, synthetic_fnr

__all__ = ["FNR", "digit_pattern", "files_containing", "recognised_spellings", "spellings"]

FNR = synthetic_fnr("150385")  # 15 March 1985
files_containing = files_holding

# rag/privacy.py has always recognised the first three spellings (plain, space, hyphen).
BASIC_SPELLINGS = 3


def recognised_spellings(number: str = FNR) -> list[str]:
    """The spellings the masking function recognises today (the basic ones at least)."""
    found = [s for s in spellings(number) if mask_identity_numbers(f"Pasient {s} har feber")[1] == 1]
    assert found[:BASIC_SPELLINGS] == spellings(number)[:BASIC_SPELLINGS], found
    return found
