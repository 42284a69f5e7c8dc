"""An `Answer` as the web chat shows it: message text and side-panel sources.

Chainlit turns every occurrence of a side element's *name* in a message into a
link that opens the element in the side panel. Each cited source therefore
becomes a text element named exactly like its marker (``[1]``), so the inline
citations and the numbered source list below the answer are clickable. A PDF
source that lies under an allowed folder also gets a PDF element (``PDF-kilde 1``)
that opens the file at the cited page.

Nothing here imports Chainlit: ``ui/app.py`` turns `SourcePanel`s into
``cl.Text`` / ``cl.Pdf`` elements.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

from rag.models import Answer, Citation, Passage

REFUSAL_TITLE = "Fant ikke svar i kildene"
REFUSAL_HINT = (
    "Prøv å omformulere spørsmålet med mer presise fagord (diagnose, legemiddel, prosedyre "
    "eller målgruppe), eller slå opp direkte i Helsedirektoratets retningslinjer og "
    "sykehusets prosedyrer (f.eks. eHåndbok). Du får bare svar fra dokumentene du har tilgang til."
)
SOURCES_HEADING = "Kilder"


class SourcePanel(BaseModel):
    """What the side panel shows for one cited source."""

    number: int
    name: str
    markdown: str
    pdf_name: str = ""
    pdf_path: str = ""
    pdf_page: int | None = None


def citation_name(number: int) -> str:
    """The element name, identical to the marker in the answer text."""
    return f"[{number}]"


def pdf_name(number: int) -> str:
    return f"PDF-kilde {number}"


def format_date(value: dt.date | None) -> str:
    return value.strftime("%d.%m.%Y") if value else ""


def servable_pdf(passage: Passage, roots: Iterable[Path]) -> Path | None:
    """The passage's local PDF if it lies under one of ``roots``, else None.

    The chat only ever serves files from the folders that were ingested, so a
    crafted source path cannot expose other files on the server.
    """
    if not passage.source_path or not passage.source_path.lower().endswith(".pdf"):
        return None
    path = Path(passage.source_path).resolve()
    if not path.is_file():
        return None
    for root in roots:
        if path.is_relative_to(Path(root).resolve()):
            return path
    return None


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.strip().splitlines())


def _link(passage: Passage) -> str:
    if passage.url:
        return f"[{passage.url}]({passage.url})"
    if passage.source_path:
        return f"`{passage.source_path}`"
    return ""


def source_markdown(citation: Citation, today: dt.date | None = None) -> str:
    """The side panel for one citation: where the passage comes from, and the passage."""
    p = citation.passage
    facts = [
        ("Avsnitt", p.heading),
        ("Side", p.pages),
        ("Utgiver", " · ".join(x for x in (p.publisher, p.doc_type) if x)),
        ("Sist oppdatert", format_date(p.updated)),
        ("Versjon", p.version),
        ("Revisjonsfrist", format_date(p.review_due)),
        ("Original", _link(p)),
    ]
    lines = [f"### {p.title}", ""]
    lines += [f"- **{label}:** {value}" for label, value in facts if value]
    if p.review_overdue(today):
        lines.append(
            f"\n> ⚠️ **Revisjonsfristen gikk ut {format_date(p.review_due)}.** "
            "Sjekk med fagansvarlig at dokumentet fortsatt gjelder."
        )
    lines += ["", "**Sitert tekst:**", "", _quote(p.text)]
    if p.credit:
        lines += ["", f"*{p.credit}*"]
    return "\n".join(lines)


def source_panels(answer: Answer, pdf_roots: Iterable[Path] = (), today: dt.date | None = None) -> list[SourcePanel]:
    roots = list(pdf_roots)
    panels = []
    for citation in answer.citations:
        pdf = servable_pdf(citation.passage, roots)
        panels.append(
            SourcePanel(
                number=citation.number,
                name=citation_name(citation.number),
                markdown=source_markdown(citation, today),
                pdf_name=pdf_name(citation.number) if pdf else "",
                pdf_path=str(pdf) if pdf else "",
                pdf_page=citation.passage.page_start if pdf else None,
            )
        )
    return panels


def _source_line(citation: Citation, panel: SourcePanel | None, today: dt.date | None) -> str:
    p = citation.passage
    parts = [f"{citation_name(citation.number)} **{p.title}**"]
    if p.heading and p.heading != p.title:
        parts.append(p.heading)
    if p.pages:
        parts.append(f"s. {p.pages}")
    if p.updated:
        parts.append(f"oppdatert {format_date(p.updated)}")
    if p.review_overdue(today):
        parts.append("⚠️ revisjonsfrist passert")
    if panel and panel.pdf_name:
        parts.append(panel.pdf_name)
    return " · ".join(parts)


def message_text(answer: Answer, panels: list[SourcePanel] | None = None, today: dt.date | None = None) -> str:
    """The final message: notices, the answer (or refusal) and the numbered sources."""
    by_number = {panel.number: panel for panel in panels or []}
    blocks = [f"> ℹ️ {notice}" for notice in answer.notices]
    if answer.refused:
        reason = answer.text.strip() or answer.refusal_reason
        blocks.append(f"**{REFUSAL_TITLE}.** {reason}".strip())
        blocks.append(REFUSAL_HINT)
    else:
        blocks.append(answer.text.strip())
    if answer.citations and not answer.refused:
        lines = [_source_line(c, by_number.get(c.number), today) for c in answer.citations]
        blocks.append(f"**{SOURCES_HEADING}**\n\n" + "\n".join(f"- {line}" for line in lines))
    return "\n\n".join(b for b in blocks if b)


def retrieval_summary(answer: Answer) -> str:
    """The retrieval step: the standalone question searched for, the passages
    found with their scores, and the timings."""
    t = answer.timings
    lines = []
    for i, p in enumerate(answer.retrieved, start=1):
        where = " > ".join(x for x in (p.title, p.heading) if x)
        page = f", s. {p.pages}" if p.pages else ""
        lines.append(f"{i}. {where}{page} — relevans {p.relevance:.2f}, score {p.score:.3f}")
    if not lines:
        lines.append("Ingen kilder over relevansgrensen.")
    timing = [f"søk {t.retrieval_ms:.0f} ms"]
    if t.rerank_ms:
        timing.append(f"omrangering {t.rerank_ms:.0f} ms")
    if t.first_token_ms is not None:
        timing.append(f"første token {t.first_token_ms:.0f} ms")
    if t.tokens_per_s:
        timing.append(f"{t.tokens_per_s:.1f} token/s")
    timing.append(f"totalt {t.total_ms:.0f} ms")
    model = f"\n\nModell: {answer.model}" if answer.model else ""
    searched = f"**Søkt etter:** {answer.standalone_question}\n\n" if answer.standalone_question else ""
    return searched + "\n".join(lines) + "\n\nTid: " + ", ".join(timing) + model
