"""Snapshots of the embedded store: one collection in one file, and back.

A snapshot is the collection's published generation (never written again, so
the copy is consistent while the chat keeps answering and an ingest keeps
writing), its `collection.json` (embedder identity, dimension) and a manifest,
in a gzip'd tar. Restoring publishes it as a new generation of the collection
under the writer lock: readers switch to it at their next question, as after
an ingest. Edge preallocates its files with holes; gzip makes those nearly
free in the archive, and the restore writes them as holes again.

The Qdrant server takes its own snapshots (`create_snapshot` here; restore
through its API, see docs/deployment.md).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import tarfile
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rag.errors import ConfigurationError, FagpratError, StoreUnavailableError

from .edge import EdgeEngine
from .edge_files import read_json, remove_tree, unlock, valid_name, write_json
from .engine import Engine

MANIFEST = "fagprat-snapshot.json"
SNAPSHOT_FORMAT = 1
SUFFIX = ".fagprat-snapshot.tar.gz"
# Whole blocks of zeros are written as holes on restore.
_BLOCK = 1 << 20
# gzip level 1: the vectors hardly compress at any level, the preallocated zeros at every level.
_COMPRESSION = 1


@dataclass
class SnapshotInfo:
    path: str
    collection: str
    points: int
    generation: str = ""
    identity: dict[str, str] | None = None
    created: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _bad(path: Path, why: str) -> FagpratError:
    return ConfigurationError(f"{path} is not a fagprat snapshot: {why}", user_message=f"{path} er ikke et gyldig øyeblikksbilde: {why}.")


def create_snapshot(engine: Engine, name: str, out: Path | None) -> SnapshotInfo:
    """Write a snapshot of collection (or alias) `name`; `out` is a `.tar.gz` file or a folder."""
    if not isinstance(engine, EdgeEngine):
        return _server_snapshot(engine, name)
    info = engine.info(name)
    if info is None:
        raise ConfigurationError(f"Collection {name!r} does not exist", user_message=f"Samlingen «{name}» finnes ikke.")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    if out is None or out.is_dir() or not out.name.endswith(".tar.gz"):  # a folder
        out = (out or engine.layout.root.parent / "snapshots") / f"{info.name}-{stamp}{SUFFIX}"
    out.parent.mkdir(parents=True, exist_ok=True)
    reader = engine._reader(info.name)
    published = reader.acquire()  # its shared lock keeps the generation from being deleted meanwhile
    if published is None:
        raise StoreUnavailableError(f"Collection {info.name!r} has no published generation")
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        folder = engine.layout.generation(info.name, published.generation)
        manifest = {
            "format": SNAPSHOT_FORMAT,
            "engine": "qdrant-edge",
            "qdrant_edge": version("qdrant-edge-py"),
            "collection": info.name,
            "generation": published.generation,
            "points": info.points,
            "dimension": info.dimension,
            "identity": info.identity,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        with tarfile.open(tmp, "w:gz", compresslevel=_COMPRESSION) as tar:
            data = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
            member = tarfile.TarInfo(MANIFEST)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
            tar.add(engine.layout.meta(info.name), arcname="collection.json")
            tar.add(folder / "shard", arcname="shard")
        tmp.replace(out)
    finally:
        reader.release(published)
        tmp.unlink(missing_ok=True)
    return SnapshotInfo(str(out), info.name, info.points, published.generation, info.identity, manifest["created"])


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        with tarfile.open(path, "r:gz") as tar:
            member = tar.next()
            if member is None or member.name != MANIFEST:
                raise _bad(path, "manifest missing")
            manifest = json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
    except (OSError, tarfile.TarError, ValueError) as exc:
        raise _bad(path, str(exc)) from exc
    if manifest.get("format") != SNAPSHOT_FORMAT or manifest.get("engine") != "qdrant-edge":
        raise _bad(path, f"format {manifest.get('format')} of {manifest.get('engine')}")
    return manifest


def _extract(tar: tarfile.TarFile, target: Path) -> None:
    """Unpack the shard, only regular files and folders below `target`, zeros as holes."""
    for member in tar:
        if not member.name.startswith("shard/") and member.name != "shard":
            continue
        destination = (target / member.name).resolve()
        if not destination.is_relative_to(target.resolve()):
            raise ValueError(f"unsafe path in archive: {member.name}")
        if member.isdir():
            destination.mkdir(parents=True, exist_ok=True)
        elif member.isfile():
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            with destination.open("wb") as handle:
                while block := source.read(_BLOCK):
                    if block.count(0) == len(block):
                        handle.seek(len(block), io.SEEK_CUR)
                    else:
                        handle.write(block)
                handle.truncate(member.size)
        else:
            raise ValueError(f"unexpected member in archive: {member.name}")


def restore_snapshot(engine: Engine, path: Path, name: str | None = None) -> SnapshotInfo:
    """Publish the snapshot in `path` as collection `name` (default: the one it was taken of)."""
    if not isinstance(engine, EdgeEngine):
        raise ConfigurationError(
            "Snapshots of a Qdrant server are restored through the server (docs/deployment.md, Backups)",
            user_message="Med en Qdrant-server gjenopprettes øyeblikksbilder i serveren selv (se docs/deployment.md).",
        )
    manifest = read_manifest(path)
    collection = valid_name(name or manifest["collection"])
    if collection in engine.aliases():
        raise ConfigurationError(
            f"{collection!r} is an alias", user_message=f"«{collection}» er et alias: gjenopprett til en samling."
        )
    layout = engine.layout
    layout.collection(collection).mkdir(parents=True, exist_ok=True)
    lock = layout.lock_writer(collection)
    staging = layout.collection(collection) / "restore.tmp"
    try:
        remove_tree(staging)
        staging.mkdir()
        try:
            with tarfile.open(path, "r:gz") as tar:
                _extract(tar, staging)
                meta = tar.extractfile("collection.json")
                assert meta is not None
                collection_meta = json.loads(meta.read())
        except (OSError, tarfile.TarError, ValueError, KeyError, AssertionError) as exc:
            raise _bad(path, str(exc)) from exc
        remove_tree(layout.building(collection))  # an unpublished ingest was built on what is replaced
        # The recorded embedder changes first: a reader may briefly refuse, never mix two embedders.
        old_meta = layout.meta(collection).read_bytes() if layout.meta(collection).exists() else None
        write_json(layout.meta(collection), {**collection_meta, "name": collection})
        try:
            points = engine.publish(collection, staging)
        except BaseException:
            if old_meta is not None:
                write_json(layout.meta(collection), json.loads(old_meta))
            raise
    finally:
        remove_tree(staging)
        unlock(lock)
    if points != manifest["points"]:
        raise StoreUnavailableError(f"Restored {points} points, the snapshot says {manifest['points']}")
    current = read_json(layout.current(collection))
    return SnapshotInfo(str(path), collection, points, current["generation"], manifest.get("identity"), manifest["created"])


def _server_snapshot(engine: Engine, name: str) -> SnapshotInfo:
    from .server import ServerEngine

    assert isinstance(engine, ServerEngine)
    info = engine.info(name)
    if info is None:
        raise ConfigurationError(f"Collection {name!r} does not exist", user_message=f"Samlingen «{name}» finnes ikke.")
    description = engine._call("creating a snapshot", engine.client.create_snapshot, info.name, wait=True)
    return SnapshotInfo(
        f"(on the server) {description.name}", info.name, info.points, identity=info.identity, created=str(description.creation_time)
    )
