"""The control fields a quality system (EQS, Docmap, eHåndbok) prints at the top
of a local procedure: 'Dokument-ID', 'Versjon', 'Gyldig fra', 'Revisjonsfrist',
'Sist oppdatert', 'Utgiver'.

They come as 'Label: value' lines or as a small table (label and value side by
side, or labels in a header row above the values). Bokmål and nynorsk labels
are both recognised. Values are returned as written; dates ('01.03.2025' or
'2025-03-01') are parsed by the metadata model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ingest.loaders.text import clean_inline

_LABELS: dict[str, tuple[str, ...]] = {
    "external_id": (
        "dokument-id", "dokumentid", "dokument id", "dok.id", "dok-id", "dok. id", "dokumentnummer", "dok.nr",
    ),
    "version": ("versjon", "versjonsnummer", "versjonsnr", "utgave"),
    "valid_from": ("gyldig fra", "gyldig frå", "gjelder fra", "gjeld frå", "gyldig fra dato", "gyldig frå dato"),
    "review_due": (
        "revisjonsfrist", "revideres", "revideres innen", "neste revisjon", "skal revideres", "revisjonsdato",
    ),
    "updated": ("sist oppdatert", "sist endret", "sist revidert", "sist endra", "oppdatert", "endret", "endra"),
    "publisher": ("utgiver", "utgjevar", "utgitt av", "utgjeve av"),
}  # fmt: skip
_BY_LABEL = {label: key for key, labels in _LABELS.items() for label in labels}
# A table is a metadata table when it names at least this many known fields; its other
# rows ('Godkjent av', 'Forfatter') are ignored. One known label could be chance.
_MIN_KNOWN_FIELDS = 2
_LINE = re.compile(r"^\s*([^:]{2,40}?)\s*:\s*(.+?)\s*$")


def field_key(label: str) -> str | None:
    """The metadata key a label names ('Gyldig frå' -> 'valid_from'), else None."""
    normalised = clean_inline(label).rstrip(":").strip().casefold()
    return _BY_LABEL.get(normalised)


def fields_from_line(line: str) -> dict[str, str]:
    """'Versjon: 3.1' -> {'version': '3.1'}; several fields may share a line,
    separated by tabs, ' | ', ' · ', '; ' or wide spaces."""
    found: dict[str, str] = {}
    for part in re.split(r"\t+|\s[|·•]\s|;\s|\s{3,}", line):
        match = _LINE.match(part)
        key = field_key(match.group(1)) if match else None
        if match and key:
            found[key] = match.group(2)
    return found


def fields_from_table(rows: Sequence[Sequence[str]]) -> dict[str, str]:
    """Fields of a metadata table, or {} when the table is not one.

    A table counts when every row is 'label | value' pairs, when its first row
    holds the labels and the second row their values, or when every cell reads
    'Label: value' - and at least two labels are known fields.
    """
    cleaned = [[clean_inline(c) for c in row] for row in rows]
    cleaned = [[c for c in row if c] for row in cleaned]
    cleaned = [row for row in cleaned if row]
    for reader in (_label_value_rows, _header_and_values, _label_in_cell):
        found = reader(cleaned) if cleaned else None
        if found:
            return found
    return {}


def _label_value_rows(rows: list[list[str]]) -> dict[str, str] | None:
    if any(len(row) % 2 for row in rows):
        return None
    pairs = [(label, value) for row in rows for label, value in zip(row[0::2], row[1::2])]
    return _known(pairs)


def _header_and_values(rows: list[list[str]]) -> dict[str, str] | None:
    if len(rows) != 2 or len(rows[0]) != len(rows[1]):
        return None
    return _known(list(zip(rows[0], rows[1])))


def _label_in_cell(rows: list[list[str]]) -> dict[str, str] | None:
    found: dict[str, str] = {}
    for row in rows:
        for cell in row:
            cell_fields = fields_from_line(cell)
            if not cell_fields:
                return None
            found.update(cell_fields)
    return found if len(found) >= _MIN_KNOWN_FIELDS else None


def _known(pairs: list[tuple[str, str]]) -> dict[str, str] | None:
    found = {key: value for label, value in pairs if (key := field_key(label))}
    return found if len(found) >= _MIN_KNOWN_FIELDS else None
