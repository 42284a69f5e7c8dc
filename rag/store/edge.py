"""Qdrant Edge (`qdrant-edge-py`): Qdrant's own Rust engine in-process.

Edge keeps one shard per folder and has no collections, aliases, or sharing
between processes. This engine adds them with copy-on-write generations (the
layout is in `edge_files.py`):

- Readers (the chat, the Teams bot, `fagprat search`, each its own process)
  open the *published* generation a collection's `CURRENT` file names. A
  published generation is never written again, so any number of processes read
  it at once. Before each read a reader compares `CURRENT`'s stat with what it
  opened (a few microseconds); when an ingest has published a new generation it
  opens that one and closes the old once no query of its own uses it.
- The one writer (an ingest, a restore; `writer.lock`) copies the published
  generation into `building/` on its first change, writes there, builds HNSW at
  the end when it changed enough, and publishes with a rename plus an atomic
  rewrite of `CURRENT`. Readers never see a half-written ingest, and a writer
  killed at any point leaves the published generation untouched; its
  `building/` is resumed by the next writer (checked first) or discarded.
- Generations nobody has open any more (each reader holds a shared lock on its
  generation's `readers.lock`) are deleted by the next writer or reader switch.

Edge shards are created without a write-ahead log: Edge 0.9 locks a shard's
WAL exclusively, which would allow one process per folder. Without it, a
published generation is shared, and a writer's changes are durable once
flushed (every `FLUSH_INTERVAL_S` and at the end). Measured with 0.9.0:
opening and closing a settled shard rewrites a few files with identical bytes
(tests/rag/test_store_edge.py); a writer killed with SIGKILL leaves a shard that
reloads, and the next writer completes it (tests/rag/test_store_contract.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from rag.errors import ConfigurationError, FagpratError, StoreUnavailableError
from rag.settings import Settings

from .edge_files import Layout, copy_tree, lock_file, read_json, remove_tree, stat_signature, unlock, valid_name, write_json
from .engine import Engine
from .types import (
    DENSE_VECTOR,
    INTEGER_INDEXES,
    KEYWORD_INDEXES,
    SPARSE_VECTOR,
    ChunkPoint,
    CollectionInfo,
    FusedRow,
    SparseVector,
    Where,
)

log = logging.getLogger(__name__)

STORE_FORMAT = 1
# A killed writer loses at most this much of its work (it is redone by the next ingest).
FLUSH_INTERVAL_S = 5.0
# Qdrant's defaults (KB of vector data): segments smaller than the indexing threshold stay
# unindexed and are searched exactly (about 6,500 384-d vectors: a few ms); a filter that leaves
# fewer vectors than the full-scan threshold is also answered exactly.
INDEXING_THRESHOLD_KB = 10_000
FULL_SCAN_THRESHOLD_KB = 10_000
# Edge's optimize() holds the GIL while it builds HNSW (minutes for 100k chunks). Below this
# many changed points it runs in-process (fast: no segment to index); above it, in a child
# process, so that the progress display keeps running.
CHILD_OPTIMIZE_MIN_CHANGES = 1000
# A reader that finds its generation being deleted (a writer just published) retries this often.
OPEN_ATTEMPTS = 100
OPEN_RETRY_S = 0.02


def _edge() -> Any:
    import qdrant_edge

    return qdrant_edge


def _filter(where: Where | None) -> Any:
    if where is None or (not where.must and not where.must_not):
        return None
    q = _edge()
    must = [q.FieldCondition(key, match=q.MatchAny(list(values))) for key, values in where.must.items()]
    must_not = [q.FieldCondition(key, match=q.MatchAny(list(values))) for key, values in where.must_not.items()]
    return q.Filter(must=must or None, must_not=must_not or None)


def _sparse(vector: SparseVector) -> Any:
    return _edge().SparseVector(list(vector.indices), list(vector.values))


def _call(what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
    """Edge raises bare Exceptions: name what failed, in our error type."""
    try:
        return function(*args, **kwargs)
    except FagpratError:
        raise
    except Exception as exc:  # noqa: BLE001 - Edge has no exception hierarchy
        raise StoreUnavailableError(f"Qdrant Edge: {what} failed: {exc}") from exc


def _load(path: Path) -> Any:
    return _call(f"opening {path}", _edge().EdgeShard.load, str(path))


class _Published:
    """One published generation, open in this process."""

    def __init__(self, generation: str, shard: Any, lock: IO[str]):
        self.generation = generation
        self.shard = shard
        self.lock = lock
        self.users = 0
        self.retired = False

    def close(self) -> None:
        with suppress(Exception):
            self.shard.close()
        unlock(self.lock)


class _Reader:
    """This process's view of one collection's published generation."""

    def __init__(self, engine: EdgeEngine, name: str):
        self.engine = engine
        self.name = name
        self.lock = threading.Lock()
        self.current: _Published | None = None
        self.signature: tuple[int, int, int] | None = None

    def acquire(self) -> _Published | None:
        with self.lock:
            signature = stat_signature(self.engine.layout.current(self.name))
            if signature != self.signature:
                self._switch(signature)
            if self.current is not None:
                self.current.users += 1
            return self.current

    def release(self, published: _Published | None) -> None:
        if published is None:
            return
        with self.lock:
            published.users -= 1
            if published.retired and published.users == 0:
                published.close()

    def _switch(self, signature: tuple[int, int, int] | None) -> None:
        generation = None
        if signature is not None:
            with suppress(FileNotFoundError, ValueError, KeyError):
                generation = read_json(self.engine.layout.current(self.name))["generation"]
        if generation is None:
            self._retire()
            self.signature = signature
            return
        if self.current is not None and self.current.generation == generation:
            self.signature = signature
            return
        opened = self.engine.open_published(self.name, generation)
        self._retire()
        self.current, self.signature = opened, signature
        self.engine.collect_garbage(self.name)

    def adopt(self, published: _Published) -> None:
        """Take over the generation a writer of this process just published."""
        with self.lock:
            self._retire()
            self.current = published
            self.signature = stat_signature(self.engine.layout.current(self.name))

    def _retire(self) -> None:
        old, self.current = self.current, None
        if old is not None:
            old.retired = True
            if old.users == 0:
                old.close()

    def close(self) -> None:
        with self.lock:
            self._retire()
            self.signature = None


class EdgeSession:
    """A write session on one collection: the writer lock, and the private copy once something changes."""

    def __init__(self, engine: EdgeEngine, name: str, progress: bool):
        self.engine = engine
        self.layout = engine.layout
        self.name = name
        self.progress = progress
        self.lock = self.layout.lock_writer(name)
        self.shard: Any = None
        self.changed = 0
        self._flushed = time.monotonic()
        try:
            current = read_json(self.layout.current(name))
        except FileNotFoundError:
            unlock(self.lock)
            raise ConfigurationError(f"Collection {name!r} does not exist") from None
        self.base: str = current["generation"]
        self._resume()

    # --- the private copy -----------------------------------------------------
    @property
    def building(self) -> Path:
        return self.layout.building(self.name)

    def _resume(self) -> None:
        """Continue from a `building/` an earlier writer left, if it was built on what is published now."""
        remove_tree(self.building.with_name("building.tmp"))
        if not self.building.exists():
            return
        try:
            state = read_json(self.building / "base.json")
            if state.get("base") != self.base:
                raise ValueError(f"built on {state.get('base')}, published is {self.base}")
            shard = _load(self.building / "shard")
            if not state.get("clean"):
                # Killed without a clean close: drop any point that lost its payload.
                q = _edge()
                shard.update(q.UpdateOperation.delete_points_by_filter(q.Filter(must=[q.IsEmptyCondition("doc_id")])))
            self.shard = shard
            self.changed = int(state.get("changed", 1)) or 1  # it has unpublished changes
            self._write_state(clean=False)
            log.info("Resuming the unpublished changes of an earlier ingest in %s", self.building)
        except (FagpratError, OSError, ValueError, KeyError) as exc:
            log.warning("Discarding an unpublished ingest in %s: %s", self.building, exc)
            remove_tree(self.building)

    def _write_state(self, *, clean: bool) -> None:
        write_json(self.building / "base.json", {"base": self.base, "clean": clean, "changed": self.changed})

    def writable(self) -> Any:
        if self.shard is None:
            tmp = self.building.with_name("building.tmp")
            remove_tree(tmp)
            source = self.layout.generation(self.name, self.base) / "shard"
            # A real copy (holes kept): Edge writes its files in place, so links would change the published one.
            _call("copying the published generation", copy_tree, source, tmp / "shard")
            write_json(tmp / "base.json", {"base": self.base, "clean": False, "changed": 0})
            os.replace(tmp, self.building)
            self.shard = _load(self.building / "shard")
        return self.shard

    def readable(self) -> Any:
        """The session's own writes once there are any; else the published generation."""
        return self.shard

    def wrote(self, points: int) -> None:
        self.changed += points
        if time.monotonic() - self._flushed > FLUSH_INTERVAL_S:
            _call("flush", self.shard.flush)
            self._write_state(clean=False)
            self._flushed = time.monotonic()

    # --- the end ----------------------------------------------------------------
    def commit(self) -> None:
        if self.shard is None:
            unlock(self.lock)
            return
        try:
            self._optimize()
            _call("flush", self.shard.flush)
        except BaseException:
            self.abort()  # closes the copy, keeps it to resume, releases the lock
            raise
        try:
            self.shard.close()
            self.shard = None
            (self.building / "base.json").unlink()
            self.engine.publish(self.name, self.building)
        finally:
            unlock(self.lock)

    def abort(self) -> None:
        """Keep what was written for the next writer to resume; publish nothing."""
        try:
            if self.shard is not None:
                with suppress(Exception):
                    self.shard.flush()
                    self.shard.close()
                    self._write_state(clean=True)
                self.shard = None
        finally:
            unlock(self.lock)

    def _optimize(self) -> None:
        """Build HNSW (and merge or vacuum segments) where Edge's thresholds say so."""
        if self.changed < CHILD_OPTIMIZE_MIN_CHANGES:
            _call("optimize", self.shard.optimize)
            return
        _call("flush", self.shard.flush)
        self.shard.close()
        self.shard = None
        self._write_state(clean=True)
        optimize_in_child(self.building / "shard", self.lock, progress=self.progress, points=self.changed)
        self.shard = _load(self.building / "shard")


