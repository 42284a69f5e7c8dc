"""Markdown and plain text (`.md`, `.markdown`, `.txt`).

YAML front matter (python-frontmatter) is the file's own metadata and ranks
with a sidecar; keys other than ours (tags, layout ...) are ignored. The body
is parsed with markdown-it (CommonMark plus pipe tables): headings `#`..`######`
build the heading path, paragraphs become text blocks, a list becomes one
block of '- item' / '1. item' lines, a pipe table one block with a line per
row. Plain text is read the same way, so blank lines separate paragraphs.

The title is the front matter's `title`, else the first `#` heading; the
heading path starts below the title when the first heading is the title
(trimmed in `ingest.loaders.load_file`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import frontmatter
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from ingest.loaders.base import LoaderError, ParsedFile
from ingest.loaders.headings import HeadingTrail
from ingest.loaders.html import html_to_blocks
from ingest.loaders.text import clean_inline, clean_lines, format_list_item, format_table
from rag.models import Block

# Old Windows tools still save Norwegian text as Windows-1252.
_FALLBACK_ENCODING = "cp1252"


def parse(path: Path) -> ParsedFile:
    source = _decode(path.read_bytes())
    try:
        post = frontmatter.loads(source)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: PyYAML's own date parsing ('2025-13-45')
        raise LoaderError(f"invalid YAML front matter: {_first_line(exc)}") from exc
    if not isinstance(post.metadata, dict):
        raise LoaderError("invalid YAML front matter: expected key: value pairs")
    blocks, first_h1 = _MarkdownBlocks().build(post.content)
    properties = {"title": first_h1} if first_h1 else {}
    return ParsedFile(blocks=blocks, properties=properties, embedded=dict(post.metadata))


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode(_FALLBACK_ENCODING, errors="replace")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _inline_text(token: Token) -> str:
    """Plain text of an inline token: formatting and link targets dropped."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(_inline_text(child))
    return clean_inline("".join(parts))


class _MarkdownBlocks:
    def __init__(self) -> None:
        self._parser = MarkdownIt("commonmark").enable("table")
        self._trail = HeadingTrail()
        self._blocks: list[Block] = []
        self._first_h1 = ""

    def build(self, text: str) -> tuple[list[Block], str]:
        tokens = self._parser.parse(text)
        index = 0
        while index < len(tokens):
            index = self._consume(tokens, index)
        return self._blocks, self._first_h1

    def _consume(self, tokens: list[Token], index: int) -> int:
        token = tokens[index]
        if token.type == "heading_open":
            title = _inline_text(tokens[index + 1])
            level = int(token.tag[1])
            if title:
                if level == 1 and not self._first_h1:
                    self._first_h1 = title
                self._trail.enter(level, title)
            return index + 3
        if token.type == "inline":
            self._add("text", _inline_text(token))
        elif token.type in ("bullet_list_open", "ordered_list_open"):
            return self._consume_list(tokens, index)
        elif token.type == "table_open":
            return self._consume_table(tokens, index)
        elif token.type in ("fence", "code_block"):
            self._add("text", clean_lines(token.content))
        elif token.type == "html_block":
            for block in html_to_blocks(token.content, self._trail.path):
                self._blocks.append(block)
        return index + 1

    def _consume_list(self, tokens: list[Token], index: int) -> int:
        lines: list[str] = []
        counters: list[int | None] = []
        new_item = False
        while True:
            token = tokens[index]
            if token.type in ("bullet_list_open", "ordered_list_open"):
                # Numbered lists count from their start attribute; bullet lists have no counter.
                start = token.attrGet("start") or 1
                counters.append(int(start) - 1 if token.type == "ordered_list_open" else None)
            elif token.type in ("bullet_list_close", "ordered_list_close"):
                counters.pop()
                if not counters:
                    break
            elif token.type == "list_item_open":
                new_item = True
                if counters[-1] is not None:
                    counters[-1] += 1
            elif token.type == "inline":
                text = _inline_text(token)
                if text and new_item:
                    lines.append(format_list_item(text, number=counters[-1], depth=len(counters) - 1))
                    new_item = False
                elif text and lines:
                    lines[-1] = f"{lines[-1]} {text}"
            index += 1
        self._add("list", "\n".join(lines))
        return index + 1

    def _consume_table(self, tokens: list[Token], index: int) -> int:
        rows: list[list[str]] = []
        has_header = False
        while tokens[index].type != "table_close":
            token = tokens[index]
            if token.type == "thead_open":
                has_header = True
            elif token.type == "tr_open":
                rows.append([])
            elif token.type == "inline" and rows:
                rows[-1].append(_inline_text(token))
            index += 1
        self._add("table", format_table(rows, has_header=has_header))
        return index + 1

    def _add(self, kind: Any, text: str) -> None:
        if text:
            self._blocks.append(Block(kind=kind, text=text, heading_path=self._trail.path))
