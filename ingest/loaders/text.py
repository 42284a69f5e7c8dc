"""Text clean-up and the plain-text shapes every loader gives lists and tables.

All loaders normalise the same way, so that a phrase has one spelling in the
index whatever format it came from: Unicode NFC, no soft hyphens or zero-width
characters, whitespace inside a paragraph collapsed to single spaces.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# Soft hyphen, zero-width space/joiners, word joiner, BOM and control characters:
# invisible, but they split words for BM25 and the embedder.
_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff\x00-\x08\x0e-\x1f\x7f]")
_WHITESPACE = re.compile(r"\s+")


def clean_inline(text: str) -> str:
    """One paragraph: NFC, invisible characters removed, whitespace collapsed."""
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    return _WHITESPACE.sub(" ", text).strip()


def clean_lines(text: str) -> str:
    """Like `clean_inline`, but keeps line breaks (lists, tables); drops empty lines."""
    lines = (clean_inline(line) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def format_list_item(text: str, *, number: int | None = None, depth: int = 0) -> str:
    """One list line: '- item', or '1. item' in a numbered list; nested items indented."""
    marker = f"{number}." if number is not None else "-"
    return f"{'  ' * depth}{marker} {text}"


def format_list(items: Sequence[str], *, ordered: bool = False) -> str:
    """A flat list as '- item' lines, or '1. item' lines for a numbered list."""
    return "\n".join(
        format_list_item(item, number=n if ordered else None) for n, item in enumerate(items, start=1)
    )


def format_table(rows: Sequence[Sequence[str]], *, has_header: bool = True) -> str:
    """A table as readable text, one line per row.

    With a header row each data row reads 'Header: value; Header: value', so a
    chunk cut from the middle of the table still says what each number means.
    Without a header (or with one column) the cells are joined with ' | '.
    """
    rows = [[clean_inline(cell) for cell in row] for row in rows]
    rows = [row for row in rows if any(row)]
    if not rows:
        return ""
    header, body = rows[0], rows[1:]
    if not has_header or not body or len(header) < 2 or not all(header):
        return "\n".join(" | ".join(cell for cell in row if cell) for row in rows)
    lines = []
    for row in body:
        pairs = [f"{name}: {value}" for name, value in zip(header, row) if value]
        extra = [value for value in row[len(header) :] if value]
        lines.append("; ".join(pairs + extra))
    return "\n".join(line for line in lines if line)

