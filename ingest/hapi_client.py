"""Fetch a national guideline from Helsedirektoratet's API (HAPI) into a JSON file.

`fetch_guideline` starts at the guideline's top node (an id or a node URL),
follows `rel=barn` links breadth-first, fetching each node once, and saves
all nodes as one JSON list, `<slug of the title>.json`, which the HAPI loader
(`ingest.loaders.hapi`) reads like any other file. Requests carry the
subscription key (`Ocp-Apim-Subscription-Key`); rate limits (429), server
errors (5xx), timeouts and dropped connections are retried with exponential
backoff, honouring `Retry-After`. The content is licensed under NLOD; the
loader adds the credit.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import os
import re
import tempfile
import unicodedata
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential
from tqdm import tqdm

from ingest.loaders.hapi import CHILD_REL, node_id_from_href
from ingest.metadata import FOLDER_DEFAULTS_NAME
from rag.errors import FagpratError
from rag.settings import Settings

log = logging.getLogger(__name__)

SUBSCRIPTION_KEY_HEADER = "Ocp-Apim-Subscription-Key"
NODE_PATH = "innhold"  # nodes live at <base>/innhold/<id>
_TRANSIENT_STATUS = {429, 500, 502, 503, 504}
_AUTH_STATUS = {401, 403}
# Backoff between retries: 0.5 s, 1 s, 2 s ... capped; a server's Retry-After is honoured up to the cap.
_BACKOFF_FIRST_S = 0.5
_BACKOFF_MAX_S = 30.0
_SLUG_MAX_CHARS = 80


class HapiError(FagpratError):
    user_message = "Kunne ikke hente retningslinjen fra Helsedirektoratet."


class HapiAuthError(HapiError):
    user_message = (
        "Helsedirektoratets API avviste nøkkelen. Sjekk abonnementsnøkkelen (FAGPRAT_HAPI_SUBSCRIPTION_KEY)."
    )


class HapiNotFoundError(HapiError):
    user_message = "Fant ikke retningslinjen hos Helsedirektoratet. Sjekk id-en eller adressen."


class HapiUnavailableError(HapiError):
    user_message = "Helsedirektoratets API svarer ikke akkurat nå. Prøv igjen senere."


class _TransientStatus(Exception):
    """A response worth retrying (429/5xx)."""

    def __init__(self, response: httpx.Response):
        super().__init__(f"HTTP {response.status_code} from {response.request.url}")
        self.response = response


def fetch_guideline(start: str, out_dir: Path, settings: Settings, client: httpx.Client | None = None) -> Path:
    """Saves the guideline at `start` (node id or URL) with all its descendants;
    returns the JSON file. Raises `HapiAuthError` (401/403), `HapiNotFoundError`
    (404 for the top node), `HapiUnavailableError` (retries exhausted) or `HapiError`."""
    headers = {"Accept": "application/json"}
    if settings.hapi_subscription_key is not None:
        headers[SUBSCRIPTION_KEY_HEADER] = settings.hapi_subscription_key.get_secret_value()
    own_client = client is None
    http = client or httpx.Client(timeout=settings.hapi_timeout_s, follow_redirects=True)
    try:
        nodes = _fetch_tree(http, headers, node_url(start, settings.hapi_base_url), settings)
    finally:
        if own_client:
            http.close()
    top = nodes[0]
    name = slugify(str(top.get("tittel") or "")) or slugify(str(top.get("id") or "")) or "retningslinje"
    saved = _write_atomically(out_dir / f"{name}.json", nodes)
    _ensure_folder_defaults(out_dir, settings.default_access_groups)
    return saved


def _ensure_folder_defaults(out_dir: Path, access_groups: list[str]) -> None:
    """Ingest gives a document access groups only from metadata, so the download folder
    gets a `_mappe.yaml` (once; an administrator's own is never overwritten): national
    guidelines are for the groups every user has (FAGPRAT_DEFAULT_ACCESS_GROUPS)."""
    defaults = out_dir / FOLDER_DEFAULTS_NAME
    if defaults.exists():
        return
    defaults.write_text(
        "# Written by `fagprat ingest --hapi`: Helsedirektoratet's national guidelines.\n"
        f"access_groups: {json.dumps(list(access_groups))}\n",
        encoding="utf-8",
    )


def node_url(start: str, base_url: str) -> str:
    """A node's URL from its id, or the URL itself."""
    start = start.strip()
    if start.startswith(("http://", "https://")):
        return start
    return f"{base_url.rstrip('/')}/{NODE_PATH}/{start.strip('/')}"


def slugify(text: str) -> str:
    """'Sepsis hos voksne – behandling' -> 'sepsis-hos-voksne-behandling'."""
    text = text.lower().translate(str.maketrans({"æ": "ae", "ø": "o", "å": "a"}))
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:_SLUG_MAX_CHARS].rstrip("-")


