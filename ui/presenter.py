"""An `Answer` as the web chat shows it: the message, and one side panel per source.

The message is Markdown (what Chainlit renders, stores in the history and
copies); the panels travel as the props of one inline custom element
(``public/elements/FagpratSvar.jsx``) that opens source n when [n] is clicked.
Why not Chainlit's own side elements: Chainlit 2.12 opens the side panel by
itself whenever a message brings side elements (``MessagesContainer``'s effect
on ``elements``), titled with the *last* element's name but listing *every*
side element of the session, so after the second answer a panel headed "[1]"
showed the first answer's source. Here nothing opens by itself, and the panel
for [n] is built from source n of that very answer.

What the user sees follows what verification found (`Answer.kind`):

- a generated answer: its sentences, a [n] pill only on a verified sentence;
  an unverified sentence kept by ``keep_unverified_sentences`` is marked as such
  and never carries a pill;
- a quote answer: the quoted sentences as quotes, under a line that says they
  are verbatim from the sources and why (quote mode, model down, the model's
  answer not verified, or not answering the question);
- a refusal: a title and a hint in the answer's language; when the right
  documents were found (the refusal came after retrieval found them), it says
  so and lists the closest sources, instead of blaming the guidelines.

All text a model or a document wrote goes through `ui.sanitize.safe_markdown`
before it becomes Markdown; the panels show passages as text, never parsed.
Nothing here imports Chainlit.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence

from pydantic import BaseModel, Field

from rag.messages import REASON_NOT_FOUND, REASON_UNKNOWN_TERM, fallback_notice
from rag.models import Answer, AnswerSentence, Language, Passage
from rag.settings import Settings
from ui.documents import document_path
from ui.sanitize import safe_markdown

logger = logging.getLogger("fagprat.presenter")

# The custom elements in public/elements/ (file names without .jsx).
ANSWER_ELEMENT = "FagpratSvar"
SOURCE_ELEMENT = "FagpratKilde"
# [n] in the message is a link to this anchor; FagpratSvar.jsx opens source n on click.
SOURCE_ANCHOR = "#kilde-"
# Closest sources listed under a refusal when the documents were found but did not answer.
CLOSEST_SOURCES = 3
# The draft line is bokmål: the question's language form is not known until the answer is.
DRAFT_TITLE = "Utkast – kontrolleres mot kildene …"
DRAFT_NOTE = "Teksten under er ikke kontrollert ennå og kan bli endret eller fjernet."

_SENTENCE_END = re.compile(r"([.!?:;…]+)(\s*)$")


class Texts(BaseModel):
    """What the chat itself writes around an answer, in one language form."""

    refusal_title: str
    refusal_hint: str
    found_title: str = Field(description="Refusal title when the right documents were found")
    found_hint: str
    quote_title: str
    answer_heading: str = Field(description="The CLI's heading over an answer that passed the checks")
    unverified: str = Field(description="The mark on a sentence no source supports")
    sources: str
    closest_sources: str
    page: str
    page_label: str
    updated: str
    overdue: str
    generated_by: str
    # The side panel
    section: str
    publisher: str
    last_updated: str
    version: str
    review_due: str
    original: str
    open_original: str
    overdue_warning: str
    quoted: str
    highlight_note: str
    no_highlight_note: str
    show_pdf: str


TEXTS: dict[Language, Texts] = {
    "nb": Texts(
        refusal_title="Fant ikke svar i kildene",
        refusal_hint=(
            "Prøv å omformulere spørsmålet med mer presise fagord (diagnose, legemiddel, prosedyre eller "
            "målgruppe), eller slå opp direkte i Helsedirektoratets retningslinjer og sykehusets prosedyrer "
            "(f.eks. eHåndbok). Du får bare svar fra dokumentene du har tilgang til."
        ),
        found_title="Ingen svar jeg kan bekrefte",
        found_hint="Kildene under handler om temaet: åpne dem og les selv, eller still spørsmålet mer presist.",
        quote_title="Sitater fra kildene, ordrett",
        answer_heading="Svar (kontrollert mot kildene):",
        unverified="ikke bekreftet av kildene",
        sources="Kilder",
        closest_sources="Nærmeste kilder",
        page="s.",
        page_label="Side",
        updated="oppdatert",
        overdue="⚠️ revisjonsfrist passert",
        generated_by="Skrevet av språkmodellen {model} og kontrollert setning for setning mot kildene.",
        section="Avsnitt",
        publisher="Utgiver",
        last_updated="Sist oppdatert",
        version="Versjon",
        review_due="Revisjonsfrist",
        original="Original",
        open_original="Åpne originalen",
        overdue_warning="Revisjonsfristen gikk ut {date}. Sjekk med fagansvarlig at dokumentet fortsatt gjelder.",
        quoted="Sitert tekst",
        highlight_note="Uthevet: teksten som støtter svaret.",
        no_highlight_note="Avsnittet svaret bygger på.",
        show_pdf="Vis PDF-en her",
    ),
    "nn": Texts(
        refusal_title="Fann ikkje svar i kjeldene",
        refusal_hint=(
            "Prøv å formulere spørsmålet på ny med meir presise fagord (diagnose, legemiddel, prosedyre eller "
            "målgruppe), eller slå opp direkte i retningslinjene frå Helsedirektoratet og prosedyrane til "
            "sjukehuset (t.d. eHåndbok). Du får berre svar frå dokumenta du har tilgang til."
        ),
        found_title="Ikkje noko svar eg kan stadfeste",
        found_hint="Kjeldene under handlar om temaet: opne dei og les sjølv, eller still spørsmålet meir presist.",
        quote_title="Sitat frå kjeldene, ordrett",
        answer_heading="Svar (kontrollert mot kjeldene):",
        unverified="ikkje stadfesta av kjeldene",
        sources="Kjelder",
        closest_sources="Næraste kjelder",
        page="s.",
        page_label="Side",
        updated="oppdatert",
        overdue="⚠️ revisjonsfristen er passert",
        generated_by="Skrive av språkmodellen {model} og kontrollert setning for setning mot kjeldene.",
        section="Avsnitt",
        publisher="Utgjevar",
        last_updated="Sist oppdatert",
        version="Versjon",
        review_due="Revisjonsfrist",
        original="Original",
        open_original="Opne originalen",
        overdue_warning="Revisjonsfristen gjekk ut {date}. Sjekk med fagansvarleg at dokumentet framleis gjeld.",
        quoted="Sitert tekst",
        highlight_note="Utheva: teksten som støttar svaret.",
        no_highlight_note="Avsnittet svaret byggjer på.",
        show_pdf="Vis PDF-en her",
    ),
    "en": Texts(
        refusal_title="No answer found in the sources",
        refusal_hint=(
            "Try rephrasing the question with more precise clinical terms (diagnosis, drug, procedure or "
            "patient group), or look it up directly in the Norwegian Directorate of Health's guidelines and "
            "the hospital's procedures. You only get answers from the documents you have access to."
        ),
        found_title="No answer I can verify",
        found_hint="The sources below are on the topic: open them and read for yourself, or ask more precisely.",
        quote_title="Quotes from the sources, verbatim",
        answer_heading="Answer (checked against the sources):",
        unverified="not confirmed by the sources",
        sources="Sources",
        closest_sources="Closest sources",
        page="p.",
        page_label="Page",
        updated="updated",
        overdue="⚠️ review date passed",
        generated_by="Written by the language model {model} and checked sentence by sentence against the sources.",
        section="Section",
        publisher="Publisher",
        last_updated="Last updated",
        version="Version",
        review_due="Review due",
        original="Original",
        open_original="Open the original",
        overdue_warning="The review date passed on {date}. Check with the person responsible that it still applies.",
        quoted="Quoted text",
        highlight_note="Highlighted: the text that supports the answer.",
        no_highlight_note="The passage the answer is based on.",
        show_pdf="Show the PDF here",
    ),
}


class Segment(BaseModel):
    """A run of passage text, highlighted when it supports the answer."""

    text: str
    highlight: bool = False


class SourceView(BaseModel):
    """What the side panel shows for source [n] (props of FagpratKilde.jsx)."""

    number: int
    panel_title: str = Field(description="The panel's heading: '[n] title'")
    title: str
    facts: list[tuple[str, str]] = Field(default_factory=list, description="(label, value) lines")
    warning: str = ""
    quoted_label: str
    note: str
    segments: list[Segment]
    original_label: str = ""
    original_href: str = ""
    original_text: str = ""
    pdf_url: str = ""
    pdf_page: int | None = None
    show_pdf_label: str = ""
    credit: str = ""


class AnswerView(BaseModel):
    """The message and its panels."""

    markdown: str
    sources: list[SourceView] = Field(default_factory=list)

    def element_props(self) -> dict:
        """Props of the inline FagpratSvar element: the panels it opens."""
        return {"state": "final", "sources": [s.model_dump() for s in self.sources]}


DRAFT_PROPS = {"state": "draft", "sources": []}
FINAL_EMPTY_PROPS = {"state": "final", "sources": []}


def format_date(value: dt.date | None) -> str:
    return value.strftime("%d.%m.%Y") if value else ""


def _safe(text: str) -> str:
    """Model or document text as Markdown that renders no image, HTML or foreign link."""
    return safe_markdown(text.strip())


def _pill(number: int) -> str:
    return f"[[{number}]]({SOURCE_ANCHOR}{number})"


def _with_pills(sentence: str, numbers: Sequence[int]) -> str:
    """The sentence with its [n] links before its final punctuation."""
    if not numbers:
        return sentence
    pills = " ".join(_pill(n) for n in numbers)
    match = _SENTENCE_END.search(sentence)
    if match:
        return f"{sentence[: match.start()]} {pills}{match.group(1)}"
    return f"{sentence} {pills}"


def _sentence_markdown(sentence: AnswerSentence, texts: Texts) -> str:
    text = _safe(sentence.text)
    if not text:
        return ""
    if not sentence.verified:
        # Shown only when keep_unverified_sentences is on: never a pill, always marked.
        return f"*{text}* **(⚠️ {texts.unverified})**"
    return _with_pills(text, sentence.citations)


def _paragraphs(sentences: Sequence[AnswerSentence]) -> list[list[AnswerSentence]]:
    groups: list[list[AnswerSentence]] = []
    current: int | None = None
    for sentence in sentences:
        if not groups or sentence.paragraph != current:
            groups.append([])
            current = sentence.paragraph
        groups[-1].append(sentence)
    return groups


def _generated_markdown(answer: Answer, texts: Texts) -> str:
    if not answer.sentences:
        # An answer from before claim-by-claim verification: its text, markers made clickable.
        text = _safe(answer.text)
        known = {c.number for c in answer.citations}
        return re.sub(r"\[(\d+)\]", lambda m: _pill(int(m[1])) if int(m[1]) in known else m[0], text)
    blocks = []
    for group in _paragraphs(answer.sentences):
        line = " ".join(md for s in group if (md := _sentence_markdown(s, texts)))
        if line:
            blocks.append(line)
    return "\n\n".join(blocks)


def _quote_markdown(answer: Answer) -> str:
    blocks = []
    for group in _paragraphs(answer.sentences):
        quoted = " ".join(_safe(s.text) for s in group if s.text.strip())
        numbers = sorted({n for s in group for n in s.citations})
        if quoted:
            pills = " ".join(_pill(n) for n in numbers)
            blocks.append(f"> «{' '.join(quoted.split())}» {pills}".rstrip())
    return "\n\n".join(blocks)


def _source_line(number: int, passage: Passage, texts: Texts, today: dt.date | None) -> str:
    parts = [f"{_pill(number)} **{_safe(passage.title)}**"]
    if passage.heading and passage.heading != passage.title:
        parts.append(_safe(passage.heading))
    if passage.pages:
        parts.append(f"{texts.page} {passage.pages}")
    if passage.updated:
        parts.append(f"{texts.updated} {format_date(passage.updated)}")
    if passage.review_overdue(today):
        parts.append(texts.overdue)
    return " · ".join(parts)


def _sources_markdown(heading: str, numbered: Sequence[tuple[int, Passage]], texts: Texts, today: dt.date | None) -> str:
    lines = [f"- {_source_line(n, p, texts, today)}" for n, p in numbered]
    return f"**{heading}**\n\n" + "\n".join(lines)


def highlight_segments(text: str, highlights: Sequence[str]) -> list[Segment]:
    """``text`` cut into runs, the verbatim ``highlights`` marked.

    A highlight is found exactly, else with any run of whitespace matching any
    other (the passage may wrap where the sentence did not); one that is not in
    the text is left out rather than guessed."""
    spans: list[tuple[int, int]] = []
    for highlight in highlights:
        words = highlight.split()
        if not words:
            continue
        start = text.find(highlight)
        if start != -1:
            spans.append((start, start + len(highlight)))
            continue
        found = re.search(r"\s+".join(re.escape(w) for w in words), text)
        if found:
            spans.append(found.span())
        else:
            logger.debug("Highlight not found verbatim in its passage: %r", highlight[:80])
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    segments: list[Segment] = []
    position = 0
    for start, end in merged:
        if start > position:
            segments.append(Segment(text=text[position:start]))
        segments.append(Segment(text=text[start:end], highlight=True))
        position = end
    if position < len(text):
        segments.append(Segment(text=text[position:]))
    return segments


def source_view(
    number: int,
    passage: Passage,
    highlights: Sequence[str],
    settings: Settings,
    language: Language = "nb",
    today: dt.date | None = None,
) -> SourceView:
    """The side panel for one source. The original is a link the user can open:
    the public page, or the chat's document route for a local file; never a path."""
    texts = TEXTS[language]
    facts = [
        (texts.section, passage.heading),
        (texts.page_label, passage.pages),
        (texts.publisher, " · ".join(x for x in (passage.publisher, passage.doc_type) if x)),
        (texts.last_updated, format_date(passage.updated)),
        (texts.version, passage.version),
        (texts.review_due, format_date(passage.review_due)),
    ]
    view = SourceView(
        number=number,
        panel_title=f"[{number}] {passage.title}",
        title=passage.title,
        facts=[(label, value) for label, value in facts if value],
        warning=texts.overdue_warning.format(date=format_date(passage.review_due)) if passage.review_overdue(today) else "",
        quoted_label=texts.quoted,
        note=texts.highlight_note if highlights else texts.no_highlight_note,
        segments=highlight_segments(passage.text, highlights),
        credit=passage.credit,
    )
    local = document_path(settings, passage)
    if passage.url.startswith(("https://", "http://")):
        view.original_label, view.original_href, view.original_text = texts.original, passage.url, passage.url
    elif local:
        view.original_label, view.original_href, view.original_text = texts.original, local, texts.open_original
        if passage.source_path.lower().endswith(".pdf"):
            view.pdf_url, view.pdf_page, view.show_pdf_label = local.split("#")[0], passage.page_start, texts.show_pdf
    return view


