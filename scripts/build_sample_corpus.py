"""Render the sample corpus's PDF and DOCX files from their Markdown sources.

Each source under ``data/sample-src/`` is Markdown with YAML front matter and is
named after its output plus ``.md``::

    data/sample-src/fjordbyen/perifert-venekateter.docx.md
        -> data/sample/fjordbyen/perifert-venekateter.docx
        -> data/sample/fjordbyen/perifert-venekateter.docx.meta.yaml

PDFs get a real text layer, bold headings, bookmarks, page numbers and real
tables (reportlab); DOCX files get Heading/List styles, real tables, core
properties and an EQS-style metadata table (python-docx). Output is byte-for-byte
deterministic, so rebuilding leaves committed files untouched.

Usage::

    .venv/bin/python scripts/build_sample_corpus.py          # (re)build what changed
    .venv/bin/python scripts/build_sample_corpus.py --check  # exit 1 if anything is missing or stale
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import docx
import frontmatter
import reportlab
import yaml
from docx.shared import Pt
from markdown_it import MarkdownIt
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SRC = REPO_ROOT / "data" / "sample-src"
DEFAULT_OUT = REPO_ROOT / "data" / "sample"

# Front-matter keys copied to the sidecar, in the order of docs/architecture.md.
SIDECAR_KEYS = (
    "title", "publisher", "doc_type", "url", "updated", "version", "valid_from",
    "review_due", "external_id", "access_groups", "language", "credit",
)
# Zip entries get this timestamp instead of "now", so DOCX bytes are stable.
FIXED_ZIP_TIME = (2025, 1, 1, 0, 0, 0)
DOCX_LANGUAGE_TAGS = {"nb": "nb-NO", "nn": "nn-NO", "en": "en-GB"}


class SourceError(Exception):
    """A source file that cannot be rendered; the message names the file and the fix."""


# --------------------------------------------------------------------------- parsing


@dataclass
class Run:
    text: str
    bold: bool = False
    italic: bool = False


@dataclass
class Heading:
    level: int  # 1 = '#'
    runs: list[Run]


@dataclass
class Para:
    runs: list[Run]


@dataclass
class ListBlock:
    ordered: bool
    items: list[list[Run]] = field(default_factory=list)


@dataclass
class TableBlock:
    header: list[list[Run]]
    rows: list[list[list[Run]]] = field(default_factory=list)


Block = Heading | Para | ListBlock | TableBlock


@dataclass
class Source:
    path: Path
    meta: dict
    blocks: list[Block]

    @property
    def title(self) -> str:
        return str(self.meta["title"])


def plain(runs: list[Run]) -> str:
    return "".join(r.text for r in runs)


def _inline_runs(token) -> list[Run]:
    runs: list[Run] = []
    bold = italic = False
    for child in token.children or []:
        if child.type == "strong_open":
            bold = True
        elif child.type == "strong_close":
            bold = False
        elif child.type == "em_open":
            italic = True
        elif child.type == "em_close":
            italic = False
        elif child.type in ("softbreak", "hardbreak"):
            runs.append(Run(" ", bold, italic))
        elif child.type in ("text", "code_inline"):
            runs.append(Run(child.content, bold, italic))
    return runs


def parse_markdown(body: str, origin: Path) -> list[Block]:
    """Turn the Markdown body into the handful of block kinds both renderers know."""
    tokens = MarkdownIt("commonmark").enable("table").parse(body)
    blocks: list[Block] = []
    current_list: ListBlock | None = None
    current_table: TableBlock | None = None
    in_head = False
    row: list[list[Run]] | None = None
    pending_heading: int | None = None
    for tok in tokens:
        kind = tok.type
        if kind == "heading_open":
            pending_heading = int(tok.tag[1])
        elif kind in ("bullet_list_open", "ordered_list_open"):
            if current_list is not None:
                raise SourceError(f"{origin}: nested lists are not supported; flatten the list")
            current_list = ListBlock(ordered=kind == "ordered_list_open")
        elif kind in ("bullet_list_close", "ordered_list_close"):
            blocks.append(current_list)
            current_list = None
        elif kind == "table_open":
            current_table = TableBlock(header=[])
        elif kind == "table_close":
            blocks.append(current_table)
            current_table = None
        elif kind == "thead_open":
            in_head = True
        elif kind == "thead_close":
            in_head = False
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close":
            if in_head:
                current_table.header = row
            else:
                current_table.rows.append(row)
            row = None
        elif kind == "inline":
            runs = _inline_runs(tok)
            if pending_heading is not None:
                blocks.append(Heading(pending_heading, runs))
                pending_heading = None
            elif row is not None:
                row.append(runs)
            elif current_list is not None:
                current_list.items.append(runs)
            else:
                blocks.append(Para(runs))
        elif kind in ("fence", "code_block", "blockquote_open", "html_block"):
            raise SourceError(f"{origin}: unsupported Markdown element '{kind}'")
    return blocks


def load_source(path: Path) -> Source:
    post = frontmatter.load(path)
    if not post.metadata.get("title"):
        raise SourceError(f"{path}: front matter needs a 'title'")
    return Source(path=path, meta=dict(post.metadata), blocks=parse_markdown(post.content, path))


# --------------------------------------------------------------------------- shared


def _iso(value) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _norwegian_date(value) -> str:
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y")
    return str(value or "")


def _document_dates(meta: dict) -> tuple[dt.datetime, dt.datetime]:
    """(created, modified) for DOCX core properties: the earliest and latest of
    the document's own dates, so they never depend on when the script ran."""
    days = sorted(d for d in (meta.get("updated"), meta.get("valid_from")) if isinstance(d, dt.date))
    if not days:
        raise SourceError(f"{meta.get('title')}: front matter needs 'updated' or 'valid_from' (ISO date)")
    first, last = days[0], days[-1]
    return (
        dt.datetime(first.year, first.month, first.day, tzinfo=dt.timezone.utc),
        dt.datetime(last.year, last.month, last.day, tzinfo=dt.timezone.utc),
    )


