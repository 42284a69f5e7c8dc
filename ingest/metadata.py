"""Document metadata from folder defaults, sidecars and the file itself.

Sources, highest priority first, merged key by key:

1. the file's sidecar `<file name>.meta.yaml`, or a Markdown file's front matter
2. the file's own properties (DOCX core properties and control fields, PDF
   info, HTML `<title>`, HAPI fields), as the loader read them
3. folder defaults: `_mappe.yaml` in the file's folder or any folder above it
   up to the library root (nearest folder wins, key by key).

There is no default access group: a document gets its groups from this
metadata only, and a document with none is refused by the ingest (it is never
made national because of where it lies or where ingest was started).

The library root is what document ids are relative to and where folder defaults
start, so neither depends on the folder ingest was started in (`library_root_of`):
the configured `library_root` setting when the file lies under it, else the
nearest folder above the file that holds a `_bibliotek.yaml` marker, else none
(the file system root: ids are then absolute paths, `file:/srv/docs/x.md`).
`data/sample/_bibliotek.yaml` makes the sample's ids `file:nasjonal/...` whether
`data/sample` or `data/sample/fjordbyen` is ingested.

Sidecars and `_mappe.yaml` exist only for us, so an unknown key there is an
error (a misspelt `access_groups` must not silently open a document to
everyone); `_bibliotek.yaml` takes no keys at all. Front matter is shared with
other tools, so unknown keys there are ignored. A file's own properties are best
effort: a value that does not validate (an EQS date written as prose) is dropped
with a warning.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from ingest.loaders.base import LoaderError
from rag.models import Language

log = logging.getLogger(__name__)

FOLDER_DEFAULTS_NAME = "_mappe.yaml"
SIDECAR_SUFFIX = ".meta.yaml"
# Marks the top folder of a document library (see the module docstring).
LIBRARY_MARKER_NAME = "_bibliotek.yaml"

_NORWEGIAN_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_LANGUAGE_ALIASES = {"nb": "nb", "nob": "nb", "no": "nb", "nn": "nn", "nno": "nn", "en": "en", "eng": "en"}


class FolderDefaults(BaseModel):
    """Keys a `_mappe.yaml` may set for every file beneath its folder."""

    model_config = ConfigDict(extra="forbid")

    access_groups: list[str] | None = None
    publisher: str | None = None
    doc_type: str | None = None
    language: Language | None = None
    credit: str | None = None

    @field_validator("access_groups", mode="before")
    @classmethod
    def _groups(cls, value: Any) -> Any:
        return _as_groups(value)

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, value: Any) -> Any:
        return _LANGUAGE_ALIASES.get(str(value).strip().lower(), value) if value is not None else None


class FileMetadata(FolderDefaults):
    """Keys a sidecar or front matter may set for one file."""

    title: str | None = None
    url: str | None = None
    updated: dt.date | None = None
    version: str | None = None
    valid_from: dt.date | None = None
    review_due: dt.date | None = None
    external_id: str | None = None

    @field_validator("version", "external_id", "title", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        # YAML reads `version: 3.1` as a float and `external_id: 4711` as an int.
        return str(value).strip() if isinstance(value, int | float) and not isinstance(value, bool) else value

    @field_validator("updated", "valid_from", "review_due", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        return _as_date(value)


_FILE_KEYS = set(FileMetadata.model_fields)


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def library_root_of(path: Path, configured: Path | None = None) -> Path:
    """The library root of the file `path` (see the module docstring)."""
    path = Path(os.path.abspath(path))
    if configured is not None:
        configured = configured.resolve()
        if path.is_relative_to(configured):
            return configured
    for folder in path.parents:
        if (folder / LIBRARY_MARKER_NAME).is_file():
            return folder
    return Path(path.anchor)


def document_id(path: Path, library_root: Path) -> str:
    """`file:` + the path relative to the library root, or the absolute path without one."""
    path, library_root = Path(os.path.abspath(path)), Path(os.path.abspath(library_root))
    if library_root == Path(path.anchor):
        return "file:" + path.as_posix()
    return "file:" + path.relative_to(library_root).as_posix()


def folder_default_files(path: Path, root: Path) -> list[Path]:
    """The `_mappe.yaml` files that apply to `path` (under the library root `root`),
    root first, nearest last."""
    path, root = Path(os.path.abspath(path)), Path(os.path.abspath(root))
    folders = [root]
    for part in path.parent.relative_to(root).parts:
        folders.append(folders[-1] / part)
    return [folder / FOLDER_DEFAULTS_NAME for folder in folders if (folder / FOLDER_DEFAULTS_NAME).is_file()]


def metadata_files(path: Path, root: Path) -> list[Path]:
    """Every metadata file that shapes `path`'s document (for change detection)."""
    sidecar = sidecar_path(path)
    return [*folder_default_files(path, root), *([sidecar] if sidecar.is_file() else [])]


