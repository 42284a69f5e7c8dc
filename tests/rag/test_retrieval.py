"""Hybrid retrieval on the indexed sample corpus: filters, fusion, reranker, LangChain view."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from rag import bundled
from rag.retrieval import FagpratRetriever, Retriever, relevance_score, term_coverage
from rag.text import analyze
from tests.conftest import REPO, copy_sample_index

GROUPS = ["nasjonal", "fjordbyen"]


def test_bm25_finds_exact_abbreviations_and_doses(indexed_settings):
    result = Retriever(indexed_settings).search("NEWS2 qSOFA", access_groups=GROUPS)
    assert result.passages[0].doc_id == "file:nasjonal/hapi/sepsis-voksne.json"


def test_document_type_and_publisher_filters(indexed_settings):
    retriever = Retriever(indexed_settings)
    procedures = retriever.search("kateter", access_groups=GROUPS, doc_types=["prosedyre"])
    assert procedures.passages and all(p.doc_type == "prosedyre" for p in procedures.passages)
    hdir = retriever.search("antibiotika", access_groups=GROUPS, publishers=["Helsedirektoratet"])
    assert hdir.passages and all(p.publisher == "Helsedirektoratet" for p in hdir.passages)


def test_an_empty_group_list_matches_nothing(indexed_settings):
    assert Retriever(indexed_settings).search("sepsis", access_groups=[]).passages == []


def test_relevance_combines_term_coverage_and_dense_similarity():
    terms = set(analyze("adrenalin dose anafylaksi"))
    assert term_coverage(terms, "Dosen av adrenalin ved anafylaksi er 0,5 mg") == 1.0
    assert term_coverage(terms, "Håndhygiene før pasientkontakt") == 0.0

    def score(coverage: float, cosine: float, same: bool = True) -> float:
        return relevance_score(coverage, cosine, lexical_weight=0.6, dense_baseline=0.7, same_language=same)

    assert score(1.0, 0.85) > score(0.0, 0.85) > score(0.0, 0.7) == 0.0
    assert score(0.0, 0.7) == score(0.0, 0.2) == 0.0  # unrelated text's cosine counts as no match
    assert score(1.0, 1.0) == 1.0
    # Across languages term overlap means nothing: the dense signal alone decides.
    assert score(0.0, 0.85, same=False) == score(1.0, 0.85, same=False) > score(0.0, 0.85)


def test_an_english_question_finds_and_clears_the_floor_over_norwegian_passages(indexed_settings):
    result = Retriever(indexed_settings).search(
        "What is the adrenaline dose for anaphylaxis in adults?", access_groups=GROUPS
    )
    assert result.passages[0].doc_id == "file:nasjonal/anafylaksi.html"
    assert result.relevant


def test_an_off_topic_question_falls_below_the_floor(indexed_settings):
    for question in ("Hva koster en bussbillett i Oslo?", "Who won the football world cup in 1998?"):
        assert not Retriever(indexed_settings).search(question, access_groups=GROUPS).relevant


def test_cross_encoder_reranks_when_configured(indexed_settings):
    # Any local BERT-style folder loads as a CrossEncoder; the bundled one proves the plumbing offline.
    settings = indexed_settings.model_copy(update={"reranker_model": str(bundled.embedder_path()), "rerank_candidates": 8})
    result = Retriever(settings).search("Hvor ofte skal PVK inspiseres?", access_groups=GROUPS)
    scores = [p.rerank_score for p in result.passages]
    assert all(s is not None for s in scores) and scores == sorted(scores, reverse=True)
    assert result.candidates == 8 and len(result.passages) == settings.top_k


def test_langchain_retriever_view_keeps_the_callers_groups(indexed_settings):
    lc = FagpratRetriever(retriever=Retriever(indexed_settings), access_groups=["nasjonal", "nordlia"])
    docs = lc.invoke("Kor ofte skal PVK inspiserast?")
    assert docs and all(set(d.metadata["access_groups"]) & {"nasjonal", "nordlia"} for d in docs)
    assert "file:nordlia/perifert-venekateter.docx" in {d.metadata["doc_id"] for d in docs}


def test_cli_search_reads_json_lines_and_answers_with_json_lines(tmp_path, sample_index):
    env = {**os.environ, "FAGPRAT_DATA_DIR": str(copy_sample_index(sample_index, tmp_path / "data"))}
    lines = "\n".join(
        json.dumps(q)
        for q in (
            {"id": "a", "question": "adrenalin anafylaksi dose", "access_groups": GROUPS},
            {"id": "b", "question": "Kor ofte skal PVK inspiserast?", "access_groups": ["nasjonal", "nordlia"]},
            "not json at all {",
        )
    )
    result = subprocess.run(
        # Each line brings its own groups: allowed only when the caller says the input is trusted.
        [sys.executable, "-m", "ui.cli", "search", "--per-line-identity"],
        cwd=REPO, env=env, input=lines + "\nnot json\n", capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o.get("id") for o in out[:2]] == ["a", "b"]
    assert out[0]["passages"][0]["doc_id"] == "file:nasjonal/anafylaksi.html"
    assert any(p["doc_id"] == "file:nordlia/perifert-venekateter.docx" for p in out[1]["passages"])
    assert "error" in out[-1]


def test_filter_choices_only_show_what_the_caller_can_see(service):
    fjordbyen = service.facets(["nasjonal", "fjordbyen"])["publishers"]
    assert "Fjordbyen sykehus HF" in fjordbyen and not any("Nordlia" in p for p in fjordbyen)
    assert any("Nordlia" in p for p in service.facets()["publishers"])