def present(answer: Answer, settings: Settings, today: dt.date | None = None) -> AnswerView:
    """The final message for ``answer`` and the panels its [n] open."""
    texts = TEXTS[answer.language]
    blocks: list[str] = []
    notices = list(answer.notices)
    why = ""
    if answer.fallback_reason and not answer.refused:
        why = fallback_notice(answer.language, answer.fallback_reason)
        notices = [n for n in notices if n != why]
    blocks += [f"> ℹ️ {_safe(notice)}" for notice in notices]

    numbered: list[tuple[int, Passage, list[str]]] = []
    heading = texts.sources
    if answer.refused:
        found = answer.refusal_reason not in {REASON_NOT_FOUND, REASON_UNKNOWN_TERM}
        title, hint = (texts.found_title, texts.found_hint) if found else (texts.refusal_title, texts.refusal_hint)
        blocks.append(f"**{title}.** {_safe(answer.text or answer.refusal_reason)}")
        blocks.append(hint)
        if found:
            numbered = [(i, p, []) for i, p in enumerate(answer.retrieved[:CLOSEST_SOURCES], start=1)]
            heading = texts.closest_sources
    else:
        if answer.kind == "quote":
            blocks.append(f"**{texts.quote_title}.** {why}".strip())
            blocks.append(_quote_markdown(answer))
        else:
            blocks.append(_generated_markdown(answer, texts))
            if answer.model and answer.sentences:
                blocks.append(f"*{texts.generated_by.format(model=_safe(answer.model))}*")
        numbered = [(c.number, c.passage, c.highlights) for c in answer.citations]
    if numbered:
        blocks.append(_sources_markdown(heading, [(n, p) for n, p, _ in numbered], texts, today))
    views = [source_view(n, p, h, settings, answer.language, today) for n, p, h in numbered]
    return AnswerView(markdown="\n\n".join(b for b in blocks if b), sources=views)


