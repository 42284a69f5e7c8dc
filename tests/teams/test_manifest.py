"""The Teams app manifest and package."""

from __future__ import annotations

import json
import zipfile
from io import BytesIO
from pathlib import Path

import jsonschema
import pytest
from PIL import Image

from rag.errors import ConfigurationError
from rag.settings import Settings
from ui.teams.package import MANIFEST, build_package, filled_manifest

SCHEMAS = Path(__file__).resolve().parents[2].parent / "shared" / "schemas"
APP_ID = "b1a2c3d4-0000-4000-8000-000000000b07"


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads((SCHEMAS / "MicrosoftTeams.schema.json").read_text(encoding="utf-8"))


def _validate(manifest: dict, schema: dict) -> None:
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class(schema, format_checker=validator_class.FORMAT_CHECKER).validate(manifest)


def test_repository_manifest_validates_against_the_teams_schema(schema):
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    _validate(manifest, schema)
    assert manifest["manifestVersion"] == schema["properties"]["manifestVersion"]["const"]
    (bot,) = manifest["bots"]
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    assert bot["supportsFiles"] is False
    assert [c["title"] for c in bot["commandLists"][0]["commands"]] == ["ny samtale"]


def test_broken_manifest_fails_validation(schema):
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    manifest["bots"][0]["botId"] = "not-a-guid"
    with pytest.raises(jsonschema.ValidationError):
        _validate(manifest, schema)


def test_package_has_the_bot_id_the_endpoint_domain_and_the_icons(tmp_path, schema):
    settings = Settings(data_dir=tmp_path, teams_app_id=APP_ID, _env_file=None)
    path = build_package(settings, tmp_path / "out" / "fagprat-teams.zip", "https://fagprat.sykehus.no/api/messages", "1.2.3")
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        sizes = {name: Image.open(BytesIO(archive.read(name))).size for name in ("color.png", "outline.png")}
        outline = Image.open(BytesIO(archive.read("outline.png"))).convert("RGBA")
    _validate(manifest, schema)
    assert manifest["id"] == APP_ID and manifest["bots"][0]["botId"] == APP_ID
    assert manifest["version"] == "1.2.3"
    assert "fagprat.sykehus.no" in manifest["validDomains"]
    assert sizes == {"color.png": (192, 192), "outline.png": (32, 32)}
    # Outline icon: white on transparent.
    raw = outline.tobytes()
    colours = {tuple(raw[i : i + 4]) for i in range(0, len(raw), 4) if raw[i + 3] > 0}
    assert colours == {(255, 255, 255, 255)}
    assert outline.getpixel((0, 0))[3] == 0


def test_package_needs_a_guid_app_id():
    with pytest.raises(ConfigurationError):
        filled_manifest("")
    with pytest.raises(ConfigurationError):
        filled_manifest("fagprat-bot")
