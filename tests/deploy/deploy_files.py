"""Reading the deployment files as Docker Compose and Docker read them, without an engine.

Compose parses the YAML first (anchors and ``<<`` merges included) and then substitutes
``${VARIABLE}`` references in string values from the shell and the ``.env`` file. The tests do
the same with ``.env.example``'s values, so the schema sees what compose would hand the engine:
the schema types some fields (``restart``, ``required``) that only make sense once substituted.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values

REPO = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = REPO.parent / "shared" / "schemas"
COMPOSE_SCHEMA = SCHEMAS_DIR / "compose-spec.json"
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
DEPLOYMENT_DOC = REPO / "docs" / "deployment.md"

# What a test puts where an operator must fill in a secret.
STAND_IN_SECRET = "stand-in-secret"

# $$ (a literal $), ${NAME}, ${NAME:-default} and the other operators, or $NAME.
_REFERENCE = re.compile(
    r"""\$(?:
        (?P<escaped>\$)
      | \{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<operator>:?[-?+])(?P<argument>[^}]*))?\}
      | (?P<named>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


class MissingVariable(ValueError):
    """A ``${NAME:?message}`` whose variable is unset (or empty): compose stops here."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"required variables not set: {', '.join(sorted(set(names)))}")
        self.names = set(names)


def _substitute(match: re.Match[str], env: Mapping[str, str], missing: list[str]) -> str:
    if match.group("escaped"):
        return "$"
    name = match.group("braced") or match.group("named")
    operator = match.group("operator") or ""
    argument = match.group("argument") or ""
    is_set = name in env
    has_value = bool(env.get(name))
    present = has_value if operator.startswith(":") else is_set
    kind = operator.lstrip(":")
    if kind == "-":
        return env[name] if present else argument
    if kind == "+":
        return argument if present else ""
    if kind == "?":
        if not present:
            missing.append(name)
            return ""
        return env[name]
    return env.get(name, "")


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """The loaded YAML with every variable reference in its string values substituted."""
    missing: list[str] = []

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return _REFERENCE.sub(lambda m: _substitute(m, env, missing), value)
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    result = walk(node)
    if missing:
        raise MissingVariable(missing)
    return result


def _references(node: Any) -> list[re.Match[str]]:
    if isinstance(node, str):
        return [m for m in _REFERENCE.finditer(node) if not m.group("escaped")]
    if isinstance(node, dict):
        return [m for item in node.values() for m in _references(item)]
    if isinstance(node, list):
        return [m for item in node for m in _references(item)]
    return []


def referenced_variables(node: Any) -> set[str]:
    return {m.group("braced") or m.group("named") for m in _references(node)}


def required_variables(node: Any) -> set[str]:
    return {m.group("braced") for m in _references(node) if (m.group("operator") or "").endswith("?")}


def load_compose_raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def env_example() -> dict[str, str]:
    return {key: value or "" for key, value in dotenv_values(ENV_EXAMPLE).items()}


def operator_env() -> dict[str, str]:
    """``.env.example`` as an operator fills it in: every required secret set."""
    env = env_example()
    for name in required_variables(load_compose_raw()):
        if not env.get(name):
            env[name] = STAND_IN_SECRET
    return env


def load_compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    return interpolate(load_compose_raw(), operator_env() if env is None else env)


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's ``environment`` as a mapping (compose accepts a list or a mapping)."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def option_value(command: list[str], *names: str) -> str | None:
    """The value after an option such as ``--port`` in a command list."""
    for index, token in enumerate(command[:-1]):
        if token in names:
            return command[index + 1]
    return None


# --- Dockerfile ----------------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, instruction: str) -> list[str]:
        return [rest for keyword, rest in self.instructions if keyword == instruction]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for rest in self.arguments("ENV"):
            for token in shlex.split(rest):
                key, _, value = token.partition("=")
                values[key] = value
        return values


def dockerfile_stages(text: str | None = None) -> list[Stage]:
    """Instructions grouped by build stage: continuation lines joined, comments dropped."""
    text = DOCKERFILE.read_text(encoding="utf-8") if text is None else text
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or not stripped:
            continue  # Docker drops comment lines, also inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    stages: list[Stage] = []
    for instruction in logical:
        keyword, _, rest = instruction.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(base=parts[0], name=name))
        elif stages:
            stages[-1].instructions.append((keyword, rest.strip()))
    return stages
