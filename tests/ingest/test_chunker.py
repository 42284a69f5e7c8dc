"""The chunker's guarantees, with the real default embedding model's tokenizer."""

from __future__ import annotations

import re

import pytest

from ingest.chunker import Chunker
from rag.embeddings import get_embedder
from rag.models import Block, Document, DocumentMetadata
from rag.settings import Settings

SENTENCE = "Ved mistanke om sepsis skal pasienten vurderes med NEWS2 og qSOFA innen {n} minutter."


@pytest.fixture(scope="module")
def embedder():
    return get_embedder(Settings(_env_file=None))


@pytest.fixture(scope="module")
def chunker(embedder):
    return Chunker(embedder.count_tokens, max_tokens=min(200, embedder.passage_budget), overlap_tokens=40)


def _doc(blocks: list[Block], title: str = "Sepsis hos voksne") -> Document:
    return Document(meta=DocumentMetadata(doc_id="file:test/sepsis.md", title=title), blocks=blocks)


def test_chunks_keep_heading_paths_and_never_span_sections(chunker):
    doc = _doc(
        [
            Block(text="Innledende tekst om sepsis.", heading_path=["Innledning"]),
            Block(text="Gi antibiotika innen 1 time.", heading_path=["Behandling", "Antibiotika"]),
            Block(text="Væskebehandling med 30 ml/kg.", heading_path=["Behandling", "Væske"]),
        ]
    )
    chunks = chunker.chunk(doc)
    assert [c.heading_path for c in chunks] == [["Innledning"], ["Behandling", "Antibiotika"], ["Behandling", "Væske"]]
    assert chunks[1].indexed_text(doc.meta.title).startswith("Sepsis hos voksne > Behandling > Antibiotika\n")


def test_long_section_splits_on_sentence_boundaries_within_budget(chunker, embedder):
    paragraph = " ".join(SENTENCE.format(n=i) for i in range(60))
    doc = _doc([Block(text=paragraph, heading_path=["Behandling"], page=4)])
    chunks = chunker.chunk(doc)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.token_count <= chunker.max_tokens
        assert embedder.count_tokens(chunk.indexed_text(doc.meta.title)) <= chunker.max_tokens
        assert chunk.text.endswith("minutter."), "a chunk ended mid-sentence"
        assert chunk.page_start == chunk.page_end == 4
    # Every sentence survives chunking.
    joined = " ".join(c.text for c in chunks)
    assert all(SENTENCE.format(n=i) in joined for i in range(60))


def test_consecutive_chunks_overlap(chunker):
    paragraph = " ".join(SENTENCE.format(n=i) for i in range(40))
    chunks = chunker.chunk(_doc([Block(text=paragraph, heading_path=["Behandling"])]))
    numbers = [set(re.findall(r"innen (\d+) minutter", c.text)) for c in chunks]
    assert all(a & b for a, b in zip(numbers, numbers[1:])), "no overlap between consecutive chunks"


def test_a_table_that_fits_stays_whole(chunker):
    table = "Legemiddel | Dose | Intervall\n" + "\n".join(f"Middel {i} | {i} mg | hver 8. time" for i in range(5))
    doc = _doc(
        [
            Block(text="Tekst før tabellen. " * 10, heading_path=["Doser"]),
            Block(kind="table", text=table, heading_path=["Doser"]),
        ]
    )
    chunks = chunker.chunk(doc)
    assert sum(table in c.text for c in chunks) == 1


def test_an_oversize_table_splits_between_rows(chunker):
    rows = [f"Middel {i} | {i} mg | hver 8. time" for i in range(80)]
    doc = _doc([Block(kind="table", text="Legemiddel | Dose | Intervall\n" + "\n".join(rows), heading_path=["Doser"])])
    chunks = chunker.chunk(doc)
    assert len(chunks) > 1
    for chunk in chunks:
        for line in chunk.text.splitlines():
            assert line in rows or line.startswith("Legemiddel"), f"row cut: {line!r}"


def test_a_sentence_longer_than_the_budget_is_split_by_words(chunker):
    monster = "Pasienten " + " ".join(f"ord{i}" for i in range(600)) + "."
    chunks = chunker.chunk(_doc([Block(text=monster, heading_path=[])]))
    assert len(chunks) > 1
    assert all(c.token_count <= chunker.max_tokens for c in chunks)


def test_chunk_ids_are_deterministic_and_content_based(chunker):
    blocks = [Block(text=SENTENCE.format(n=i), heading_path=[f"Del {i}"]) for i in range(3)]
    first = [c.chunk_id for c in chunker.chunk(_doc(blocks))]
    assert first == [c.chunk_id for c in chunker.chunk(_doc(blocks))]
    changed = list(blocks)
    changed[1] = Block(text="Endret tekst.", heading_path=["Del 1"])
    second = [c.chunk_id for c in chunker.chunk(_doc(changed))]
    assert second[0] == first[0] and second[2] == first[2] and second[1] != first[1]


def test_a_long_heading_path_still_leaves_room_for_text(chunker):
    path = [f"Svært lang overskrift nummer {i} om behandling og oppfølging" for i in range(12)]
    chunks = chunker.chunk(_doc([Block(text=SENTENCE.format(n=1), heading_path=path)]))
    assert chunks and chunks[0].token_count <= chunker.max_tokens
    assert chunks[0].heading_path == path[-len(chunks[0].heading_path) :]
