"""PDF files with pypdf. Every block keeps its 1-based page number.

Headings come from the PDF's outline (bookmarks) when it has one. Without an
outline, lines set in a clearly larger font than the body text (pypdf's
`visitor_text` reports each run's font size) are taken as headings, larger
sizes higher up; a PDF set in one size has no headings. As with every loader,
the heading path starts below the title when the first heading is the title
(trimmed in `ingest.loaders.load_file`).

Lines are joined into paragraphs; a new paragraph starts after a short line
that ends a sentence, and lines starting with a bullet or '1.' form a list
block. A paragraph that runs over a page break becomes one block per page.

Refused with a `LoaderError`: encrypted PDFs that need a password, files pypdf
cannot parse, and PDFs with no text layer on any page (scans need OCR first).
Quality-system control fields ('Dokument-ID: ...', 'Versjon: ...') on the
first page become metadata.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from pypdf import PasswordType
from pypdf.errors import FileNotDecryptedError, PdfReadError

from ingest.loaders.base import LoaderError, ParsedFile
from ingest.loaders.headings import HeadingTrail
from ingest.loaders.procedure_fields import fields_from_line
from ingest.loaders.text import clean_inline, format_list_item
from rag.models import Block

# A run counts as a heading when its font is at least this much larger than the body text.
_HEADING_SIZE_RATIO = 1.15
# Deeper than this, size differences are noise (captions, footnotes) rather than structure.
_MAX_SIZE_LEVELS = 3
# A heading wraps over at most this many lines.
_MAX_HEADING_LINES = 3
# Longer lines are text set large, not headings.
_MAX_HEADING_CHARS = 120
# A line shorter than this share of the page's longest line, ending a sentence, ends a paragraph.
_PARAGRAPH_END_RATIO = 0.8
_BULLET = re.compile(r"^\s*(?:[•▪◦●■►\-–*]|(\d{1,2})[.)])\s+(.*)$")
# Bullets that PDF exporters leave as DEL or as the Symbol font's private-use glyph.
_ODD_BULLETS = str.maketrans({"\x7f": "•", "\uf0b7": "•", "\uf0a7": "▪"})
_MARKER_ONLY = re.compile(r"^\s*(?:[•▪◦●■►\-–*]|(\d{1,2})[.)])\s*$")
_PAGE_LABEL = re.compile(r"\b(?:[Ss]ide|[Pp]age)\s+\d+(?:\s*(?:av|of|/)\s*\d+)?$")
_BARE_NUMBER = re.compile(r"^\d{1,4}$")
_DIGITS = re.compile(r"\d+")
_LETTER = re.compile(r"[^\W\d_]")
_SENTENCE_END = re.compile(r"[.!?:]$")
_JUNK_TITLES = {"", "untitled", "anonymous", "(anonymous)", "unknown"}
_WORD_EXPORT_PREFIX = re.compile(r"^Microsoft (?:Word|PowerPoint) - ", re.IGNORECASE)


def parse(path: Path) -> ParsedFile:
    reader = _open(path)
    try:
        pages = _read_pages(reader)
    except FileNotDecryptedError as exc:
        raise LoaderError("encrypted PDF") from exc
    if not any(page.lines for page in pages):
        if any(page.has_images for page in pages):
            raise LoaderError("no text (images only – no text layer; the PDF needs OCR)")
        raise LoaderError("no text content")
    _drop_page_furniture(pages)
    headings = _outline_headings(reader) or _font_size_headings(pages)
    blocks, fields = _PageBlocks(headings).build(pages)
    properties = {**_info_properties(reader), **fields}
    return ParsedFile(blocks=blocks, properties=properties, page_count=len(pages))


def _open(path: Path) -> PdfReader:
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise LoaderError("encrypted PDF")
        len(reader.pages)  # forces the page tree: catches broken cross-reference tables early
    except LoaderError:
        raise
    except FileNotDecryptedError as exc:
        raise LoaderError("encrypted PDF") from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise LoaderError(f"corrupt file: not a readable PDF ({_short(exc)})") from exc
    return reader


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class _Page:
    number: int
    lines: list[str]
    runs: list[tuple[str, float]] = field(default_factory=list)  # (text, font size)
    has_images: bool = False


def _read_pages(reader: PdfReader) -> list[_Page]:
    pages = []
    for index, page in enumerate(reader.pages):
        runs: list[tuple[str, float]] = []

        def collect(text: str, cm: Any, tm: Any, font_dict: Any, font_size: float) -> None:
            if text.strip() and font_size:
                scale = math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3])
                runs.append((text, round(font_size * (scale or 1), 1)))

        try:
            text = page.extract_text(visitor_text=collect) or ""
        except FileNotDecryptedError:
            raise
        except Exception as exc:  # one broken page must not lose the rest of the document
            raise LoaderError(f"corrupt file: page {index + 1} cannot be read ({_short(exc)})") from exc
        lines = [clean_inline(line.translate(_ODD_BULLETS)) for line in text.splitlines()]
        pages.append(
            _Page(number=index + 1, lines=[ln for ln in lines if ln], runs=runs, has_images=_has_images(page))
        )
    return pages


def _drop_page_furniture(pages: list[_Page]) -> None:
    """Removes page numbers and running headers/footers that carry numbers
    ('Sykehuset – Prosedyre X  Side 2 av 5'): noise in every chunk otherwise.

    A bare number only counts as a page number as the first or last line of a
    page; elsewhere it may be a table cell (a dose)."""
    pages_with: Counter[str] = Counter()
    for page in pages:
        # Only lines with words: a bare number is judged by its position below.
        numbered = {line for line in page.lines if _DIGITS.search(line) and _LETTER.search(line)}
        pages_with.update({_DIGITS.sub("#", line) for line in numbered})
    repeated = {line for line, count in pages_with.items() if len(pages) > 1 and count == len(pages)}
    for page in pages:
        last = len(page.lines) - 1
        page.lines = [
            line
            for index, line in enumerate(page.lines)
            if not _PAGE_LABEL.search(line)
            and _DIGITS.sub("#", line) not in repeated
            and not (index in (0, last) and _BARE_NUMBER.match(line))
        ]


def _has_images(page: Any) -> bool:
    try:
        resources = page.get("/Resources") or {}
        xobjects = resources.get("/XObject") or {}
        return any(xobject.get_object().get("/Subtype") == "/Image" for xobject in xobjects.values())
    except Exception:  # a damaged resource dictionary just means "no images found"
        return False


def _outline_headings(reader: PdfReader) -> dict[int, list[tuple[int, str]]]:
    """Page number -> [(level, title)] from the bookmarks, in outline order."""
    found: dict[int, list[tuple[int, str]]] = {}

    def walk(items: list[Any], level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            try:
                page = reader.get_destination_page_number(item) + 1
            except Exception:  # a bookmark to nowhere is skipped, not fatal
                continue
            title = clean_inline(str(item.title or ""))
            if title and page > 0:
                found.setdefault(page, []).append((level, title))

    try:
        walk(reader.outline, 1)
    except Exception:  # a broken outline falls back to font sizes
        return {}
    return found


def _font_size_headings(pages: list[_Page]) -> dict[int, list[tuple[int, str]]]:
    chars_by_size: Counter[float] = Counter()
    for page in pages:
        for text, size in page.runs:
            chars_by_size[size] += len(text.strip())
    if not chars_by_size:
        return {}
    body_size = chars_by_size.most_common(1)[0][0]
    larger = sorted((s for s in chars_by_size if s >= body_size * _HEADING_SIZE_RATIO), reverse=True)
    levels = {size: min(rank + 1, _MAX_SIZE_LEVELS) for rank, size in enumerate(larger)}
    found: dict[int, list[tuple[int, str]]] = {}
    for page in pages:
        for text, size in page.runs:
            title = clean_inline(text)
            if size in levels and title and len(title) <= _MAX_HEADING_CHARS:
                found.setdefault(page.number, []).append((levels[size], title))
    return found


def _info_properties(reader: PdfReader) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    try:
        info = reader.metadata
        title = clean_inline(_WORD_EXPORT_PREFIX.sub("", str(info.title or ""))) if info else ""
        modified = info.modification_date if info else None
    except Exception:  # unreadable info dictionary: the file's content still counts
        return properties
    if title.casefold() not in _JUNK_TITLES:
        properties["title"] = title
    if isinstance(modified, dt.datetime):
        properties["updated"] = modified.date()
    return properties


class _PageBlocks:
    """Turns page lines into blocks, entering headings where their lines appear."""

    def __init__(self, headings: dict[int, list[tuple[int, str]]]):
        self._headings = headings
        self._trail = HeadingTrail()
        self._blocks: list[Block] = []
        self._fields: dict[str, str] = {}
        self._paragraph: list[str] = []
        self._items: list[tuple[int | None, str]] = []
        # A bullet or number alone on its line (list layouts put it in its own column) waits for its text.
        self._marker: tuple[int | None] | None = None

    def build(self, pages: list[_Page]) -> tuple[list[Block], dict[str, str]]:
        for page in pages:
            self._page(page)
        return self._blocks, self._fields

    def _page(self, page: _Page) -> None:
        placed = _place_headings(self._headings.get(page.number, []), page.lines)
        widest = max((len(line) for line in page.lines), default=0)
        index = 0
        while index <= len(page.lines):
            if index in placed:
                entries, span = placed.pop(index)
                self._flush(page.number)
                for level, title in entries:
                    self._trail.enter(level, title)
                if span:
                    index += span
                    continue
            if index < len(page.lines):
                self._line(page.lines[index], page.number, widest)
            index += 1
        self._flush(page.number)

    def _line(self, line: str, page: int, widest: int) -> None:
        if page == 1 and not self._blocks:
            fields = fields_from_line(line)
            if fields:
                self._fields.update(fields)
                return
        marker = _MARKER_ONLY.match(line)
        if marker:
            self._flush_paragraph(page)
            self._marker = (int(marker.group(1)) if marker.group(1) else None,)
            return
        bullet = _BULLET.match(line)
        if self._marker is not None or bullet:
            self._flush_paragraph(page)
            if bullet:
                number = int(bullet.group(1)) if bullet.group(1) else None
                self._items.append((number, bullet.group(2)))
            else:
                self._items.append((self._marker[0], line))
            self._marker = None
            return
        if self._items and not self._paragraph and not _starts_new_paragraph(line):
            number, text = self._items[-1]  # a wrapped list item continues
            self._items[-1] = (number, f"{text} {line}")
            return
        self._flush_items(page)
        self._paragraph.append(line)
        if _SENTENCE_END.search(line) and len(line) < widest * _PARAGRAPH_END_RATIO:
            self._flush_paragraph(page)

    def _flush(self, page: int) -> None:
        self._flush_paragraph(page)
        self._flush_items(page)

    def _flush_paragraph(self, page: int) -> None:
        if self._paragraph:
            self._add("text", clean_inline(" ".join(self._paragraph)), page)
        self._paragraph = []

    def _flush_items(self, page: int) -> None:
        if self._items:
            lines = [format_list_item(clean_inline(text), number=number) for number, text in self._items]
            self._add("list", "\n".join(lines), page)
        self._items = []

    def _add(self, kind: Any, text: str, page: int) -> None:
        if text:
            self._blocks.append(Block(kind=kind, text=text, heading_path=self._trail.path, page=page))


def _place_headings(
    headings: list[tuple[int, str]], lines: list[str]
) -> dict[int, tuple[list[tuple[int, str]], int]]:
    """Line index -> (headings entered there, lines they occupy).

    A heading may wrap over several lines. Bookmarks whose text is not on the
    page (reworded, or drawn as an image) open with the next one that is found,
    at the end of the page after the last one found, or at the top of the page
    when none is found.
    """
    found: list[tuple[int, int] | None] = []
    start = 0
    for _, title in headings:
        location = _find_lines(lines, start, title)
        found.append(location)
        if location:
            start = location[0] + location[1]
    if headings and not any(found):
        return {0: (list(headings), 0)}
    placed: dict[int, tuple[list[tuple[int, str]], int]] = {}
    waiting: list[tuple[int, str]] = []
    for heading, location in zip(headings, found):
        waiting.append(heading)
        if location:
            placed[location[0]] = (waiting, location[1])
            waiting = []
    if waiting:
        placed[len(lines)] = (waiting, 0)
    return placed


def _find_lines(lines: list[str], start: int, title: str) -> tuple[int, int] | None:
    """(first line, line count) where `title` is printed, possibly wrapped."""
    wanted = title.casefold()
    for index in range(start, len(lines)):
        for span in range(1, _MAX_HEADING_LINES + 1):
            printed = " ".join(lines[index : index + span]).casefold()
            if printed == wanted:
                return index, span
            if not wanted.startswith(printed + " "):
                break
    return None


def _starts_new_paragraph(line: str) -> bool:
    return bool(line[:1].isupper())
