"""Which web origins may talk to the chat from a browser, with the user's sign-in.

Chainlit ships with ``allow_origins = ["*"]`` and credentials allowed (so any
page the user opens could read their history through their session cookie),
and its Socket.IO server checks no Origin at all (so any page could open the
chat's websocket as the user). Both are narrowed here to the chat's own origin
plus ``settings.chat_allowed_origins``:

- HTTP: Starlette's CORS middleware gets only the configured origins; the
  chat's own pages are same-origin and need no CORS.
- Socket.IO: a connection is accepted only when its ``Origin`` is the chat's
  own (the scheme and ``Host`` the request arrived with, as python-engineio
  computes it by default) or a configured one. Behind a proxy that rewrites
  ``Host``, list the public origin in ``FAGPRAT_CHAT_ALLOWED_ORIGINS``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from starlette.middleware.cors import CORSMiddleware


def own_origins(environ: Mapping[str, Any]) -> list[str]:
    """The origins a request to the chat itself carries: scheme + Host (and a proxy's forwarded host)."""
    host = environ.get("HTTP_HOST")
    scheme = environ.get("wsgi.url_scheme", "http")
    if not host:
        return []
    origins = [f"{scheme}://{host}"]
    forwarded_host = environ.get("HTTP_X_FORWARDED_HOST")
    forwarded_proto = environ.get("HTTP_X_FORWARDED_PROTO")
    if forwarded_host or forwarded_proto:
        origins.append(
            f"{(forwarded_proto or scheme).split(',')[0].strip()}://{(forwarded_host or host).split(',')[0].strip()}"
        )
    return origins


def socket_origin_check(allowed: Iterable[str]):  # type: ignore[no-untyped-def]
    """A python-engineio ``cors_allowed_origins`` callable: own origin or a configured one."""
    extra = frozenset(allowed)

    def allowed_origin(origin: str | None, environ: Mapping[str, Any]) -> bool:
        if not origin:
            return True  # not a browser: CORS is about pages in a browser
        return origin in extra or origin in own_origins(environ)

    return allowed_origin


def restrict_origins(app: Any, socket_server: Any, allowed: Iterable[str]) -> None:
    """Apply the origin policy to Chainlit's FastAPI app and Socket.IO server (before they serve)."""
    allowed = list(allowed)
    found = False
    for middleware in app.user_middleware:
        if middleware.cls is CORSMiddleware:
            middleware.kwargs["allow_origins"] = allowed
            found = True
    if not found:
        raise RuntimeError("Chainlit's CORS middleware was not found: check the origin policy after a Chainlit upgrade")
    app.middleware_stack = None  # rebuilt with the new options on the first request
    socket_server.eio.cors_allowed_origins = socket_origin_check(allowed)
