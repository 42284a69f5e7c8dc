"""Opening a source's original file: the chat's document route.

A local source (a PDF, DOCX, HTML or Markdown file that was ingested) has no
public address, and its server path means nothing to a nurse (and tells an
attacker where things are). The chat serves such files itself at
``/fagprat/dokument/<doc id>``:

- only files under ``settings.chat_file_roots`` (the ingest roots), found by
  the document id in the index: the URL names an indexed document, never a
  path, so nothing else on the server can be reached (no path traversal);
- only to a signed-in user whose access groups meet the document's access
  groups, checked on every request against the index (not against anything
  the browser sends);
- anything else is a plain 404 that does not say whether the document exists.

`document_path` gives the chat's own (relative) link, `document_url` the link
another surface (the Teams card) can show: the source's public URL when it has
one, else this route under ``settings.chat_public_url``, else None (the title
only). Chainlit is imported only where the route is mounted, so the Teams bot
can import this module cheaply.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from rag.models import Passage
from rag.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

logger = logging.getLogger("fagprat.documents")

DOCUMENT_ROUTE = "/fagprat/dokument"
# Formats a browser would run as a page: served in a sandbox (no scripts, no
# cookies, no requests), so an ingested HTML file cannot act as the chat.
_ACTIVE_TYPES = {"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml"}
_SANDBOX_POLICY = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
# Markdown and plain text read best as text in the browser, whatever the platform's MIME table says.
_TEXT_SUFFIXES = {".md", ".markdown", ".txt"}
_NOT_FOUND = "Dokumentet finnes ikke, eller du har ikke tilgang til det."
_NOT_SIGNED_IN = "Logg inn i Fagprat for å åpne dokumentet."
# Chainlit's route that serves its page for every other path.
CATCH_ALL = "/{full_path:path}"


def _is_web_link(link: str) -> bool:
    return link.startswith(("https://", "http://"))


def servable_file(source_path: str, roots: Iterable[Path], check_file: bool = True) -> Path | None:
    """The file behind ``source_path`` if it lies under one of ``roots``, else None.

    Symlinks are resolved first, so a link inside a root that points outside it
    is refused. ``check_file=False`` decides on the path alone (a surface on
    another machine, e.g. the Teams bot, cannot see the chat's disk)."""
    if not source_path:
        return None
    path = Path(source_path).resolve()
    if not any(path.is_relative_to(Path(root).resolve()) for root in roots):
        return None
    if check_file and not path.is_file():
        return None
    return path


def _route(doc_id: str) -> str:
    return f"{DOCUMENT_ROUTE}/{quote(doc_id, safe='/:')}"


def _page_fragment(passage: Passage) -> str:
    """Browsers' PDF viewers open ``#page=N`` at that page."""
    if passage.page_start and passage.source_path.lower().endswith(".pdf"):
        return f"#page={passage.page_start}"
    return ""


def document_path(settings: Settings, passage: Passage, check_file: bool = True) -> str | None:
    """The chat's link to a local source's original file (a path on the chat's
    own origin, at the cited page for a PDF), or None when it cannot be served."""
    if not passage.doc_id or servable_file(passage.source_path, settings.chat_file_roots, check_file) is None:
        return None
    return _route(passage.doc_id) + _page_fragment(passage)


def document_url(settings: Settings, passage: Passage) -> str | None:
    """An absolute link to a source that a reader outside the chat can open:
    its public URL, else the chat's document route under ``chat_public_url``,
    else None (show the title only). The route still checks the reader's
    access groups when the link is opened."""
    if _is_web_link(passage.url):
        return passage.url
    base = settings.chat_public_url.strip().rstrip("/")
    if not _is_web_link(base):
        return None
    path = document_path(settings, passage, check_file=False)
    return base + path if path else None


def find_document(
    settings: Settings, documents: Sequence[dict[str, Any]], doc_id: str, access_groups: Sequence[str]
) -> Path | None:
    """The file to serve for ``doc_id`` to a user with ``access_groups``, or None.

    ``documents`` are the index's document payloads (``Store.documents``); the
    decision is made on them alone: the document must exist, share an access
    group with the user, and lie under an allowed root."""
    groups = set(access_groups)
    for doc in documents:
        if doc.get("doc_id") != doc_id:
            continue
        if not groups & set(doc.get("access_groups") or []):
            return None
        return servable_file(str(doc.get("source_path") or ""), settings.chat_file_roots)
    return None


def _headers(path: Path) -> tuple[str, dict[str, str]]:
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix.lower() in _TEXT_SUFFIXES:
        media_type = "text/plain; charset=utf-8"
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(path.name)}",
    }
    if media_type.split(";")[0] in _ACTIVE_TYPES:
        headers["Content-Security-Policy"] = _SANDBOX_POLICY
    return media_type, headers


def mount_document_route(app: FastAPI, settings: Settings) -> None:
    """Serve ``/fagprat/dokument/<doc id>`` from the chat's FastAPI app.

    Chainlit registers a catch-all page route when it is imported; the
    document route goes in front of it, or it would never be reached."""
    from chainlit.auth import get_current_user
    from fastapi import Depends, HTTPException
    from fastapi.responses import FileResponse

    from rag.service import get_service
    from ui.auth import SignedInUser, anonymous_user

    async def open_document(doc_id: str, user: Any = Depends(get_current_user)) -> FileResponse:
        if user is None:
            if settings.auth_mode != "none":
                raise HTTPException(status_code=401, detail=_NOT_SIGNED_IN)
            reader = anonymous_user(settings)
        else:
            # Chainlit's SQLite rows hand the JSON column back as text.
            metadata = json.loads(user.metadata or "{}") if isinstance(user.metadata, str) else user.metadata or {}
            reader = SignedInUser.from_metadata(user.identifier, metadata)

        def lookup() -> Path | None:
            documents = get_service(settings).store.documents(reader.access_groups)
            return find_document(settings, documents, doc_id, reader.access_groups)

        path = await asyncio.to_thread(lookup)
        if path is None:
            logger.info("Document %r refused to %s", doc_id, reader.identifier)
            raise HTTPException(status_code=404, detail=_NOT_FOUND)
        media_type, headers = _headers(path)
        return FileResponse(path, media_type=media_type, headers=headers)

    app.add_api_route(f"{DOCUMENT_ROUTE}/{{doc_id:path}}", open_document, methods=["GET"], include_in_schema=False)
    in_front_of_catch_all(app)


def _holds_catch_all(route: Any) -> bool:
    if getattr(route, "path", None) == CATCH_ALL:
        return True
    # FastAPI keeps an included router (Chainlit's) as one entry holding its routes.
    inner = getattr(route, "original_router", None) or getattr(route, "router", None)
    return any(getattr(r, "path", None) == CATCH_ALL for r in getattr(inner, "routes", []))


def in_front_of_catch_all(app: FastAPI) -> None:
    """Move the route added last in front of Chainlit's catch-all page route,
    which would otherwise answer its requests with the chat page."""
    routes = app.router.routes
    index = next((i for i, r in enumerate(routes[:-1]) if _holds_catch_all(r)), None)
    if index is None:
        raise RuntimeError("Chainlit's page route was not found: the document route would be unreachable")
    routes.insert(index, routes.pop())
