"""HTML pages (saved intranet pages, eHåndbok exports) and HTML fragments.

Only the content is kept: `<main>` or `<article>` when the page has one, else
`<body>`, without navigation, page headers and footers, asides, scripts,
forms, and anything whose id or class names a cookie/consent banner, a
breadcrumb or a skip link. Headings h1-h6 build the heading path; lists
become one block of '- item' lines ('1. item' when numbered); a table becomes
one block, one line per row ('Header: value; Header: value').

A document-control table ('Dokument-ID', 'Versjon', 'Gyldig fra' ...) becomes
metadata instead of content. The title is the first `<h1>`, else `<title>`. Like every loader, the heading
path starts *below* the title when the first heading is the title (that
trimming happens in `ingest.loaders.load_file`).

`html_to_blocks` and `html_to_text` are shared with the HAPI loader, whose
texts are HTML fragments.
"""

from __future__ import annotations

from pathlib import Path

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction

from ingest.loaders.base import ParsedFile
from ingest.loaders.headings import HeadingTrail
from ingest.loaders.procedure_fields import fields_from_table
from ingest.loaders.text import clean_inline, clean_lines, format_list_item, format_table
from rag.models import Block

_HEADING_LEVELS = {f"h{n}": n for n in range(1, 7)}
_DROPPED_TAGS = [
    "nav", "aside", "script", "style", "noscript", "template", "form", "button",
    "input", "select", "textarea", "iframe", "svg", "canvas", "object", "embed",
]  # fmt: skip
# Page chrome: dropped unless it belongs to the article itself (an article's own <header> holds its h1).
_CHROME_TAGS = ["header", "footer"]
_NOISE_MARKERS = ("cookie", "consent", "banner", "breadcrumb", "skip")
_NOISE_ROLES = {"navigation", "banner", "contentinfo", "search", "dialog", "alertdialog"}
_TEXT_TAGS = {"p", "pre", "figcaption", "address", "summary", "caption", "dt", "dd", "legend"}
_LIST_TAGS = ("ul", "ol")
_NON_CONTENT_STRINGS = (Comment, Declaration, Doctype, ProcessingInstruction)
_CONTAINER_TAGS = {
    *_HEADING_LEVELS, *_LIST_TAGS, "table", "dl", "div", "section", "article", "main",
    "blockquote", "figure", "details", "hr", "body", "center", "header", "footer",
}  # fmt: skip
_BLOCK_LEVEL = sorted(_CONTAINER_TAGS | _TEXT_TAGS)


def parse(path: Path) -> ParsedFile:
    soup = BeautifulSoup(path.read_bytes(), "lxml")
    _drop_noise(soup)
    root = soup.find("main") or soup.find("article") or soup.body or soup
    properties: dict[str, str] = {}
    for table in root.find_all("table"):
        fields = fields_from_table(_table_cells(table))
        if fields:  # a document-control table (Dokument-ID, Versjon ...) is metadata, not content
            properties.update(fields)
            table.decompose()
    h1 = root.find("h1")
    title = clean_inline(h1.get_text(" ")) if h1 else ""
    if not title and soup.title:
        title = clean_inline(soup.title.get_text(" "))
    if title:
        properties["title"] = title
    canonical = soup.find("link", rel="canonical")
    if isinstance(canonical, Tag) and canonical.get("href", "").startswith("http"):
        properties["url"] = canonical["href"]
    return ParsedFile(blocks=_BlockBuilder().build(root), properties=properties)


def html_to_blocks(markup: str, heading_path: list[str] | None = None) -> list[Block]:
    """Blocks of an HTML fragment; its own headings nest below `heading_path`."""
    soup = BeautifulSoup(markup or "", "lxml")
    _drop_noise(soup)
    return _BlockBuilder(heading_path or []).build(soup.body or soup)


def html_to_text(markup: str) -> str:
    """An HTML fragment as plain text: one line per paragraph, list item or table row."""
    return "\n".join(block.text for block in html_to_blocks(markup))


def _drop_noise(soup: BeautifulSoup) -> None:
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for tag in soup.find_all(_DROPPED_TAGS):
        tag.decompose()
    for tag in soup.find_all(_CHROME_TAGS):
        if not tag.find_parent(["main", "article"]):
            tag.decompose()
    for tag in soup.find_all(_is_noise):
        tag.decompose()


