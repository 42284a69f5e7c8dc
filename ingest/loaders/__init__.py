"""Turn files into `Document`s: one loader module per format, one entry point.

`discover_files` finds what to load under a folder; `load_file` picks the
loader by suffix, merges metadata (`ingest.metadata`), detects the language
unless metadata sets it, and gives every document:

- `doc_id` = 'file:' + the path relative to the library root (POSIX; see
  `ingest.metadata.library_root_of`), never relative to where ingest started
- `access_groups` from metadata only; empty when none is set (ingest refuses it)
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

import errno
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ingest.metadata as metadata
from ingest.loaders import docx, hapi, html, markdown, pdf
from ingest.loaders.base import LoaderError, ParsedFile
from rag.language import detect_language
from rag.models import Block, Document, DocumentMetadata

__all__ = ["SUPPORTED_SUFFIXES", "Discovery", "LoaderError", "discover_files", "iter_files", "load_file"]

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


@dataclass
class Discovery:
    """What a folder holds for ingest: files to load, and what was passed over and why."""

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def discover_files(root: Path, *, follow_symlinks_outside: bool = False) -> Discovery:
    """Files under `root` that a loader reads, sorted; skips hidden files and
    folders, Office lock files, `_mappe.yaml`, `_bibliotek.yaml` and `*.meta.yaml`.

    Symbolic links are checked, never followed blindly: a link whose target lies
    outside `root` (file or folder) is skipped with a reason unless
    `follow_symlinks_outside`; a broken link or a link loop with a supported
    suffix is skipped with a reason; a link to a folder inside `root` is passed
    over (its files are found through their real path, under their real ids).
    An unreadable folder is skipped with a reason; the walk goes on."""
    root = Path(os.path.abspath(root))
    real_root = Path(os.path.realpath(root))
    found = Discovery()
    walked = {real_root}

    def walk(folder: Path) -> None:
        try:
            names = sorted(os.listdir(folder))
        except OSError as exc:
            found.skipped.append((folder, f"folder cannot be read: {exc.strerror or exc}"))
            return
        for name in names:
            if name.startswith("."):
                continue
            path = folder / name
            if path.is_symlink():
                target, problem = _link_target(path)
                if target is None:
                    if _is_loadable_name(name):
                        found.skipped.append((path, problem))
                    continue
                outside = not target.is_relative_to(real_root)
                if target.is_dir():
                    if not outside or target in walked:
                        continue  # reached through its real path, or a loop
                    if not follow_symlinks_outside:
                        found.skipped.append((path, _outside_reason("folder", target)))
                        continue
                    walked.add(target)
                    walk(path)
                    continue
                if outside and not follow_symlinks_outside:
                    if _is_loadable_name(name):
                        found.skipped.append((path, _outside_reason("file", target)))
                    continue
            if path.is_dir():
                walk(path)
            elif _is_loadable_name(name):
                found.files.append(path)

    walk(root)
    found.files.sort()
    return found


def iter_files(root: Path) -> Iterator[Path]:
    """The files `discover_files` finds under `root` (what it skips is not listed)."""
    yield from discover_files(root).files


def _is_loadable_name(name: str) -> bool:
    if name == metadata.FOLDER_DEFAULTS_NAME or name == metadata.LIBRARY_MARKER_NAME:
        return False
    if name.endswith(metadata.SIDECAR_SUFFIX) or name.startswith(_LOCK_FILE_PREFIX):
        return False
    return Path(name).suffix.lower() in SUPPORTED_SUFFIXES


def _link_target(path: Path) -> tuple[Path | None, str]:
    """The real path a link leads to, or None and why it leads nowhere."""
    try:
        return path.resolve(strict=True), ""
    except RuntimeError:  # Python 3.11 reports a loop this way
        return None, "symlink loop: not followed"
    except FileNotFoundError:
        return None, "broken link: its target does not exist"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, "symlink loop: not followed"
        return None, f"link cannot be followed: {exc.strerror or exc}"


def _outside_reason(kind: str, target: Path) -> str:
    return (
        f"symlink to a {kind} outside the ingest folder ({target}): not followed "
        "(FAGPRAT_INGEST_FOLLOW_SYMLINKS_OUTSIDE=true allows it)"
    )


def load_file(path: Path, root: Path) -> Document:
    """The document in `path` (which lies under the library root `root`, see
    `ingest.metadata.library_root_of`); `LoaderError` if it cannot be loaded."""
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
    meta.setdefault("access_groups", [])  # none in the metadata: none at all (no national default)
    if "language" not in meta:
        meta["language"] = detect_language(f"{title}\n" + "\n".join(b.text for b in blocks)[:_LANGUAGE_SAMPLE_CHARS])
    document_meta = DocumentMetadata(
        doc_id=metadata.document_id(path, root),
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
