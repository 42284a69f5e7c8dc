"""The embedded store on disk: collections as folders, published generations,
aliases in one file, and the locks that let several processes share them.

    <data_dir>/store/
      aliases.json                     {"fagprat": "fagprat-2026"}
      collections/<name>/
        collection.json                dimension, embedder identity, HNSW parameters
        CURRENT                        {"generation": "g000007", "points": ...}: what readers open
        writer.lock                    held by the one writer (an ingest, a restore)
        g000007/shard/                 a published generation: never written again
        g000007/readers.lock           shared-locked by every process that has it open
        building/shard/                the writer's private copy, published by a rename

Every small file is replaced atomically (write, fsync, rename), so a process
killed at any moment leaves either the old or the new version.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

import portalocker

from rag.errors import ConfigurationError, StoreLockedError

GENERATION = re.compile(r"^g(\d{6})$")
# Collection and alias names become folder names: no separators, no dots in front.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def valid_name(name: str, what: str = "samling") -> str:
    if not NAME.match(name or ""):
        raise ConfigurationError(
            f"Invalid {what} name {name!r}: letters, digits, '_', '-' and '.', at most 64, not starting with a dot",
            user_message=f"Ugyldig navn på {what}: «{name}». Bruk bokstaver, tall, - og _.",
        )
    return name


def write_json(path: Path, data: Any) -> None:
    """Replace `path` atomically with `data` as JSON."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


def fsync_dir(path: Path) -> None:
    with suppress(OSError):  # not every platform can fsync a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def stat_signature(path: Path) -> tuple[int, int, int] | None:
    """Changes whenever the file is replaced or rewritten; None when it is missing."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def lock_file(path: Path, *, shared: bool) -> IO[str] | None:
    """An open, locked handle on `path` (flock: per open file, released on close or process death),
    or None when another handle holds a conflicting lock."""
    handle = path.open("a")
    try:
        portalocker.lock(handle, (portalocker.LOCK_SH if shared else portalocker.LOCK_EX) | portalocker.LOCK_NB)
    except portalocker.exceptions.LockException:
        handle.close()
        return None
    return handle


def unlock(handle: IO[str] | None) -> None:
    if handle is not None:
        with suppress(Exception):
            portalocker.unlock(handle)
        handle.close()


# Linux's FICLONE ioctl: a copy-on-write clone on file systems that have it (btrfs, XFS).
_FICLONE = 0x40049409
_COPY_BLOCK = 1 << 24


def copy_file(source: str, target: str) -> str:
    """Copy one file, keeping its holes: Edge preallocates its files sparsely (an empty shard is
    about 100 MB long and 256 KB on disk), and a plain copy would write every hole out."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        with suppress(OSError, AttributeError, ImportError):
            import fcntl

            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
            return target
        size = os.fstat(src.fileno()).st_size
        position = 0
        while position < size:
            try:
                start = os.lseek(src.fileno(), position, os.SEEK_DATA)
                end = os.lseek(src.fileno(), start, os.SEEK_HOLE)
            except OSError:  # no data after `position` (ENXIO), or no hole support: copy the rest
                start, end = (size, size) if position else (0, size)
            src.seek(start)
            dst.seek(start)
            remaining = end - start
            while remaining > 0:
                block = src.read(min(remaining, _COPY_BLOCK))
                if not block:
                    break
                dst.write(block)
                remaining -= len(block)
            position = max(end, position + 1) if start < size else size
        dst.truncate(size)
    shutil.copystat(source, target)
    return target


def copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, copy_function=copy_file)


def remove_tree(path: Path) -> None:
    """Delete a folder: renamed away first, so a half-deleted one never looks like a real one."""
    if not path.exists():
        return
    trash = path.with_name(f".trash-{path.name}-{uuid.uuid4().hex[:8]}")
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


class Layout:
    """Paths of the embedded store under `root`."""

    def __init__(self, root: Path):
        self.root = root
        self.collections = root / "collections"
        self.aliases_file = root / "aliases.json"
        self.aliases_lock = root / "aliases.lock"

    def collection(self, name: str) -> Path:
        return self.collections / valid_name(name)

    def meta(self, name: str) -> Path:
        return self.collection(name) / "collection.json"

    def current(self, name: str) -> Path:
        return self.collection(name) / "CURRENT"

    def writer_lock(self, name: str) -> Path:
        return self.collection(name) / "writer.lock"

    def building(self, name: str) -> Path:
        return self.collection(name) / "building"

    def generation(self, name: str, generation: str) -> Path:
        return self.collection(name) / generation

    def generations(self, name: str) -> Iterator[tuple[int, Path]]:
        folder = self.collection(name)
        if not folder.exists():
            return
        for child in folder.iterdir():
            match = GENERATION.match(child.name)
            if match and child.is_dir():
                yield int(match.group(1)), child

    def next_generation(self, name: str) -> str:
        return f"g{max((n for n, _ in self.generations(name)), default=0) + 1:06d}"

    def collection_names(self) -> list[str]:
        if not self.collections.exists():
            return []
        return sorted(p.name for p in self.collections.iterdir() if (p / "CURRENT").exists() and NAME.match(p.name))

    def read_aliases(self) -> dict[str, str]:
        try:
            return dict(read_json(self.aliases_file))
        except FileNotFoundError:
            return {}

    def update_aliases(self, change: dict[str, str | None]) -> None:
        """Set (or, with None, remove) aliases under a lock, so concurrent changes do not lose each other."""
        self.root.mkdir(parents=True, exist_ok=True)
        handle = self.aliases_lock.open("a")
        try:
            portalocker.lock(handle, portalocker.LOCK_EX)
            aliases = self.read_aliases()
            for alias, target in change.items():
                if target is None:
                    aliases.pop(alias, None)
                else:
                    aliases[alias] = target
            write_json(self.aliases_file, dict(sorted(aliases.items())))
        finally:
            unlock(handle)

    def lock_writer(self, name: str) -> IO[str]:
        handle = lock_file(self.writer_lock(name), shared=False)
        if handle is None:
            raise StoreLockedError(
                f"Another process is writing collection {name!r} ({self.writer_lock(name)})",
                user_message=(
                    f"En annen indeksering (eller gjenoppretting) skriver til samlingen «{name}» nå. "
                    "Prøv igjen når den er ferdig."
                ),
            )
        return handle
