"""Source fences a planted document cannot break out of.

Each source in a prompt sits in `<kilde nr=…>…</kilde>`. A document (or a
question) that writes something a model would read as that tag could close its
fence and speak as instructions. Models read text the way people do, so
"looks like the tag" is judged on a folded view of the text:

- Unicode compatibility forms folded (NFKC: fullwidth `＜／ｋｉｌｄｅ＞`, small
  forms, mathematical letters);
- invisible characters ignored (zero-width spaces and joiners, soft hyphen,
  bidi controls, Unicode tag characters, variation selectors);
- look-alike brackets, slashes and letters folded (`‹/kilde›`, `〈/kilde〉`,
  Cyrillic `кіlde`);
- HTML entities read as what they encode (`&lt;/kilde&gt;`, `&#60;/kilde>`,
  `&amp;lt;/kilde>`);
- the names a model may take for the fence: ours (`kilde`, `kilder`), the
  nynorsk `kjelde` and the English `source`.

Every such tag (with its attributes, up to its `>`) is replaced by a marker that
does not read as a tag at all, `[kildemarkering fjernet]`. Escaping the `<` as
`&lt;` is not enough: `&lt;/kilde>` is still the closing tag to a model.

Everything else is left exactly as written (the folding is only for detection:
`10⁹/L` must not become `109/L` in a prompt), except that invisible characters
are dropped everywhere, since nothing legitimate in a guideline needs them and
they are a known way to smuggle instructions past a reader.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# The fence tag rag/prompting.py wraps each source in.
FENCE_TAG = "kilde"
# What a fence-like tag in a document or question becomes.
FENCE_REPLACEMENT = "[kildemarkering fjernet]"
# Tag names a model may read as the fence: ours and its plural, the nynorsk forms, English.
FENCE_LOOKALIKE_NAMES = ("kilde", "kilder", "kjelde", "kjelder", "source", "sources")
# How far after the tag name its attributes may run before the closing bracket.
_MAX_TAG_ATTRIBUTES_CHARS = 200

# Invisible: format characters (zero-width space/joiners, soft hyphen, bidi controls,
# BOM, Unicode tag characters U+E0000..) and variation selectors.
_INVISIBLE_CATEGORIES = {"Cf"}
_VARIATION_SELECTORS = (range(0xFE00, 0xFE10), range(0xE0100, 0xE01F0))

# Characters that look like the ASCII ones a tag is made of, after NFKC (which
# already folds fullwidth and small forms). Norwegian quotation marks « » are not
# here: «kilde» is ordinary Norwegian and no tag.
_LOOKALIKES = str.maketrans(
    {
        **dict.fromkeys("‹〈⟨❮❬❰ᐸ˂⧼《〔", "<"),
        **dict.fromkeys("›〉⟩❯❭❱ᐳ˃⧽》〕", ">"),
        **dict.fromkeys("⁄∕⧸╱", "/"),
        **dict.fromkeys("кКκΚ", "k"),
        **dict.fromkeys("іІιΙıӀӏǀ", "i"),
        **dict.fromkeys("ԁ", "d"),
        **dict.fromkeys("еЕєΕ", "e"),
        **dict.fromkeys("јЈ", "j"),
        **dict.fromkeys("ѕЅ", "s"),
        **dict.fromkeys("оОοΟσ", "o"),
        **dict.fromkeys("υսʋ", "u"),
        **dict.fromkeys("гᴦ", "r"),
        **dict.fromkeys("сСϲ", "c"),
    }
)


def _entity(codepoint: int, *names: str) -> str:
    """`&name;`, `&#60;` or `&#x3c;` for one character, also double-encoded (`&amp;lt;`)."""
    forms = [*names, f"#0*{codepoint}", f"#x0*{codepoint:x}"]
    return rf"&(?:amp;)*(?:{'|'.join(forms)});?"


def _char(ch: str, *entity_names: str) -> str:
    return rf"(?:{re.escape(ch)}|{_entity(ord(ch), *entity_names)})"


def _name(name: str) -> str:
    return "".join(_char(letter) for letter in name)


_LT = _char("<", "lt")
_GT = _char(">", "gt")
# A backslash too: `<\kilde>` reads as a closing tag to a reader who skims.
_SLASH = rf"(?:{_char('/', 'sol')}|{_char(chr(92), 'bsol')})"
_NAMES = "|".join(_name(n) for n in sorted(FENCE_LOOKALIKE_NAMES, key=len, reverse=True))
_FENCE_LIKE = re.compile(
    # Every tag starts with "<" or an entity's "&": the lookahead lets the scan skip the rest fast.
    rf"(?=[<&]){_LT}\s*(?:{_SLASH}\s*)?(?:{_NAMES})(?!\w)(?:[^<>\n]{{0,{_MAX_TAG_ATTRIBUTES_CHARS}}}?{_GT})?",
    re.IGNORECASE,
)


@functools.cache
def _invisible() -> dict[int, None]:
    """A `str.translate` table that deletes every invisible character (built once, ~0.1 s)."""
    codes = [c for c in range(0x110000) if unicodedata.category(chr(c)) in _INVISIBLE_CATEGORIES]
    return dict.fromkeys([*codes, *(c for block in _VARIATION_SELECTORS for c in block)])


@functools.cache
def _tag_starts() -> frozenset[str]:
    """Every character that folds to "<" or "&" (the first character of any fence-like tag)."""
    return frozenset(
        ch
        for ch in map(chr, range(0x10000))  # compatibility and look-alike brackets all lie in the BMP
        if {"<", "&"} & set(unicodedata.normalize("NFKC", ch).translate(_LOOKALIKES))
    )


def _is_invisible(ch: str) -> bool:
    return ord(ch) in _invisible()


def _folded_view(text: str) -> tuple[str, list[int]]:
    """The text as a model reads it (see the module docstring), and for each of
    its characters the index of the character in `text` it came from."""
    chars: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(text):
        if ch.isascii():
            chars.append(ch)
            origin.append(index)
            continue
        if _is_invisible(ch):
            continue
        for folded in unicodedata.normalize("NFKC", ch).translate(_LOOKALIKES):
            chars.append(folded)
            origin.append(index)
    return "".join(chars), origin


def neutralize_fences(text: str) -> str:
    """`text` with every fence-like tag replaced by FENCE_REPLACEMENT and invisible
    characters dropped; everything else as written."""
    if _tag_starts().isdisjoint(text):  # no tag can start here: the common case, and fast
        return _visible(text)
    view, origin = _folded_view(text)
    spans = [(origin[m.start()], origin[m.end() - 1] + 1) for m in _FENCE_LIKE.finditer(view)]
    parts: list[str] = []
    position = 0
    for start, end in spans:
        parts.append(_visible(text[position:start]))
        parts.append(FENCE_REPLACEMENT)
        position = end
    parts.append(_visible(text[position:]))
    return "".join(parts)


def _visible(text: str) -> str:
    return text if text.isascii() else text.translate(_invisible())
