"""What every format loader returns, and the one error they raise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rag.models import Block


class LoaderError(Exception):
    """A file that cannot be turned into a document.

    `reason` is one short English line for logs and IT staff ("encrypted PDF",
    "empty file", ...); `str(error)` adds the file.
    """

    def __init__(self, reason: str, path: object | None = None):
        self.reason = reason
        self.path = path
        super().__init__(f"{path}: {reason}" if path is not None else reason)


@dataclass
class ParsedFile:
    """A format loader's result, before folder defaults and sidecars are applied.

    `properties` are the file's own metadata (DOCX core properties, PDF info,
    HTML <title>, EQS lines, HAPI fields); `embedded` is metadata the author
    wrote for us inside the file (Markdown front matter), which ranks with a
    sidecar. Both use the keys of `ingest.metadata.FileMetadata`.
    """

    blocks: list[Block]
    properties: dict[str, Any] = field(default_factory=dict)
    embedded: dict[str, Any] = field(default_factory=dict)
    page_count: int | None = None
