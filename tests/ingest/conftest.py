"""Builders for real input files (PDF with reportlab, DOCX with python-docx)
used by the loader and metadata tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

# Page text: (font size, line) pairs drawn top-down; a size above the body size makes a heading.
PageLines = list[tuple[float, str]]

_BODY_SIZE = 11
_LEFT_MARGIN = 72
_TOP = 780
_LINE_GAP = 1.5


class FileMaker:
    """Writes real documents for the tests (reportlab PDFs, python-docx files)."""

    @staticmethod
    def body(text: str) -> tuple[float, str]:
        return (_BODY_SIZE, text)

    @staticmethod
    def heading(text: str, size: float = 18) -> tuple[float, str]:
        return (size, text)

    @staticmethod
    def pdf(
        path: Path,
        pages: list[PageLines],
        *,
        outline: list[tuple[str, int, int]] | None = None,
        title: str | None = None,
    ) -> Path:
        """A text PDF. `outline` holds (title, level starting at 0, 1-based page) bookmarks."""
        from reportlab.pdfgen import canvas

        pdf = canvas.Canvas(str(path))
        if title:
            pdf.setTitle(title)
        bookmarks_by_page: dict[int, list[tuple[str, int]]] = {}
        for entry_title, level, page in outline or []:
            bookmarks_by_page.setdefault(page, []).append((entry_title, level))
        for number, lines in enumerate(pages, start=1):
            for index, (entry_title, level) in enumerate(bookmarks_by_page.get(number, [])):
                key = f"p{number}-{index}"
                pdf.bookmarkPage(key)
                pdf.addOutlineEntry(entry_title, key, level=level)
            y = _TOP
            for size, line in lines:
                pdf.setFont("Helvetica-Bold" if size > _BODY_SIZE else "Helvetica", size)
                pdf.drawString(_LEFT_MARGIN, y, line)
                y -= size * _LINE_GAP
            pdf.showPage()
        pdf.save()
        return path

    @staticmethod
    def image_only_pdf(path: Path) -> Path:
        """A 'scanned' page: one drawn image, no text layer."""
        from PIL import Image
        from reportlab.lib.utils import ImageReader
        from reportlab.pdfgen import canvas

        image = Image.new("RGB", (120, 80), (200, 30, 30))
        pdf = canvas.Canvas(str(path))
        pdf.drawImage(ImageReader(image), 72, 600, width=240, height=160)
        pdf.showPage()
        pdf.save()
        return path

    @staticmethod
    def encrypted_pdf(source: Path, target: Path, password: str) -> Path:
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter(clone_from=PdfReader(source))
        writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="AES-128")
        with target.open("wb") as handle:
            writer.write(handle)
        return target

    @staticmethod
    def docx(
        path: Path,
        parts: list[tuple[str, object]],
        *,
        title: str = "",
        modified: dt.datetime | None = None,
    ) -> Path:
        """A DOCX from (kind, payload) parts in body order.

        Kinds: 'title', 'h1'..'h3', 'p', 'bullet', 'number', 'bullet2', 'table' (rows).
        """
        import docx

        document = docx.Document()
        if title:
            document.core_properties.title = title
        if modified:
            document.core_properties.modified = modified
        styles = {
            "title": "Title", "p": None, "bullet": "List Bullet", "number": "List Number", "bullet2": "List Bullet 2",
        }  # fmt: skip
        for kind, payload in parts:
            if kind.startswith("h") and kind[1:].isdigit():
                document.add_heading(str(payload), level=int(kind[1:]))
            elif kind == "table":
                rows = payload
                table = document.add_table(rows=len(rows), cols=len(rows[0]))
                for r, row in enumerate(rows):
                    for c, value in enumerate(row):
                        table.cell(r, c).text = value
            else:
                document.add_paragraph(str(payload), style=styles[kind])
        document.save(str(path))
        return path


@pytest.fixture
def make() -> FileMaker:
    return FileMaker()