def _is_noise(tag: Tag) -> bool:
    if tag.name in ("html", "body", "main", "article") or tag.attrs is None:
        return False
    if tag.has_attr("hidden") or tag.get("aria-hidden") == "true" or tag.get("role") in _NOISE_ROLES:
        return True
    classes = tag.get("class") or []
    names = " ".join([tag.get("id") or "", *classes]).lower()
    return any(marker in names for marker in _NOISE_MARKERS)


class _BlockBuilder:
    """Walks the tree in document order, turning it into blocks."""

    def __init__(self, base_path: list[str] | None = None):
        self._base = list(base_path or [])
        self._trail = HeadingTrail()
        self._blocks: list[Block] = []
        self._inline: list[str] = []

    def build(self, root: Tag) -> list[Block]:
        self._walk(root)
        self._flush()
        return self._blocks

    def _walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, _NON_CONTENT_STRINGS):
                    self._inline.append(str(child))
            elif isinstance(child, Tag):
                self._visit(child)

    def _visit(self, tag: Tag) -> None:
        name = tag.name
        if name not in _BLOCK_LEVEL and not tag.find(_BLOCK_LEVEL):
            self._inline.append(tag.get_text())
            return
        self._flush()
        if name in _HEADING_LEVELS:
            title = clean_inline(tag.get_text(" "))
            if title:
                self._trail.enter(_HEADING_LEVELS[name], title)
        elif name in _LIST_TAGS:
            self._add("list", "\n".join(_list_lines(tag, depth=0)))
        elif name == "table":
            self._add("table", _table_text(tag))
        elif name == "dl":
            self._add("list", _definition_list_text(tag))
        elif name == "pre":
            self._add("text", clean_lines(tag.get_text()))
        elif name in _TEXT_TAGS and not tag.find(sorted(_CONTAINER_TAGS)):
            self._add("text", clean_inline(tag.get_text()))
        else:
            self._walk(tag)
            self._flush()

    def _flush(self) -> None:
        text = clean_inline("".join(self._inline))
        self._inline = []
        self._add("text", text)

    def _add(self, kind: str, text: str) -> None:
        if text:
            path = [*self._base, *self._trail.path]
            self._blocks.append(Block(kind=kind, text=text, heading_path=path))


def _list_lines(list_tag: Tag, depth: int) -> list[str]:
    ordered = list_tag.name == "ol"
    start = list_tag.get("start", "1")
    number = int(start) if str(start).isdigit() else 1
    lines: list[str] = []
    for item in list_tag.find_all("li", recursive=False):
        nested = [sub for sub in item.find_all(_LIST_TAGS) if sub.find_parent(["li"]) is item]
        own_text = "".join(
            str(s)
            for s in item.find_all(string=True)
            if not isinstance(s, _NON_CONTENT_STRINGS) and s.find_parent(_LIST_TAGS) is list_tag
        )
        text = clean_inline(own_text)
        if text:
            lines.append(format_list_item(text, number=number if ordered else None, depth=depth))
            number += 1
        for sub in nested:
            lines.extend(_list_lines(sub, depth + 1))
    return lines


def _table_rows(table: Tag) -> list[Tag]:
    return [row for row in table.find_all("tr") if row.find_parent("table") is table]


def _table_cells(table: Tag) -> list[list[str]]:
    return [[cell.get_text(" ") for cell in row.find_all(["th", "td"], recursive=False)] for row in _table_rows(table)]


def _table_text(table: Tag) -> str:
    rows = _table_rows(table)
    cells = _table_cells(table)
    first = rows[0] if rows else None
    has_header = bool(
        first
        and (first.find_parent("thead") or all(c.name == "th" for c in first.find_all(["th", "td"], recursive=False)))
    )
    text = format_table(cells, has_header=has_header)
    caption = table.find("caption")
    if caption and text:
        text = f"{clean_inline(caption.get_text(' '))}\n{text}"
    return text


def _definition_list_text(dl: Tag) -> str:
    lines: list[str] = []
    term = ""
    for child in dl.find_all(["dt", "dd"]):
        text = clean_inline(child.get_text(" "))
        if child.name == "dt":
            term = text
        elif text:
            lines.append(f"{term}: {text}" if term else text)
    return "\n".join(lines)
