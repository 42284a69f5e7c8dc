"""The Teams app package: ``manifest.json`` and the two icons in one zip.

Upload the zip in Teams (Apps > Manage your apps > Upload an app) or in the
Teams admin centre. The manifest in the repository carries a placeholder id;
the package gets the bot's app id (the Azure Bot's Microsoft App ID), which
Teams requires to be the bot id and conventionally also the app id.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rag.errors import ConfigurationError
from rag.settings import Settings

HERE = Path(__file__).parent
MANIFEST = HERE / "manifest.json"
ICONS = ("color.png", "outline.png")

_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def load_manifest() -> dict[str, Any]:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def filled_manifest(app_id: str, endpoint_url: str = "", version: str = "") -> dict[str, Any]:
    """The manifest with the bot's app id (and the endpoint's domain as a valid domain)."""
    if not _GUID_RE.match(app_id or ""):
        raise ConfigurationError(
            f"Teams app id {app_id!r} is not a GUID",
            user_message="FAGPRAT_TEAMS_APP_ID må være app-id-en (en GUID) fra Azure Bot-ressursen.",
        )
    manifest = load_manifest()
    manifest["id"] = app_id
    for bot in manifest.get("bots", []):
        bot["botId"] = app_id
    if version:
        manifest["version"] = version
    domain = urlparse(endpoint_url).hostname if endpoint_url else None
    if domain and domain not in manifest.setdefault("validDomains", []):
        manifest["validDomains"].append(domain)
    return manifest


def build_package(settings: Settings, out_path: Path, endpoint_url: str = "", version: str = "") -> Path:
    """Write the app package zip for the configured bot and return its path."""
    manifest = filled_manifest(settings.teams_app_id.strip(), endpoint_url, version)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        # Teams wants the files at the root of the zip, not in a folder.
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
        for icon in ICONS:
            archive.write(HERE / icon, arcname=icon)
    return out_path