def render_sidecar(source: Source) -> bytes:
    data = {}
    for key in SIDECAR_KEYS:
        if key in source.meta and source.meta[key] not in (None, ""):
            value = source.meta[key]
            data[key] = [str(v) for v in value] if isinstance(value, list) else _iso(value)
    header = f"# Generated by scripts/build_sample_corpus.py from {source.path.name}; edit the source.\n"
    return (header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False)).encode("utf-8")


def metadata_rows(meta: dict) -> list[tuple[str, str]]:
    """The EQS-style header a local procedure carries; national documents skip empty rows."""
    nynorsk = meta.get("language") == "nn"
    rows = [
        ("Dokument-ID", str(meta.get("external_id") or "")),
        ("Versjon", str(meta.get("version") or "")),
        ("Gyldig frå" if nynorsk else "Gyldig fra", _norwegian_date(meta.get("valid_from"))),
        ("Revisjonsfrist", _norwegian_date(meta.get("review_due"))),
        ("Utgjevar" if nynorsk else "Utgiver", str(meta.get("publisher") or "")),
        ("Sist oppdatert", _norwegian_date(meta.get("updated"))),
    ]
    return [(k, v) for k, v in rows if v]


# --------------------------------------------------------------------------- PDF


def _register_fonts() -> tuple[str, str]:
    """Bitstream Vera ships with reportlab and covers æøå, ≥ and en dash."""
    font_dir = Path(reportlab.__file__).parent / "fonts"
    if "SampleSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("SampleSans", str(font_dir / "Vera.ttf")))
        pdfmetrics.registerFont(TTFont("SampleSans-Bold", str(font_dir / "VeraBd.ttf")))
        pdfmetrics.registerFont(TTFont("SampleSans-Italic", str(font_dir / "VeraIt.ttf")))
        pdfmetrics.registerFont(TTFont("SampleSans-BoldItalic", str(font_dir / "VeraBI.ttf")))
        pdfmetrics.registerFontFamily(
            "SampleSans", normal="SampleSans", bold="SampleSans-Bold",
            italic="SampleSans-Italic", boldItalic="SampleSans-BoldItalic",
        )
    return "SampleSans", "SampleSans-Bold"


def _pdf_styles() -> dict[str, ParagraphStyle]:
    regular, bold = _register_fonts()
    body = ParagraphStyle("Body", fontName=regular, fontSize=10, leading=14, spaceAfter=6, alignment=TA_LEFT)
    return {
        "title": ParagraphStyle("Title", parent=body, fontName=bold, fontSize=18, leading=22, spaceAfter=10),
        "meta": ParagraphStyle("Meta", parent=body, fontSize=8.5, leading=11, textColor=colors.HexColor("#444444")),
        "h1": ParagraphStyle("Heading1", parent=body, fontName=bold, fontSize=14, leading=18, spaceBefore=10),
        "h2": ParagraphStyle("Heading2", parent=body, fontName=bold, fontSize=12, leading=15, spaceBefore=8),
        "h3": ParagraphStyle("Heading3", parent=body, fontName=bold, fontSize=10.5, leading=14, spaceBefore=6),
        "body": body,
        "cell": ParagraphStyle("Cell", parent=body, fontSize=9, leading=11.5, spaceAfter=0),
        "cellhead": ParagraphStyle("CellHead", parent=body, fontName=bold, fontSize=9, leading=11.5, spaceAfter=0),
    }


