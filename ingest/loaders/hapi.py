"""Helsedirektoratet guidelines saved from their API (HAPI) as JSON.

A file holds a list of nodes, a single node, or `{"nodes": [...]}`, as written
by `ingest.hapi_client.fetch_guideline`. The tree is rebuilt from each node's
`links` (rel "barn" = child, "forelder" = parent); without links the file
order is the reading order under the first node. Nodes are read depth-first.

The heading path of a node is the titles (`tittel`) from the top node down to
the node itself; the top node's title is the document title, so, as in every
loader, it is trimmed from the paths by `ingest.loaders.load_file`. `intro` and
`tekst` are HTML, converted by the HTML loader's converter. A recommendation
(`tekniskeData.infoType == "anbefaling"`) becomes one `recommendation` block:
its title, its text, 'Styrke: sterk|svak', 'Praktisk: ...' and 'Rasjonale: ...'.

Metadata: the top node's title, url, `sistFagligOppdatert` (date), id and
infoType; publisher Helsedirektoratet and the NLOD credit the licence asks for.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from ingest.loaders.base import LoaderError, ParsedFile
from ingest.loaders.html import html_to_blocks, html_to_text
from ingest.loaders.text import clean_inline
from rag.models import Block

PUBLISHER = "Helsedirektoratet"
CREDIT = "Inneholder data under Norsk lisens for offentlige data (NLOD) fra Helsedirektoratet"
RECOMMENDATION_TYPE = "anbefaling"
CHILD_REL = "barn"
PARENT_REL = "forelder"


def parse(path: Path) -> ParsedFile:
    try:
        data = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LoaderError(f"corrupt file: not valid JSON ({exc})") from exc
    nodes = read_nodes(data)
    tree = _Tree(nodes)
    blocks: list[Block] = []
    for node, path_titles in tree.walk():
        blocks.extend(_node_blocks(node, path_titles))
    return ParsedFile(blocks=blocks, properties=_properties(tree.top))


def read_nodes(data: Any) -> list[dict[str, Any]]:
    """The nodes of a saved guideline, in file order."""
    if isinstance(data, dict):
        data = data.get("nodes", [data])
    if not isinstance(data, list) or not data or not all(isinstance(n, dict) for n in data):
        raise LoaderError(
            "not a Helsedirektoratet (HAPI) JSON file: expected a node, a list of nodes or {'nodes': [...]}"
        )
    if not any("tittel" in node for node in data):
        raise LoaderError("not a Helsedirektoratet (HAPI) JSON file: no node has a 'tittel'")
    return data


def node_id_from_href(href: str) -> str:
    """'https://api.../innhold/innhold/<id>?x=1' -> '<id>'."""
    return href.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def linked_ids(node: dict[str, Any], rel: str) -> list[str]:
    links = node.get("links") or []
    return [
        node_id_from_href(str(link.get("href", "")))
        for link in links
        if isinstance(link, dict) and link.get("rel") == rel
    ]


def info_type(node: dict[str, Any]) -> str:
    technical = node.get("tekniskeData") or {}
    return str(technical.get("infoType") or node.get("infoType") or "")


class _Tree:
    """Parent/child structure of the nodes, from links or else file order."""

    def __init__(self, nodes: list[dict[str, Any]]):
        self._nodes = nodes
        self._by_id = {str(node.get("id")): node for node in nodes if node.get("id") is not None}
        self._children: dict[int, list[dict[str, Any]]] = {}
        has_child_links = any(linked_ids(n, CHILD_REL) for n in nodes)
        has_parent_links = any(linked_ids(n, PARENT_REL) for n in nodes)
        child_ids: set[int] = set()
        for node in nodes:
            if has_child_links:
                kids = [self._by_id[i] for i in linked_ids(node, CHILD_REL) if i in self._by_id]
            elif has_parent_links:
                kids = [n for n in nodes if str(node.get("id")) in linked_ids(n, PARENT_REL)]
            else:
                kids = []
            self._children[id(node)] = kids
            child_ids.update(id(kid) for kid in kids)
        roots = [node for node in nodes if id(node) not in child_ids]
        self.top = roots[0] if roots else nodes[0]
        # Nodes the links do not reach (or no links at all) follow under the top, in file order.
        reached = self._reachable()
        self._children[id(self.top)] += [n for n in nodes if id(n) not in reached]

    def _reachable(self) -> set[int]:
        seen: set[int] = set()
        stack = [self.top]
        while stack:
            node = stack.pop()
            if id(node) not in seen:
                seen.add(id(node))
                stack.extend(self._children.get(id(node), []))
        return seen

    def walk(self) -> list[tuple[dict[str, Any], list[str]]]:
        """(node, heading path) depth-first in reading order; each node once."""
        ordered: list[tuple[dict[str, Any], list[str]]] = []
        seen: set[int] = set()

        def visit(node: dict[str, Any], parent_path: list[str]) -> None:
            if id(node) in seen:
                return
            seen.add(id(node))
            title = clean_inline(str(node.get("tittel") or ""))
            path = [*parent_path, title] if title else parent_path
            ordered.append((node, path))
            for child in self._children.get(id(node), []):
                visit(child, path)

        visit(self.top, [])
        return ordered


def _node_blocks(node: dict[str, Any], path: list[str]) -> list[Block]:
    if info_type(node) == RECOMMENDATION_TYPE:
        return [Block(kind="recommendation", text=_recommendation_text(node), heading_path=path)]
    blocks = html_to_blocks(str(node.get("intro") or ""), path)
    blocks += html_to_blocks(str(node.get("tekst") or ""), path)
    return blocks


def _recommendation_text(node: dict[str, Any]) -> str:
    data = node.get("data") or {}
    lines = [clean_inline(str(node.get("tittel") or ""))]
    for field in ("intro", "tekst"):
        lines.append(html_to_text(str(node.get(field) or "")))
    strength = clean_inline(str(data.get("styrke") or "")).lower()
    if strength:
        lines.append(f"Styrke: {strength}")
    for label, key in (("Praktisk", "praktisk"), ("Rasjonale", "rasjonale")):
        text = html_to_text(str(data.get(key) or ""))
        if text:
            lines.append(f"{label}: {text}")
    return "\n".join(line for line in lines if line)


def _properties(top: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "title": clean_inline(str(top.get("tittel") or "")),
        "url": str(top.get("url") or ""),
        "publisher": PUBLISHER,
        "doc_type": info_type(top),
        "external_id": str(top.get("id") or ""),
        "credit": CREDIT,
    }
    updated = str(top.get("sistFagligOppdatert") or top.get("sistOppdatert") or "")
    try:
        properties["updated"] = dt.date.fromisoformat(updated[:10])
    except ValueError:
        pass  # no usable date: the document simply has none
    return {key: value for key, value in properties.items() if value}
