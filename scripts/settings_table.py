"""Print the settings table for the README, or update it in place.

    python scripts/settings_table.py           # print
    python scripts/settings_table.py --write   # replace the table between the README's markers
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.settings import Settings  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- settings-table:begin -->", "<!-- settings-table:end -->"


def _default(field) -> str:  # type: ignore[no-untyped-def]
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if isinstance(value, SecretStr):
        return "(secret)"
    if value in (None, "", []):
        return "(empty)"
    return f"`{value}`"


def table() -> str:
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|")
        rows.append(f"| `FAGPRAT_{name.upper()}` | {_default(field)} | {meaning} |")
    return "\n".join(rows)


def main() -> None:
    if "--write" not in sys.argv:
        print(table())
        return
    text = README.read_text("utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    README.write_text(text[:start] + "\n" + table() + "\n" + text[end:], "utf-8")


if __name__ == "__main__":
    main()
