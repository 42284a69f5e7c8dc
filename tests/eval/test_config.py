"""Eval config: set-ups that differ in how they answer (mode, gate), which
pairs are compared, and what NorMedQA scores."""

import pytest
import yaml

from eval.config import EvalConfig
from eval.runner import describe_setups, normedqa_setups, setup_settings
from rag.errors import ConfigurationError

CONFIG = """
name: t
corpus: data/sample
settings: {top_k: 3, answerability_gate: "off"}
setups:
  - {name: modell, model_path: "", answer_mode: generate, answerability_gate: on}
  - {name: uten-gate, model_path: "", answer_mode: generate, keep_unverified_sentences: true}
  - {name: sitat, answer_mode: quote}
judge: {name: dommer, model_path: ""}
allow_judge_among_setups: true   # every set-up here is the bundled SmolLM2, as is the judge
"""


def _config(text: str = CONFIG, **changes) -> EvalConfig:
    return EvalConfig.model_validate({**yaml.safe_load(text), **changes})


def test_answer_fields_reach_each_setups_settings(tmp_path):
    config = _config()
    modell, uten_gate, sitat = (setup_settings(config, s, tmp_path) for s in config.setups)
    # Unquoted YAML on is read as true; the set-up means the gate "on".
    assert (modell.answer_mode, modell.answerability_gate, modell.keep_unverified_sentences) == ("generate", "on", False)
    # Unset in the set-up: the shared settings decide.
    assert (uten_gate.answerability_gate, uten_gate.keep_unverified_sentences) == ("off", True)
    assert sitat.answer_mode == "quote" and sitat.top_k == 3
    described = describe_setups(config)
    assert described["sitat"]["answer_mode"] == "quote" and described["uten-gate"]["answerability_gate"] == "off"
    assert described["modell"]["model"] == "bundled SmolLM2-135M"
    assert described["sitat"]["model"] == "none (quotes from the sources)"


def test_a_quote_setup_may_share_the_judges_model_file():
    # The judge is the bundled SmolLM2, as is every set-up here; only the quote set-up uses no model.
    with pytest.raises(ValueError, match="separate from the models compared"):
        _config(allow_judge_among_setups=False)
    config = _config(allow_judge_among_setups=False, setups=[{"name": "sitat", "answer_mode": "quote"}])
    assert config.setups[0].name == "sitat"


def test_comparisons_default_to_every_pair_and_must_name_setups():
    config = _config()
    assert config.compared_pairs == [("modell", "uten-gate"), ("modell", "sitat"), ("uten-gate", "sitat")]
    chosen = _config(comparisons=[["sitat", "modell"]])
    assert chosen.compared_pairs == [("sitat", "modell")]
    with pytest.raises(ValueError, match="comparisons must name two different set-ups"):
        _config(comparisons=[["modell", "ukjent"]])
    with pytest.raises(ValueError, match="comparisons must name two different set-ups"):
        _config(comparisons=[["modell", "modell"]])


def test_normedqa_scores_each_model_once_and_skips_quote_setups():
    setups, quote_only = normedqa_setups(_config())
    assert [s.name for s in setups] == ["modell = uten-gate"]
    assert quote_only == ["sitat"]


def test_an_unknown_answer_mode_is_a_clear_error(tmp_path):
    from eval.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.replace("answer_mode: quote", "answer_mode: sitat"), encoding="utf-8")
    with pytest.raises(ConfigurationError) as error:
        load_config(path)
    assert "setups.2.answer_mode" in error.value.user_message