def draft_markdown(text_so_far: str) -> str:
    """A streamed draft: marked as a draft above the (sanitised) text so far."""
    return f"**{DRAFT_TITLE}** *{DRAFT_NOTE}*\n\n{text_so_far}"


def retrieval_summary(answer: Answer) -> str:
    """The retrieval step: the standalone question searched for, the passages
    found with their scores, and the timings."""
    t = answer.timings
    lines = []
    for i, p in enumerate(answer.retrieved, start=1):
        where = " > ".join(_safe(x) for x in (p.title, p.heading) if x)
        page = f", s. {p.pages}" if p.pages else ""
        lines.append(f"{i}. {where}{page} — relevans {p.relevance:.2f}, score {p.score:.3f}")
    if not lines:
        lines.append("Ingen kilder over relevansgrensen.")
    timing = [f"søk {t.retrieval_ms:.0f} ms"]
    for label, value in (
        ("omrangering", t.rerank_ms),
        ("vurdering", t.gate_ms),
        ("kontroll", t.verification_ms),
        ("sitater", t.quote_ms),
    ):
        if value:
            timing.append(f"{label} {value:.0f} ms")
    if t.first_token_ms is not None:
        timing.append(f"første token {t.first_token_ms:.0f} ms")
    if t.tokens_per_s:
        timing.append(f"{t.tokens_per_s:.1f} token/s")
    timing.append(f"totalt {t.total_ms:.0f} ms")
    kind = {"generated": "generert og kontrollert", "quote": "sitatsvar", "refusal": "ikke besvart"}[answer.kind]
    details = [f"Svar: {kind}" + (f" ({answer.fallback_reason or answer.refusal_reason})" if answer.fallback_reason or answer.refusal_reason else "")]
    if answer.model:
        details.append(f"Modell: {_safe(answer.model)}")
    if answer.removed_sentences:
        details.append(f"Fjernet: {len(answer.removed_sentences)} setning(er) uten støtte i kildene")
    searched = f"**Søkt etter:** {_safe(answer.standalone_question)}\n\n" if answer.standalone_question else ""
    return searched + "\n".join(lines) + "\n\nTid: " + ", ".join(timing) + "\n\n" + "\n\n".join(details)
