"""The labelled sentence/passage pairs that calibrate the answer-support check.

Each passage must be text the sample corpus is indexed with: a contiguous piece of
one document as fagprat's own loaders extract it (chunks never span two
sections, so a chunk is a substring of the section's blocks joined). The file's
balance is checked so that a calibration on it means something: enough
supported English translations and nynorsk sentences, and enough of each kind of
unsupported sentence that a lexical or semantic check could wrongly accept.
"""

from __future__ import annotations

import collections
import json
import re
from functools import cache
from pathlib import Path

import pytest

from ingest.loaders import load_file

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
PAIRS = REPO / "eval" / "data" / "support_pairs.jsonl"

FIELDS = {"id", "language", "sentence", "passage", "label", "kind", "source_doc"}
SUPPORTED_KINDS = {"supported_verbatim", "supported_paraphrase", "supported_translation"}
UNSUPPORTED_KINDS = {
    "unrelated", "same_topic_unsupported", "changed_dose", "changed_number",
    "changed_frequency", "negated", "changed_drug_or_route",
}
# Floors from the issue that asked for the file (issue 10) and from its brief.
MINIMUM_PAIRS = 180
SUPPORTED_SHARE = (0.40, 0.50)
MINIMUM = {
    "supported_translation": 25,
    "nn_supported": 15,
    "changed_dose_or_number": 20,
    "changed_frequency": 15,
    "negated": 15,
    "each_unsupported_kind": 10,
}


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


@cache
def pairs() -> list[dict]:
    lines = PAIRS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@cache
def indexed_text(doc_id: str) -> tuple[str, ...]:
    """Each section's text of one sample document, as the loaders extract it."""
    path = SAMPLE / doc_id.removeprefix("file:")
    document = load_file(path, SAMPLE)
    sections: dict[tuple[str, ...], list[str]] = collections.defaultdict(list)
    for block in document.blocks:
        sections[tuple(block.heading_path)].append(block.text)
    return tuple(normalise("\n\n".join(texts)) for texts in sections.values())


def test_records_have_the_documented_fields_and_consistent_labels():
    ids = set()
    for record in pairs():
        assert set(record) == FIELDS, record.get("id")
        assert all(isinstance(record[name], str) and record[name].strip() for name in FIELDS), record["id"]
        assert record["id"] not in ids, f"duplicate id {record['id']}"
        ids.add(record["id"])
        assert record["language"] in {"nb", "nn", "en"}, record["id"]
        assert record["kind"] in SUPPORTED_KINDS | UNSUPPORTED_KINDS, record["id"]
        expected = "supported" if record["kind"] in SUPPORTED_KINDS else "unsupported"
        assert record["label"] == expected, record["id"]
        assert record["source_doc"].startswith("file:") and (SAMPLE / record["source_doc"][5:]).is_file()


def test_verbatim_sentences_are_copied_and_the_others_are_not():
    for record in pairs():
        copied = normalise(record["sentence"]) in normalise(record["passage"])
        assert copied == (record["kind"] == "supported_verbatim"), record["id"]


def test_translations_are_english_sentences_over_norwegian_passages():
    for record in pairs():
        if record["kind"] == "supported_translation":
            assert record["language"] == "en", record["id"]


def test_the_set_is_balanced():
    records = pairs()
    kinds = collections.Counter(r["kind"] for r in records)
    supported = [r for r in records if r["label"] == "supported"]
    assert len(records) >= MINIMUM_PAIRS
    low, high = SUPPORTED_SHARE
    assert low <= len(supported) / len(records) <= high, len(supported) / len(records)
    assert kinds["supported_translation"] >= MINIMUM["supported_translation"], kinds
    assert sum(r["language"] == "nn" for r in supported) >= MINIMUM["nn_supported"]
    assert kinds["changed_dose"] + kinds["changed_number"] >= MINIMUM["changed_dose_or_number"], kinds
    assert kinds["changed_frequency"] >= MINIMUM["changed_frequency"], kinds
    assert kinds["negated"] >= MINIMUM["negated"], kinds
    for kind in UNSUPPORTED_KINDS:
        assert kinds[kind] >= MINIMUM["each_unsupported_kind"], (kind, kinds[kind])
    for language in ("nb", "nn", "en"):
        labels = {r["label"] for r in records if r["language"] == language}
        assert labels == {"supported", "unsupported"}, language


@pytest.mark.parametrize("doc_id", sorted({r["source_doc"] for r in pairs()}))
def test_passages_are_indexed_sample_text(doc_id: str):
    sections = indexed_text(doc_id)
    for record in pairs():
        if record["source_doc"] == doc_id:
            passage = normalise(record["passage"])
            assert any(passage in section for section in sections), f"{record['id']}: passage not in {doc_id}"
