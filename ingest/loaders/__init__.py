"""Turn files into `Document`s: one loader module per format, one entry point.

`load_file` picks the loader by suffix, merges metadata (`ingest.metadata`),
detects the language unless metadata sets it, and gives every document:

- `doc_id` = 'file:' + the path relative to the ingest root (POSIX)
- `title`: metadata, else the first heading when the document opens with
  one, else the file name
- heading paths that start *below* the title: when the document's first
  heading is its title (an h1, a 'Title' paragraph, the top HAPI node), it is
  removed from every path, so paths never repeat the title; an opening
  paragraph that is just the title is dropped too
- `content_hash`: sha256 of the file's bytes plus those of its sidecar and
  the `_mappe.yaml` files above it, so a metadata edit re-ingests the file.

Every failure is a `LoaderError` with a one-line English `reason`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import ingest.metadata as metadata
from ingest.loaders import docx, hapi, html, markdown, pdf
from ingest.loaders.base import LoaderError, ParsedFile
from rag.language import detect_language
from rag.models import Block, Document, DocumentMetadata

__all__ = ["SUPPORTED_SUFFIXES", "LoaderError", "iter_files", "load_file"]

_LOADERS: dict[str, Callable[[Path], ParsedFile]] = {
    ".pdf": pdf.parse,
    ".docx": docx.parse,
    ".html": html.parse,
    ".htm": html.parse,
    ".md": markdown.parse,
    ".markdown": markdown.parse,
    ".txt": markdown.parse,
    ".json": hapi.parse,
}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_LOADERS)

# Language detection reads the start of a document: enough words to be sure, fast on long files.
_LANGUAGE_SAMPLE_CHARS = 4000
# Office lock files ('~$rosedyre.docx') sit next to open documents on shared drives.
_LOCK_FILE_PREFIX = "~$"


def iter_files(root: Path) -> Iterator[Path]:
    """Files under `root` that a loader reads, sorted; skips hidden files and
    folders, Office lock files, `_mappe.yaml` and `*.meta.yaml`. Broken links
    with a supported suffix are included, so that ingest reports them."""
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or path.is_dir():
            continue
        name = path.name
        if name == metadata.FOLDER_DEFAULTS_NAME or name.endswith(metadata.SIDECAR_SUFFIX):
            continue
        if name.startswith(_LOCK_FILE_PREFIX) or path.suffix.lower() not in SUPPORTED_SUFFIXES:
            continue
        yield path


def load_file(path: Path, root: Path) -> Document:
    """The document in `path` (which lies under `root`); `LoaderError` if it cannot be loaded."""
    try:
        return _load(path, root)
    except LoaderError as exc:
        raise LoaderError(exc.reason, path) from exc
    except Exception as exc:  # a library's own error on odd input: still a clear, per-file failure
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        reason = f"cannot be loaded: {type(exc).__name__}" + (f": {detail}" if detail else "")
        raise LoaderError(reason, path) from exc


def _load(path: Path, root: Path) -> Document:
    loader = _LOADERS.get(path.suffix.lower())
    if loader is None:
        raise LoaderError("unknown file type")
    data = _read(path)
    parsed = loader(path)
    meta = metadata.resolve_metadata(path, root, parsed.properties, parsed.embedded)
    if not parsed.blocks:
        raise LoaderError("no text content")
    title = meta.pop("title", "") or _first_heading(parsed.blocks) or _title_from_name(path)
    blocks = _below_title(parsed.blocks, title)
    if "language" not in meta:
        meta["language"] = detect_language(f"{title}\n" + "\n".join(b.text for b in blocks)[:_LANGUAGE_SAMPLE_CHARS])
    document_meta = DocumentMetadata(
        doc_id="file:" + path.relative_to(root).as_posix(),
        title=title,
        source_path=str(path),
        page_count=parsed.page_count,
        **meta,
    )
    return Document(meta=document_meta, blocks=blocks, content_hash=_content_hash(data, path, root))


def _read(path: Path) -> bytes:
    if path.is_dir():
        raise LoaderError("cannot be read: it is a folder")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoaderError(f"cannot be read: {exc.strerror or exc}") from exc
    if not data.strip():
        raise LoaderError("empty file")
    return data


def _first_heading(blocks: list[Block]) -> str:
    first = blocks[0].heading_path
    return first[0] if first else ""


def _title_from_name(path: Path) -> str:
    name = path.stem.replace("_", " ").replace("-", " ").strip()
    return name[:1].upper() + name[1:]


def _below_title(blocks: list[Block], title: str) -> list[Block]:
    """Drops the title from the heading paths when the document's first heading is
    the title, and an opening paragraph that only repeats the title (a PDF's title line)."""
    if len(blocks) > 1 and blocks[0].kind == "text" and blocks[0].text.casefold() == title.casefold():
        blocks = blocks[1:]
    first = next((b.heading_path[0] for b in blocks if b.heading_path), "")
    if not first or first.casefold() != title.casefold():
        return blocks
    return [
        b.model_copy(update={"heading_path": b.heading_path[1:]}) if b.heading_path[:1] == [first] else b
        for b in blocks
    ]


def _content_hash(data: bytes, path: Path, root: Path) -> str:
    digest = hashlib.sha256(data)
    for meta_file in metadata.metadata_files(path, root):
        digest.update(b"\0" + meta_file.name.encode() + b"\0")
        digest.update(meta_file.read_bytes())
    return digest.hexdigest()
