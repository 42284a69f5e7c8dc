"""docker-compose.yml against the Compose Specification's JSON schema (no Docker engine needed).

The file is validated after variable substitution with ``.env.example``'s values (secrets filled
in), which is the model compose hands the engine; the raw file uses the same shapes, so the
schema's string-or-integer fields accept either form.
"""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
from tests.deploy.deploy_files import (
    COMPOSE_SCHEMA,
    MissingVariable,
    env_example,
    interpolate,
    load_compose,
    load_compose_raw,
)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    if not COMPOSE_SCHEMA.is_file():
        pytest.skip(f"Compose Specification schema not found at {COMPOSE_SCHEMA} (shared/schemas is beside the repo)")
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    # The schema names draft-07 in a form jsonschema does not recognise; say it explicitly.
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _errors(validator: jsonschema.Draft7Validator, document: object) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def test_compose_file_validates_against_the_compose_specification(validator):
    assert _errors(validator, load_compose()) == []


def test_raw_compose_file_also_validates(validator):
    assert _errors(validator, load_compose_raw()) == []


def test_schema_catches_a_misspelt_key_and_a_wrong_shape(validator):
    broken = copy.deepcopy(load_compose())
    broken["services"]["app"]["restart_policy"] = "always"  # not a compose key
    broken["services"]["qdrant"]["ports"] = "6333:6333"  # must be a list
    errors = _errors(validator, broken)
    assert any("restart_policy" in error for error in errors)
    assert any(error.startswith("services/qdrant/ports") for error in errors)


def test_compose_refuses_to_start_without_the_secrets():
    with pytest.raises(MissingVariable) as error:
        load_compose(env_example())
    assert error.value.names == {"QDRANT_API_KEY", "LLM_API_KEY"}


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("${A-d}", {}, "d"),
        ("${A:-d}", {"A": "x"}, "x"),
        ("${A:+on}", {"A": "x"}, "on"),
        ("${A:+on}", {"A": ""}, ""),
        ("$A/${B}", {"A": "1", "B": "2"}, "1/2"),
        ("$$A costs $$5", {"A": "1"}, "$A costs $5"),
    ],
)
def test_interpolation_follows_compose_rules(text, env, expected):
    assert interpolate({"key": [text]}, env) == {"key": [expected]}


def test_interpolation_reports_every_missing_required_variable():
    with pytest.raises(MissingVariable) as error:
        interpolate({"a": "${A:?set A}", "b": "${B?set B}", "c": "${C:?}"}, {"A": "", "C": "ok"})
    assert error.value.names == {"A", "B"}