def _fetch_tree(http: httpx.Client, headers: dict[str, str], top_url: str, settings: Settings) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    queue = deque([top_url])
    seen = {node_id_from_href(top_url)}
    with tqdm(total=1, unit="node", desc="Henter fra Helsedirektoratet", disable=None) as progress:
        while queue:
            url = queue.popleft()
            node = _get_node(http, headers, url, settings, is_top=not nodes)
            progress.update(1)
            if node is None:
                continue
            nodes.append(node)
            seen.add(str(node.get("id", "")))
            for link in node.get("links") or []:
                if not isinstance(link, dict) or link.get("rel") != CHILD_REL or not link.get("href"):
                    continue
                child_id = node_id_from_href(str(link["href"]))
                if child_id not in seen:
                    seen.add(child_id)
                    queue.append(urljoin(settings.hapi_base_url.rstrip("/") + "/", str(link["href"])))
                    progress.total += 1
                    progress.refresh()
    return nodes


def _get_node(
    http: httpx.Client, headers: dict[str, str], url: str, settings: Settings, *, is_top: bool
) -> dict[str, Any] | None:
    try:
        for attempt in Retrying(
            stop=stop_after_attempt(settings.hapi_max_retries + 1),
            wait=_wait,
            retry=retry_if_exception(_is_transient),
            reraise=True,
        ):
            with attempt:
                response = http.get(url, headers=headers)
                if response.status_code in _TRANSIENT_STATUS:
                    raise _TransientStatus(response)
    except _TransientStatus as exc:
        raise HapiUnavailableError(f"{exc} (after {settings.hapi_max_retries} retries)") from exc
    except httpx.HTTPError as exc:
        detail = f"{type(exc).__name__} for {url} (after {settings.hapi_max_retries} retries)"
        raise HapiUnavailableError(detail) from exc
    if response.status_code in _AUTH_STATUS:
        raise HapiAuthError(f"HTTP {response.status_code} from {url}: subscription key missing or rejected")
    if response.status_code == 404:
        if is_top:
            raise HapiNotFoundError(f"HTTP 404: no guideline at {url}")
        log.warning("Skipping a child node that no longer exists: %s", url)
        return None
    if response.is_error:
        raise HapiError(f"HTTP {response.status_code} from {url}")
    try:
        node = response.json()
    except ValueError as exc:
        raise HapiError(f"Not JSON from {url}") from exc
    if isinstance(node, list) and len(node) == 1:
        node = node[0]
    if not isinstance(node, dict):
        raise HapiError(f"Unexpected answer from {url}: expected one node (a JSON object)")
    return node


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, _TransientStatus | httpx.TimeoutException | httpx.TransportError)


_backoff = wait_exponential(multiplier=_BACKOFF_FIRST_S, max=_BACKOFF_MAX_S)


def _wait(state: RetryCallState) -> float:
    """The server's Retry-After when it gives one, else exponential backoff."""
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, _TransientStatus):
        retry_after = _retry_after_seconds(exc.response.headers.get("Retry-After", ""))
        if retry_after is not None:
            return min(retry_after, _BACKOFF_MAX_S)
    return _backoff(state)


def _retry_after_seconds(value: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


def _write_atomically(target: Path, nodes: list[dict[str, Any]]) -> Path:
    """Temp file in the same folder, then rename: readers never see half a file.
    The temp name starts with a dot, so an interrupted run leaves nothing ingestable."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=target.parent, prefix=f".{target.stem}-", suffix=".tmp", delete=False
    )
    try:
        with handle:
            json.dump(nodes, handle, ensure_ascii=False, indent=1)
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return target
