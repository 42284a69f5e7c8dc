"""The sample corpus and the gold question set agree with each other.

Text is extracted here with the plainest tool per format (not with fagprat's own
loaders), so a key fact that only a clever loader could find fails the test.
"""

from __future__ import annotations

import collections
import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import docx
import frontmatter
import pytest
import yaml
from bs4 import BeautifulSoup
from pypdf import PdfReader

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
GOLD = REPO / "eval" / "data" / "gold.jsonl"
BUILD_SCRIPT = REPO / "scripts" / "build_sample_corpus.py"

DOCUMENT_SUFFIXES = {".pdf", ".html", ".docx", ".md", ".json"}
DISCLAIMERS = (
    "eksempeltekst for demonstrasjon – ikke til klinisk bruk.",
    "eksempeltekst for demonstrasjon – ikkje til klinisk bruk.",
    "sample text for demonstration – not for clinical use.",
)
GOLD_FIELDS = {
    "id": str, "question": str, "language": str, "answerable": bool, "reference_answer": str,
    "key_facts": list, "source_doc_ids": list, "access_groups": list, "topic": str,
}
MINIMUM = {"total": 150, "nn": 30, "en": 25, "unanswerable": 25}
# Same-topic questions that no document answers (the dangerous kind: a model invents the detail).
NEAR_MISS_TOPIC = "nesten-treff"
MINIMUM_NEAR_MISSES = 10


# --------------------------------------------------------------------------- helpers


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _html_text(html: str) -> str:
    if "<" not in html:  # plain strings (ids, dates, URLs) need no parsing
        return html
    return BeautifulSoup(html, "html.parser").get_text(" ")


def _json_strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _json_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _json_strings(v)]
    return []