def _markup(runs: list[Run]) -> str:
    parts = []
    for run in runs:
        text = escape(run.text)
        if run.bold:
            text = f"<b>{text}</b>"
        if run.italic:
            text = f"<i>{text}</i>"
        parts.append(text)
    return "".join(parts)


class _OutlinedDoc(SimpleDocTemplate):
    """Adds a PDF bookmark for the title and every heading as it is laid out,
    and draws the footer after the page body so text extraction reads the body first."""

    OUTLINE_LEVELS = {"Title": 0, "Heading1": 1, "Heading2": 2, "Heading3": 3}
    footer_left = ""

    def afterPage(self):
        canvas = self.canv
        canvas.saveState()
        canvas.setFont("SampleSans", 8)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(2 * cm, 1.2 * cm, self.footer_left)
        canvas.drawRightString(A4[0] - 2 * cm, 1.2 * cm, f"Side {self.page}")
        canvas.restoreState()

    def afterFlowable(self, flowable):
        if not isinstance(flowable, Paragraph):
            return
        level = self.OUTLINE_LEVELS.get(flowable.style.name)
        if level is None:
            return
        self._bookmarks = getattr(self, "_bookmarks", 0) + 1
        key = f"h{self._bookmarks}"
        self.canv.bookmarkPage(key)
        self.canv.addOutlineEntry(flowable.getPlainText(), key, level=level, closed=False)


def render_pdf(source: Source) -> bytes:
    styles = _pdf_styles()
    meta = source.meta
    story: list = [Paragraph(escape(source.title), styles["title"])]
    rows = metadata_rows(meta)
    if rows:
        story.append(Paragraph(" · ".join(f"{escape(k)}: {escape(v)}" for k, v in rows), styles["meta"]))
    story.append(Spacer(1, 6))
    for block in source.blocks:
        story.append(_pdf_flowable(block, styles, source.path))

    buffer = io.BytesIO()
    doc = _OutlinedDoc(
        buffer, pagesize=A4, invariant=1,
        leftMargin=2 * cm, rightMargin=2 * cm, topMargin=2 * cm, bottomMargin=2.2 * cm,
        title=source.title, author=str(meta.get("author") or meta.get("publisher") or ""),
        subject=str(meta.get("doc_type") or ""), creator="fagprat build_sample_corpus.py",
        lang=DOCX_LANGUAGE_TAGS.get(str(meta.get("language", "nb")), "nb-NO"),
    )
    doc.footer_left = f"{meta.get('publisher', '')} – {source.title}"
    doc.build(story)
    return buffer.getvalue()


def _pdf_flowable(block: Block, styles: dict[str, ParagraphStyle], origin: Path):
    if isinstance(block, Heading):
        if block.level > 3:
            raise SourceError(f"{origin}: headings deeper than ### are not supported")
        return Paragraph(_markup(block.runs), styles[f"h{block.level}"])
    if isinstance(block, Para):
        return Paragraph(_markup(block.runs), styles["body"])
    if isinstance(block, ListBlock):
        items = [ListItem(Paragraph(_markup(runs), styles["body"])) for runs in block.items]
        if block.ordered:
            return ListFlowable(items, bulletType="1", bulletFormat="%s.", leftIndent=16, bulletFontName="SampleSans")
        return ListFlowable(items, bulletType="bullet", start="•", leftIndent=14, bulletFontName="SampleSans")
    # A table: wrapped cells, header repeated on every page it spans.
    width = A4[0] - 4 * cm
    columns = len(block.header)
    data = [[Paragraph(_markup(cell), styles["cellhead"]) for cell in block.header]]
    data += [[Paragraph(_markup(cell), styles["cell"]) for cell in row] for row in block.rows]
    table = Table(data, colWidths=[width / columns] * columns, repeatRows=1)
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#777777")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E3ECF3")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
    ]))
    return table


# --------------------------------------------------------------------------- DOCX


def _add_runs(paragraph, runs: list[Run]) -> None:
    for run in runs:
        added = paragraph.add_run(run.text)
        added.bold = run.bold or None
        added.italic = run.italic or None