def optimize_in_child(shard: Path, writer_lock: IO[str], *, progress: bool, points: int) -> None:
    """Run Edge's optimize() in a child process and show the time it takes.

    The child inherits the writer lock's file, so no other writer starts while it
    runs, and dies with this process (Linux), so it never writes alone."""
    from tqdm import tqdm

    command = [sys.executable, "-m", "rag.store.edge_optimize", str(shard)]
    prctl = _prctl()  # resolved here: the child may not import or take locks between fork and exec

    def die_with_parent() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    child = subprocess.Popen(command, pass_fds=(writer_lock.fileno(),), preexec_fn=die_with_parent, stderr=subprocess.PIPE)
    with tqdm(
        desc=f"Bygger søkeindeks (HNSW) etter {points} endrede tekstbiter",
        bar_format="{desc}: {elapsed}",
        disable=not progress,
    ) as bar:
        while child.poll() is None:
            time.sleep(0.5)
            bar.update()
    if child.returncode != 0:
        detail = (child.stderr.read() if child.stderr else b"").decode(errors="replace").strip().splitlines()[-1:]
        raise StoreUnavailableError(f"Building the HNSW index failed ({child.returncode}): {' '.join(detail)}")


_PR_SET_PDEATHSIG = 1


def _prctl() -> Any:
    """Linux's prctl(2), or None elsewhere."""
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