def _docx_text(path: Path) -> str:
    document = docx.Document(str(path))
    parts = [p.text for p in document.paragraphs]
    parts += [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    return "\n".join(parts)


@cache
def document_text(path: Path) -> str:
    """Normalised plain text of one corpus file."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        raw = "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    elif suffix == ".docx":
        raw = _docx_text(path)
    elif suffix == ".html":
        raw = _html_text(path.read_text(encoding="utf-8"))
    elif suffix == ".json":
        strings = _json_strings(json.loads(path.read_text(encoding="utf-8")))
        raw = "\n".join(_html_text(s) for s in strings)
    else:
        raw = path.read_text(encoding="utf-8")
    return normalise(raw)


def corpus_documents() -> list[Path]:
    return sorted(
        p for p in SAMPLE.rglob("*")
        if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES and not p.name.endswith(".meta.yaml")
    )


def doc_path(doc_id: str) -> Path:
    assert doc_id.startswith("file:"), f"doc id must start with 'file:': {doc_id}"
    return SAMPLE / doc_id.removeprefix("file:")


def document_language(path: Path) -> str:
    """Nearest explicit language: sidecar or front matter, then _mappe.yaml upwards."""
    if path.suffix == ".md":
        meta = frontmatter.load(path).metadata
        if "language" in meta:
            return meta["language"]
    sidecar = path.with_name(path.name + ".meta.yaml")
    if sidecar.exists():
        meta = yaml.safe_load(sidecar.read_text(encoding="utf-8")) or {}
        if "language" in meta:
            return meta["language"]
    for folder in path.parents:
        folder_file = folder / "_mappe.yaml"
        if folder_file.exists():
            meta = yaml.safe_load(folder_file.read_text(encoding="utf-8")) or {}
            if "language" in meta:
                return meta["language"]
        if folder == SAMPLE:
            break
    return "nb"


@cache
def gold() -> list[dict]:
    lines = GOLD.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def answerable_questions() -> list[dict]:
    return [q for q in gold() if q["answerable"]]


# --------------------------------------------------------------------------- corpus


def test_corpus_size_and_formats():
    documents = corpus_documents()
    assert 20 <= len(documents) <= 35, [p.name for p in documents]
    formats = {p.suffix.lower() for p in documents}
    assert formats == DOCUMENT_SUFFIXES


def test_every_top_folder_has_folder_defaults():
    for name in ("nasjonal", "fjordbyen", "nordlia"):
        defaults = yaml.safe_load((SAMPLE / name / "_mappe.yaml").read_text(encoding="utf-8"))
        assert defaults["access_groups"] == [name]


def test_at_least_three_nynorsk_documents():
    nynorsk = [p for p in corpus_documents() if document_language(p) == "nn"]
    assert len(nynorsk) >= 3, nynorsk


@pytest.mark.parametrize("path", corpus_documents(), ids=lambda p: str(p.relative_to(SAMPLE)))
def test_document_carries_disclaimer(path: Path):
    text = document_text(path)
    assert any(d in text for d in DISCLAIMERS), f"{path.name} lacks the sample-text disclaimer"


def test_exactly_one_local_procedure_is_past_review():
    overdue = []
    for sidecar in SAMPLE.rglob("*.meta.yaml"):
        meta = yaml.safe_load(sidecar.read_text(encoding="utf-8"))
        if meta.get("review_due") and str(meta["review_due"]) < "2026-01-01":
            overdue.append(sidecar.name)
    for md in SAMPLE.rglob("*.md"):
        due = frontmatter.load(md).metadata.get("review_due")
        if due and str(due) < "2026-01-01":
            overdue.append(md.name)
    assert len(overdue) == 1, overdue


def test_generated_files_are_up_to_date():
    result = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--check"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr


def test_long_pdf_has_outline_and_several_pages():
    pages = {p.name: len(PdfReader(p).pages) for p in SAMPLE.rglob("*.pdf")}
    assert max(pages.values()) > 3, pages
    for path in SAMPLE.rglob("*.pdf"):
        assert PdfReader(path).outline, f"{path.name} has no bookmarks"


def test_docx_uses_real_heading_list_and_table_styles():
    for path in SAMPLE.rglob("*.docx"):
        document = docx.Document(str(path))
        styles = {p.style.name for p in document.paragraphs}
        assert "Heading 1" in styles, path.name
        assert styles & {"List Bullet", "List Number"}, path.name
        assert document.tables, path.name
        assert document.core_properties.title, path.name
        assert "revisjonsfrist" in document_text(path), path.name


@pytest.mark.parametrize("path", sorted(SAMPLE.rglob("*.json")), ids=lambda p: p.name)
def test_hapi_file_is_a_connected_guideline(path: Path):
    nodes = json.loads(path.read_text(encoding="utf-8"))
    by_id = {node["id"]: node for node in nodes}
    top = nodes[0]
    assert top["tekniskeData"]["infoType"] == "retningslinje" and top["tekst"] == ""
    reached, frontier = set(), [top]
    while frontier:
        node = frontier.pop()
        for link in node["links"]:
            if link["rel"] == "barn":
                child = by_id[link["href"].rsplit("/", 1)[-1]]
                reached.add(child["id"])
                frontier.append(child)
    assert reached == set(by_id) - {top["id"]}, "every node below the top is reached through rel=barn"
    recommendations = [n for n in nodes if n["tekniskeData"]["infoType"] == "anbefaling"]
    assert 6 <= len(recommendations) <= 12
    for node in recommendations:
        assert node["data"]["styrke"] in {"sterk", "svak"} and node["data"]["praktisk"], node["tittel"]
        assert node["url"].startswith("https://www.helsedirektoratet.no/retningslinjer/")


# --------------------------------------------------------------------------- gold set


def test_gold_records_have_documented_fields():
    ids = set()
    for record in gold():
        assert set(record) == set(GOLD_FIELDS), record.get("id")
        for name, kind in GOLD_FIELDS.items():
            assert isinstance(record[name], kind), (record["id"], name)
        assert record["language"] in {"nb", "nn", "en"}, record["id"]
        assert record["question"].strip() and record["reference_answer"].strip(), record["id"]
        assert record["access_groups"] and "nasjonal" in record["access_groups"], record["id"]
        assert record["id"] not in ids, f"duplicate id {record['id']}"
        ids.add(record["id"])
        if record["answerable"]:
            assert 1 <= len(record["key_facts"]) <= 3 and record["source_doc_ids"], record["id"]
        else:
            assert record["key_facts"] == [] and record["source_doc_ids"] == [], record["id"]


def test_gold_counts_meet_minimums():
    languages = collections.Counter(q["language"] for q in gold())
    assert len(gold()) >= MINIMUM["total"]
    assert languages["nn"] >= MINIMUM["nn"], languages
    assert languages["en"] >= MINIMUM["en"], languages
    assert sum(not q["answerable"] for q in gold()) >= MINIMUM["unanswerable"]
    near_misses = [q for q in gold() if q["topic"] == NEAR_MISS_TOPIC]
    assert len(near_misses) >= MINIMUM_NEAR_MISSES and not any(q["answerable"] for q in near_misses)


def test_every_document_is_the_source_of_at_least_two_questions():
    cited = collections.Counter(doc_id for q in answerable_questions() for doc_id in q["source_doc_ids"])
    for path in corpus_documents():
        doc_id = f"file:{path.relative_to(SAMPLE).as_posix()}"
        assert cited[doc_id] >= 2, (doc_id, cited[doc_id])


def test_gold_sources_exist_and_are_visible_to_the_asker():
    for record in answerable_questions():
        for doc_id in record["source_doc_ids"]:
            path = doc_path(doc_id)
            assert path.is_file(), (record["id"], doc_id)
            group = path.relative_to(SAMPLE).parts[0]
            assert group in record["access_groups"], (record["id"], doc_id, record["access_groups"])


@pytest.mark.parametrize("record", answerable_questions(), ids=lambda q: q["id"])
def test_key_facts_occur_in_source_text(record: dict):
    texts = [document_text(doc_path(doc_id)) for doc_id in record["source_doc_ids"]]
    for fact in record["key_facts"]:
        assert any(normalise(fact) in text for text in texts), f"{record['id']}: '{fact}' not in its sources"