def _docx_table(document, header: list[list[Run]] | None, rows: list[list[list[Run]]]):
    columns = len(header) if header else len(rows[0])
    table = document.add_table(rows=0, cols=columns)
    table.style = "Table Grid"
    if header:
        cells = table.add_row().cells
        for cell, runs in zip(cells, header):
            for run in runs:
                cell.paragraphs[0].add_run(run.text).bold = True
    for row in rows:
        cells = table.add_row().cells
        for cell, runs in zip(cells, row):
            _add_runs(cell.paragraphs[0], runs)
    return table


def _deterministic_zip(raw: bytes) -> bytes:
    """python-docx stamps zip entries with the current time; restamp them."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, src.read(item.filename))
    return out.getvalue()


def render_docx(source: Source) -> bytes:
    meta = source.meta
    document = docx.Document()
    document.styles["Normal"].font.size = Pt(10.5)

    props = document.core_properties
    props.title = source.title
    props.author = str(meta.get("author") or meta.get("publisher") or "")
    props.last_modified_by = props.author
    props.subject = str(meta.get("doc_type") or "")
    props.identifier = str(meta.get("external_id") or "")
    props.version = str(meta.get("version") or "")
    props.language = DOCX_LANGUAGE_TAGS.get(str(meta.get("language", "nb")), "nb-NO")
    props.revision = 1
    props.created, props.modified = _document_dates(meta)
    props.last_printed = props.created
    props.comments = ""
    props.keywords = ""
    props.category = str(meta.get("doc_type") or "")

    document.add_heading(source.title, level=0)
    rows = metadata_rows(meta)
    if rows:
        _docx_table(document, None, [[[Run(k, bold=True)], [Run(v)]] for k, v in rows])
        document.add_paragraph()

    for block in source.blocks:
        if isinstance(block, Heading):
            if block.level > 3:
                raise SourceError(f"{source.path}: headings deeper than ### are not supported")
            heading = document.add_heading(level=block.level)
            _add_runs(heading, block.runs)
        elif isinstance(block, Para):
            _add_runs(document.add_paragraph(), block.runs)
        elif isinstance(block, ListBlock):
            style = "List Number" if block.ordered else "List Bullet"
            for runs in block.items:
                _add_runs(document.add_paragraph(style=style), runs)
        else:
            _docx_table(document, block.header, block.rows)
            document.add_paragraph()

    buffer = io.BytesIO()
    document.save(buffer)
    return _deterministic_zip(buffer.getvalue())


# --------------------------------------------------------------------------- driver

RENDERERS = {".pdf": render_pdf, ".docx": render_docx}


def planned_outputs(src_root: Path, out_root: Path) -> list[tuple[Path, Path, bytes]]:
    """(output path, bytes) for every file the sources call for, outputs and sidecars alike."""
    outputs: list[tuple[Path, Path, bytes]] = []
    for path in sorted(src_root.rglob("*.md")):
        target = out_root / path.relative_to(src_root).with_suffix("")
        renderer = RENDERERS.get(target.suffix.lower())
        if renderer is None:
            raise SourceError(f"{path}: name must end in .pdf.md or .docx.md")
        source = load_source(path)
        outputs.append((path, target, renderer(source)))
        outputs.append((path, target.with_name(target.name + ".meta.yaml"), render_sidecar(source)))
    return outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report missing or stale outputs, write nothing")
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC, help="folder of Markdown sources")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder of the rendered corpus")
    args = parser.parse_args(argv)
    if not args.src.is_dir():
        print(f"Fant ikke kildemappen {args.src}", file=sys.stderr)
        return 2
    try:
        outputs = planned_outputs(args.src, args.out)
    except SourceError as err:
        print(f"Kan ikke bygge eksempelkorpuset: {err}", file=sys.stderr)
        return 2

    stale = [target for _, target, data in outputs if not target.exists() or target.read_bytes() != data]
    if args.check:
        for target in stale:
            print(f"utdatert eller mangler: {target.relative_to(args.out)}", file=sys.stderr)
        print(f"{len(outputs) - len(stale)} av {len(outputs)} filer er oppdatert")
        return 1 if stale else 0
    for target in stale:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(next(data for _, t, data in outputs if t == target))
        print(f"skrev {target.relative_to(args.out)}")
    print(f"{len(outputs)} filer, {len(stale)} oppdatert")
    return 0


if __name__ == "__main__":
    sys.exit(main())