class EdgeEngine(Engine):
    kind = "edge"

    def __init__(self, settings: Settings):
        self.layout = Layout(settings.store_path)
        self.legacy_path = settings.qdrant_path
        self.hnsw_m = settings.hnsw_m
        self.hnsw_ef_construct = settings.hnsw_ef_construct
        self.hnsw_ef = settings.hnsw_ef
        self._readers: dict[str, _Reader] = {}
        self._lock = threading.Lock()
        self._alias_cache: tuple[tuple[int, int, int] | None, dict[str, str]] = (None, {})
        self._meta_cache: dict[str, tuple[tuple[int, int, int] | None, dict[str, Any]]] = {}
        self._gc_threads: list[threading.Thread] = []

    # --- names ------------------------------------------------------------------
    def aliases(self) -> dict[str, str]:
        signature = stat_signature(self.layout.aliases_file)
        if signature != self._alias_cache[0]:
            self._alias_cache = (signature, self.layout.read_aliases())
        return dict(self._alias_cache[1])

    def resolve(self, name: str) -> str:
        return self.aliases().get(valid_name(name), name)

    def legacy_index(self) -> Path | None:
        """The folder of qdrant-client's local mode from an earlier fagprat, if it holds an index."""
        path = self.legacy_path
        return path if (path / "meta.json").exists() or (path / "collection").is_dir() else None

    # --- collections --------------------------------------------------------------
    def _meta(self, name: str) -> dict[str, Any] | None:
        path = self.layout.meta(name)
        signature = stat_signature(path)
        cached = self._meta_cache.get(name)
        if cached is None or cached[0] != signature:
            try:
                cached = (signature, read_json(path))
            except (FileNotFoundError, ValueError):
                cached = (signature, {})
            self._meta_cache[name] = cached
        return cached[1] or None

    def info(self, name: str) -> CollectionInfo | None:
        collection = self.resolve(name)
        meta = self._meta(collection)
        try:
            current = read_json(self.layout.current(collection))
        except (FileNotFoundError, ValueError):
            return None
        if meta is None:
            return None
        aliases = tuple(sorted(a for a, target in self.aliases().items() if target == collection))
        return CollectionInfo(collection, int(meta["dimension"]), meta.get("identity"), int(current.get("points", 0)), aliases)

    def collections(self) -> list[CollectionInfo]:
        return [info for name in self.layout.collection_names() if (info := self.info(name)) and info.name == name]

    def create(self, name: str, dimension: int, identity: dict[str, str] | None) -> None:
        valid_name(name)
        if name in self.aliases():
            raise ConfigurationError(f"{name!r} is an alias", user_message=f"«{name}» er et alias, ikke en samling.")
        folder = self.layout.collection(name)
        folder.mkdir(parents=True, exist_ok=True)
        lock = self.layout.lock_writer(name)
        try:
            if self.layout.current(name).exists():
                return
            for _, leftover in list(self.layout.generations(name)):
                remove_tree(leftover)
            remove_tree(self.layout.building(name))
            write_json(
                self.layout.meta(name),
                {
                    "format": STORE_FORMAT,
                    "name": name,
                    "dimension": dimension,
                    "identity": identity,
                    "hnsw": {"m": self.hnsw_m, "ef_construct": self.hnsw_ef_construct},
                    "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                },
            )
            generation = "g000001"
            shard_path = self.layout.generation(name, generation) / "shard"
            shard = _call("creating a shard", _edge().EdgeShard.create, str(shard_path), self._config(dimension))
            q = _edge()
            for field in KEYWORD_INDEXES:
                shard.update(q.UpdateOperation.create_field_index(field, q.PayloadSchemaType.Keyword))
            for field in INTEGER_INDEXES:
                shard.update(q.UpdateOperation.create_field_index(field, q.PayloadSchemaType.Integer))
            shard.flush()
            shard.close()
            published = self.open_published(name, generation, settle=True)
            write_json(self.layout.current(name), {"generation": generation, "points": 0, "format": STORE_FORMAT})
            self._reader(name).adopt(published)
        finally:
            unlock(lock)

    def _config(self, dimension: int) -> Any:
        q = _edge()
        return q.EdgeConfig(
            vectors={DENSE_VECTOR: q.EdgeVectorParams(size=dimension, distance=q.Distance.Cosine)},
            sparse_vectors={SPARSE_VECTOR: q.EdgeSparseVectorParams(modifier=q.Modifier.Idf)},
            hnsw_config=q.HnswIndexConfig(
                m=self.hnsw_m, ef_construct=self.hnsw_ef_construct, full_scan_threshold=FULL_SCAN_THRESHOLD_KB
            ),
            optimizers=q.EdgeOptimizersConfig(indexing_threshold=INDEXING_THRESHOLD_KB),
            wal_enabled=False,
        )

    def set_alias(self, alias: str, collection: str) -> None:
        valid_name(alias, "alias")
        if self.info(valid_name(collection)) is None or collection in self.aliases():
            raise ConfigurationError(
                f"Collection {collection!r} does not exist", user_message=f"Samlingen «{collection}» finnes ikke."
            )
        if self.layout.current(alias).exists():
            raise ConfigurationError(
                f"{alias!r} is a collection", user_message=f"«{alias}» er en samling; et alias må ha et annet navn."
            )
        self.layout.update_aliases({alias: collection})

    def delete_alias(self, alias: str) -> None:
        self.layout.update_aliases({valid_name(alias, "alias"): None})

    def delete_collection(self, name: str) -> None:
        valid_name(name)
        users = sorted(a for a, target in self.aliases().items() if target == name)
        if users:
            raise ConfigurationError(
                f"Aliases {users} point at {name!r}",
                user_message=f"Aliaset «{users[0]}» peker på «{name}»: flytt det først (fagprat alias).",
            )
        folder = self.layout.collection(name)
        if not folder.exists():
            return
        lock = self.layout.lock_writer(name)
        try:
            remove_tree(folder)
        finally:
            unlock(lock)
        with self._lock:
            reader = self._readers.pop(name, None)
        if reader is not None:
            reader.close()

    # --- published generations -------------------------------------------------------
    def open_published(self, name: str, generation: str, *, settle: bool = False) -> _Published:
        """Open a generation and hold its shared reader lock. With `settle`, it is the writer
        opening the generation it is about to publish (Edge folds its journals into the files
        on this first open, so later readers rewrite nothing but identical bytes)."""
        for _ in range(OPEN_ATTEMPTS):
            folder = self.layout.generation(name, generation)
            try:
                lock = lock_file(folder / "readers.lock", shared=True)
            except FileNotFoundError:
                lock = None
            if lock is not None:
                if (folder / "shard").exists():
                    try:
                        return _Published(generation, _load(folder / "shard"), lock)
                    except BaseException:
                        unlock(lock)
                        raise
                unlock(lock)
            if settle:
                break
            time.sleep(OPEN_RETRY_S)
            with suppress(FileNotFoundError, ValueError, KeyError):
                generation = read_json(self.layout.current(name))["generation"]
        raise StoreUnavailableError(f"Could not open a published generation of {name!r}")

    def publish(self, name: str, folder: Path) -> int:
        """Make `folder` (a closed shard in `folder/shard`) the collection's current generation;
        the caller holds the writer lock. Returns its point count."""
        generation = self.layout.next_generation(name)
        os.replace(folder, self.layout.generation(name, generation))  # not yet current: no reader opens it
        published = self.open_published(name, generation, settle=True)
        points = int(_call("count", published.shard.count, _edge().CountRequest(exact=True)))
        write_json(
            self.layout.current(name),
            {
                "generation": generation,
                "points": points,
                "published": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "format": STORE_FORMAT,
            },
        )
        # This process reads the new generation through the shard it just opened.
        self._reader(name).adopt(published)
        self.collect_garbage(name)
        return points

    def collect_garbage(self, name: str) -> None:
        """Delete, in the background, generations that are not current and that no process has
        open (deleting a shard's files takes a while; nobody needs to wait for it)."""
        thread = threading.Thread(target=self.collect_garbage_now, args=(name,), name="fagprat-store-gc", daemon=True)
        thread.start()
        self._gc_threads = [t for t in self._gc_threads if t.is_alive()] + [thread]

    def collect_garbage_now(self, name: str) -> None:
        for leftover in self.layout.collection(name).glob(".trash-*"):
            shutil.rmtree(leftover, ignore_errors=True)  # a deletion that was interrupted
        try:
            current = read_json(self.layout.current(name))["generation"]
        except (FileNotFoundError, ValueError, KeyError):
            return
        for _, folder in list(self.layout.generations(name)):
            if folder.name == current:
                continue
            try:
                lock = lock_file(folder / "readers.lock", shared=False)
            except FileNotFoundError:
                continue
            if lock is None:
                continue  # someone still reads it
            try:
                remove_tree(folder)
            except OSError as exc:
                log.warning("Could not delete %s: %s", folder, exc)
            finally:
                unlock(lock)

    def _reader(self, name: str) -> _Reader:
        with self._lock:
            reader = self._readers.get(name)
            if reader is None:
                reader = self._readers[name] = _Reader(self, name)
            return reader

    @contextmanager
    def _read(self, session: EdgeSession | None, name: str) -> Iterator[Any]:
        if session is not None and session.readable() is not None:
            yield session.readable()
            return
        reader = self._reader(self.resolve(name))
        published = reader.acquire()
        try:
            yield published.shard if published else None
        finally:
            reader.release(published)

    # --- writing ----------------------------------------------------------------------
    @contextmanager
    def writing(self, name: str, *, progress: bool = False) -> Iterator[EdgeSession]:
        session = EdgeSession(self, self.resolve(name), progress)
        try:
            yield session
        except BaseException:
            session.abort()
            raise
        session.commit()

    def upsert(self, session: EdgeSession, name: str, points: list[ChunkPoint]) -> None:
        q = _edge()
        shard = session.writable()
        edge_points = [
            q.Point(p.id, {DENSE_VECTOR: list(p.dense), SPARSE_VECTOR: _sparse(p.sparse)}, p.payload) for p in points
        ]
        _call("upsert", shard.update, q.UpdateOperation.upsert_points(edge_points))
        session.wrote(len(points))

    def delete(self, session: EdgeSession, name: str, where: Where) -> None:
        q = _edge()
        flt = _filter(where)
        with self._read(session, name) as shard:
            matching = 0 if shard is None else int(shard.count(q.CountRequest(exact=True, filter=flt)))
        if not matching:
            return  # nothing to delete: no copy of the published generation needed
        _call("delete", session.writable().update, q.UpdateOperation.delete_points_by_filter(flt))
        session.wrote(matching)

    # --- reading ------------------------------------------------------------------------
    def count(self, session: EdgeSession | None, name: str, where: Where | None) -> int:
        with self._read(session, name) as shard:
            if shard is None:
                return 0
            return int(_call("count", shard.count, _edge().CountRequest(exact=True, filter=_filter(where))))

    def scroll(
        self, session: EdgeSession | None, name: str, where: Where | None, fields: Sequence[str]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        q = _edge()
        with self._read(session, name) as shard:
            if shard is None:
                return
            offset = None
            while True:
                request = q.ScrollRequest(offset=offset, limit=512, filter=_filter(where), with_payload=list(fields), with_vector=False)
                records, offset = _call("scroll", shard.scroll, request)
                for record in records:
                    yield str(record.id), dict(record.payload or {})
                if offset is None:
                    return

    def facet(self, session: EdgeSession | None, name: str, key: str, where: Where | None) -> dict[str, int]:
        q = _edge()
        with self._read(session, name) as shard:
            if shard is None:
                return {}
            response = _call("facet", shard.facet, q.FacetRequest(key, limit=100_000, exact=True, filter=_filter(where)))
            return {str(hit.value): int(hit.count) for hit in response.hits}

    def terms_present(self, name: str, indices: Sequence[int], where: Where) -> set[int]:
        if not indices:
            return set()
        q = _edge()
        flt = _filter(where)
        requests = [
            q.QueryRequest(
                limit=1,
                query=q.Query.Nearest(q.SparseVector([index], [1.0]), using=SPARSE_VECTOR),
                filter=flt,
                with_payload=False,
                with_vector=False,
            )
            for index in indices
        ]
        with self._read(None, name) as shard:
            if shard is None:
                return set()
            results = _call("query", shard.query_batch, q.QueryBatchRequest(requests))
        return {index for index, points in zip(indices, results, strict=True) if points}

    def hybrid(
        self,
        name: str,
        dense: Sequence[float],
        sparse: SparseVector,
        where: Where,
        *,
        dense_candidates: int,
        sparse_candidates: int,
        fuse: Callable[[list[tuple[str, float]], list[tuple[str, float]]], list[tuple[str, float]]],
    ) -> list[FusedRow]:
        q = _edge()
        flt = _filter(where)
        requests = [
            q.QueryRequest(
                limit=dense_candidates,
                query=q.Query.Nearest(list(dense), using=DENSE_VECTOR),
                filter=flt,
                params=q.SearchParams(hnsw_ef=self.hnsw_ef),
                with_payload=False,
                with_vector=False,
            )
        ]
        if sparse.indices:
            requests.append(
                q.QueryRequest(
                    limit=sparse_candidates,
                    query=q.Query.Nearest(_sparse(sparse), using=SPARSE_VECTOR),
                    filter=flt,
                    with_payload=False,
                    with_vector=False,
                )
            )
        with self._read(None, name) as shard:
            if shard is None:
                return []
            results = _call("query", shard.query_batch, q.QueryBatchRequest(requests))
            dense_hits = [(str(p.id), float(p.score)) for p in results[0]]
            sparse_hits = [(str(p.id), float(p.score)) for p in results[1]] if sparse.indices else []
            fused = fuse(dense_hits, sparse_hits)
            records = _call("retrieve", shard.retrieve, [i for i, _ in fused], with_payload=True, with_vector=[DENSE_VECTOR])
        sparse_scores = dict(sparse_hits)
        found = {str(r.id): r for r in records}
        rows: list[FusedRow] = []
        for point_id, score in fused:
            record = found.get(point_id)
            if record is not None:
                vector = (record.vector or {}).get(DENSE_VECTOR)
                rows.append((point_id, score, sparse_scores.get(point_id, 0.0), dict(record.payload or {}), vector))
        return rows

    def dense(self, name: str, vector: Sequence[float], where: Where | None, limit: int, *, exact: bool) -> list[tuple[str, float]]:
        q = _edge()
        request = q.QueryRequest(
            limit=limit,
            query=q.Query.Nearest(list(vector), using=DENSE_VECTOR),
            filter=_filter(where),
            params=q.SearchParams(hnsw_ef=self.hnsw_ef, exact=exact),
            with_payload=False,
            with_vector=False,
        )
        with self._read(None, name) as shard:
            if shard is None:
                return []
            return [(str(p.id), float(p.score)) for p in _call("query", shard.query, request)]

    def details(self, name: str) -> dict[str, Any]:
        """The published generation as Edge sees it: segments, points, vectors in an index
        (sparse vectors always are; dense ones once HNSW is built)."""
        collection = self.resolve(name)
        reader = self._reader(collection)
        published = reader.acquire()
        if published is None:
            return {}
        try:
            info = published.shard.info()
            return {
                "generation": published.generation,
                "segments": info.segments_count,
                "points": info.points_count,
                "indexed_vectors": info.indexed_vectors_count,
            }
        finally:
            reader.release(published)

    def close(self) -> None:
        with self._lock:
            readers = list(self._readers.values())
            self._readers.clear()
        for reader in readers:
            reader.close()
        for thread in self._gc_threads:
            thread.join(timeout=30)