def resolve_metadata(
    path: Path, root: Path, own: dict[str, Any] | None = None, embedded: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The merged metadata of one file (keys of `FileMetadata` that are set).

    `own` are the file's own properties, `embedded` its front matter; `root` is the
    library root. No `access_groups` in the result means the document has none.
    Raises `LoaderError` for a malformed sidecar, front matter, `_mappe.yaml` or
    `_bibliotek.yaml`.
    """
    _check_library_marker(root)
    merged: dict[str, Any] = {}
    for folder_file in folder_default_files(path, root):
        merged.update(_validated(FolderDefaults, _read_yaml(folder_file), folder_file.name))
    merged.update(_lenient(own or {}))
    if embedded:
        known = {key: value for key, value in embedded.items() if key in _FILE_KEYS}
        merged.update(_validated(FileMetadata, known, "front matter"))
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        merged.update(_validated(FileMetadata, _read_yaml(sidecar), sidecar.name))
    return merged


def _check_library_marker(root: Path) -> None:
    marker = root / LIBRARY_MARKER_NAME
    if marker.is_file() and _read_yaml(marker):
        raise LoaderError(
            f"invalid {LIBRARY_MARKER_NAME}: it only marks the library root and takes no keys "
            f"(folder defaults such as access_groups belong in {FOLDER_DEFAULTS_NAME})"
        )


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as exc:
        raise LoaderError(f"invalid YAML in {path.name}: {_first_line(exc)}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise LoaderError(f"cannot be read: {path.name} ({exc})") from exc
    except ValueError as exc:  # PyYAML builds dates itself and fails on '2025-13-45'
        raise LoaderError(f"invalid metadata in {path.name}: not a valid date ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise LoaderError(f"invalid metadata in {path.name}: expected key: value pairs")
    return data


def _validated(model: type[FolderDefaults], data: dict[str, Any], source: str) -> dict[str, Any]:
    try:
        return model.model_validate(data).model_dump(exclude_none=True)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
        raise LoaderError(f"invalid metadata in {source}: {problems}") from exc


def _lenient(data: dict[str, Any]) -> dict[str, Any]:
    """Validates a file's own properties, dropping (and logging) values that do not fit."""
    values = {key: value for key, value in data.items() if key in _FILE_KEYS and value not in (None, "")}
    while True:
        try:
            return FileMetadata.model_validate(values).model_dump(exclude_none=True)
        except ValidationError as exc:
            bad = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
            if not bad & set(values):
                return {}
            for key in bad:
                log.warning("Ignoring unusable document property %s=%r", key, values.pop(key, None))


def _as_groups(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        value = [part for part in re.split(r"[,\s]+", value) if part]
    if isinstance(value, list):
        groups = [str(group).strip() for group in value if str(group).strip()]
        if not groups:
            raise ValueError("access_groups must name at least one group")
        return groups
    return value


def _as_date(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        text = value.strip()
        match = _NORWEGIAN_DATE.match(text)
        if match:
            day, month, year = (int(g) for g in match.groups())
            try:
                return dt.date(year, month, day)
            except ValueError as exc:
                raise ValueError(f"not a valid date: {text}") from exc
        if len(text) > len("2025-03-01") and text[10:11] in ("T", " "):
            return text[:10]  # ISO timestamp: the date part
        return text
    return value


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return " ".join(text.split("\n")[:3]) if text else type(exc).__name__
