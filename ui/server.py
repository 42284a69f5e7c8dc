"""Starting the web chat from Python (``fagprat ui``).

``chainlit run ui/app.py`` from the repository root works on its own; this
module does the same for the CLI, from any working directory: it points
Chainlit at the project's ``.chainlit/`` folder (Norwegian translations, config)
and ``chainlit.md`` through ``CHAINLIT_APP_ROOT``, hands the CLI's `Settings`
to the app, and runs Chainlit's own server start-up.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.settings import Settings, get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APP_PATH = Path(__file__).resolve().parent / "app.py"
APP_ROOT_ENV = "CHAINLIT_APP_ROOT"
# Responses the page edits never touch: files, and the chat's document route.
_UNTOUCHED = ("/public/", "/assets/", "/fagprat/")

_settings: Settings | None = None


def active_settings() -> Settings:
    """The settings ``run_chat`` was given, else the process-wide ones."""
    return _settings or get_settings()


def run_chat(settings: Settings, host: str = "127.0.0.1", port: int = 8000, headless: bool = True) -> None:
    """Run the chat until interrupted (blocks)."""
    global _settings
    _settings = settings
    # Chainlit reads its app root once, when it is first imported; a hospital
    # may point it at its own branded folder by setting the variable itself.
    os.environ.setdefault(APP_ROOT_ENV, str(PROJECT_ROOT))
    if "chainlit.config" in sys.modules:
        logger.warning("Chainlit was imported before run_chat: its config folder may not be %s", PROJECT_ROOT)
    os.environ["CHAINLIT_HOST"] = host
    os.environ["CHAINLIT_PORT"] = str(port)

    from chainlit.cli import run_chainlit
    from chainlit.config import config

    config.run.headless = headless
    run_chainlit(str(APP_PATH))


# The page Chainlit serves, made the chat's own: Norwegian for the browser and
# screen readers, and no requests to other sites (fonts, KaTeX, Chainlit's
# banner and repository in the link preview): a hospital network may not reach
# them, and the browser should not tell them who uses the chat.
_PAGE_EDITS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r'<html lang="[^"]*">'), '<html lang="nb">'),
    (re.compile(r'\s*<link rel="preconnect" href="https://fonts\.(?:googleapis|gstatic)\.com"[^>]*/>'), ""),
    (re.compile(r'\s*<link\s+href="https://fonts\.googleapis\.com/[^"]*"\s+rel="stylesheet"\s*/>'), ""),
    (re.compile(r'\s*<link\s+rel="stylesheet"\s+href="https://cdn\.jsdelivr\.net/[^"]*"\s*/>'), ""),
    (re.compile(r'\s*<meta property="og:(?:image|url)" content="https://[^"]*(?:chainlit|Chainlit)[^"]*">'), ""),
)


def chat_page(html: str) -> str:
    """Chainlit's index page with the edits above."""
    for pattern, replacement in _PAGE_EDITS:
        html = pattern.sub(replacement, html)
    return html


class ChatPageMiddleware:
    """Passes Chainlit's page (any HTML response outside the document route)
    through `chat_page`. Chainlit serves it from a catch-all route inside its
    own router, so a route of ours cannot stand in front of it for every path."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"].startswith(_UNTOUCHED):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        if b"text/html" not in headers.get(b"accept", b""):
            await self.app(scope, receive, send)  # not a page load (an API call, a script)
            return
        # The page is small: ask for it uncompressed, so it can be edited.
        scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]}
        start: dict | None = None
        chunks: list[bytes] = []

        async def edit(message: dict) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                response_headers = dict(message.get("headers", []))
                html = response_headers.get(b"content-type", b"").startswith(b"text/html")
                if html and b"content-encoding" not in response_headers:
                    start = message  # held back until the body is edited
                    return
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = chat_page(b"".join(chunks).decode("utf-8")).encode("utf-8")
                headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, edit)


def mount_chat_page(app: FastAPI) -> None:
    """Serve Chainlit's page as `chat_page` edits it."""
    app.add_middleware(ChatPageMiddleware)
