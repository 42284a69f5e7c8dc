"""Word documents (`.docx`) with python-docx.

The body is read in order, paragraphs and tables interleaved as the reader
sees them. 'Heading N' (Word in Norwegian: 'Overskrift N') builds the heading
path; 'Title'/'Tittel' is the top of it. Consecutive list paragraphs (list
styles or Word numbering) become one list block, '1. item' when the list is
numbered. A table is kept whole as one block, one line per row.

Core properties give the title and the modified date. The control fields of a
quality-system procedure ('Dokument-ID', 'Versjon', 'Gyldig fra',
'Revisjonsfrist', nynorsk too), as lines or a table at the top of the body or
in the page header, become metadata and are left out of the content. As with
every loader, the heading path starts below the title when the first heading
is the title (trimmed in `ingest.loaders.load_file`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import docx
from docx.document import Document as WordDocument
from docx.table import Table
from docx.text.paragraph import Paragraph

from ingest.loaders.base import LoaderError, ParsedFile
from ingest.loaders.headings import HeadingTrail
from ingest.loaders.procedure_fields import fields_from_line, fields_from_table
from ingest.loaders.text import clean_inline, format_list_item, format_table
from rag.models import Block

_HEADING_STYLE = re.compile(r"^(?:heading|overskrift)\s+(\d)$", re.IGNORECASE)
_TITLE_STYLES = {"title", "tittel"}
_LIST_STYLE = re.compile(r"^list(?:e)?\s*(bullet|number|paragraph|punkt|nummer)?\s*(\d)?$", re.IGNORECASE)
# Encrypted Office files (and old binary .doc renamed to .docx) are OLE containers, not zip.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"


def parse(path: Path) -> ParsedFile:
    with path.open("rb") as handle:
        if handle.read(len(_OLE_MAGIC)) == _OLE_MAGIC:
            raise LoaderError("encrypted DOCX (or an old binary Word file renamed to .docx)")
    try:
        document = docx.Document(str(path))
    except Exception as exc:  # python-docx raises zip, XML and key errors alike
        raise LoaderError(f"corrupt file: not a readable DOCX ({type(exc).__name__})") from exc
    return _DocxReader(document).read()


class _DocxReader:
    def __init__(self, document: WordDocument):
        self._document = document
        self._trail = HeadingTrail()
        self._blocks: list[Block] = []
        self._list_lines: list[str] = []
        self._list_counters: list[int] = []
        self._properties: dict[str, Any] = {}
        self._in_preamble = True  # before the first heading or body text

    def read(self) -> ParsedFile:
        self._read_core_properties()
        self._read_page_header()
        for item in self._document.iter_inner_content():
            if isinstance(item, Table):
                self._table(item)
            else:
                self._paragraph(item)
        self._flush_list()
        return ParsedFile(blocks=self._blocks, properties=self._properties)

    def _read_core_properties(self) -> None:
        core = self._document.core_properties
        if clean_inline(core.title or ""):
            self._properties["title"] = clean_inline(core.title)
        if core.modified:
            self._properties["updated"] = core.modified.date()

    def _read_page_header(self) -> None:
        for section in self._document.sections:
            header = section.header
            for table in header.tables:
                self._merge_fields(fields_from_table(_table_rows(table)))
            for paragraph in header.paragraphs:
                self._merge_fields(fields_from_line(paragraph.text))

    def _merge_fields(self, fields: dict[str, str]) -> None:
        for key, value in fields.items():
            self._properties.setdefault(key, value)

    def _paragraph(self, paragraph: Paragraph) -> None:
        text = clean_inline(paragraph.text)
        if not text:
            return
        style = (paragraph.style.name if paragraph.style is not None else "").strip()
        heading = _HEADING_STYLE.match(style)
        if style.casefold() in _TITLE_STYLES:
            self._flush_list()
            self._properties.setdefault("title", text)
            self._trail.enter(0, text)
            return
        if heading:
            self._flush_list()
            self._in_preamble = False
            self._trail.enter(int(heading.group(1)), text)
            return
        if self._in_preamble:
            fields = fields_from_line(text)
            if fields:
                self._merge_fields(fields)
                return
        self._in_preamble = False
        list_format = self._list_format(paragraph, style)
        if list_format is None:
            self._flush_list()
            self._add("text", text)
            return
        ordered, depth = list_format
        # One counter per nesting level; a deeper list restarts when its parent moves on.
        self._list_counters = [*self._list_counters[: depth + 1], *[0] * (depth + 1 - len(self._list_counters))]
        self._list_counters[depth] += 1
        number = self._list_counters[depth] if ordered else None
        self._list_lines.append(format_list_item(text, number=number, depth=depth))

    def _table(self, table: Table) -> None:
        self._flush_list()
        rows = _table_rows(table)
        if self._in_preamble:
            fields = fields_from_table(rows)
            if fields:
                self._merge_fields(fields)
                return
        self._in_preamble = False
        self._add("table", format_table(rows))

    def _list_format(self, paragraph: Paragraph, style: str) -> tuple[bool, int] | None:
        """(numbered, depth) for a list paragraph, None for any other paragraph."""
        style_match = _LIST_STYLE.match(style)
        p_pr = paragraph._p.pPr
        num_pr = p_pr.numPr if p_pr is not None else None
        if num_pr is None and not style_match:
            return None
        depth = 0
        if num_pr is not None and num_pr.ilvl is not None:
            depth = int(num_pr.ilvl.val)
        elif style_match and style_match.group(2):
            depth = int(style_match.group(2)) - 1
        kind = (style_match.group(1) or "").casefold() if style_match else ""
        ordered = kind in ("number", "nummer") or (num_pr is not None and self._is_numbered(num_pr, depth))
        return ordered, depth

    def _is_numbered(self, num_pr: Any, level: int) -> bool:
        """Whether Word numbering `num_pr` counts (decimal, letters) rather than bullets."""
        try:
            numbering = self._document.part.numbering_part.element
            num = numbering.num_having_numId(num_pr.numId.val)
            formats = numbering.xpath(
                f'./w:abstractNum[@w:abstractNumId="{num.abstractNumId.val}"]'
                f'/w:lvl[@w:ilvl="{level}"]/w:numFmt/@w:val'
            )
        except (KeyError, AttributeError, NotImplementedError):
            return False
        return bool(formats) and formats[0] not in ("bullet", "none")

    def _flush_list(self) -> None:
        if self._list_lines:
            self._add("list", "\n".join(self._list_lines))
        self._list_lines = []
        self._list_counters = []

    def _add(self, kind: Any, text: str) -> None:
        if text:
            self._blocks.append(Block(kind=kind, text=text, heading_path=self._trail.path))


def _table_rows(table: Table) -> list[list[str]]:
    """Cell texts per row; a merged cell appears once, not once per grid column."""
    rows = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if cell._tc is previous:
                continue
            previous = cell._tc
            cells.append(clean_inline(cell.text))
        rows.append(cells)
    return rows
