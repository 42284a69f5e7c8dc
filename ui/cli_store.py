"""`fagprat alias`, `fagprat collections`, `fagprat snapshot`: looking after the store.

The same commands work on the embedded store (Qdrant Edge under the data
folder) and on a Qdrant server (`FAGPRAT_QDRANT_URL`); see docs/deployment.md
for re-indexing without downtime and for backups.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from rag.errors import FagpratError

collections_app = typer.Typer(help="Samlinger i kunnskapsbasen (liste, slette).", invoke_without_command=True)
snapshot_app = typer.Typer(help="Øyeblikksbilder (sikkerhetskopi) av kunnskapsbasen.", no_args_is_help=True)


def _settings():  # type: ignore[no-untyped-def]
    from rag.settings import get_settings

    return get_settings()


def _engine():  # type: ignore[no-untyped-def]
    from rag.store import get_engine

    return get_engine(_settings())


def _fail(error: FagpratError) -> typer.Exit:
    typer.secho(error.user_message, fg=typer.colors.RED, err=True)
    typer.echo(f"({error})", err=True)
    return typer.Exit(code=1)


def _emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, default=str))


def alias(
    name: Annotated[str, typer.Argument(help="Alias the app reads (FAGPRAT_COLLECTION)")],
    target: Annotated[str, typer.Argument(help="Collection it should point at")],
) -> None:
    """Point an alias at a collection: re-index without downtime."""
    try:
        _engine().set_alias(name, target)
    except FagpratError as error:
        raise _fail(error) from error
    typer.echo(f"«{name}» peker nå på «{target}».")


@collections_app.callback()
def collections(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print as JSON")] = False) -> None:
    """List the collections: points, embedder, aliases."""
    if ctx.invoked_subcommand:
        return
    try:
        infos = _engine().collections()
    except FagpratError as error:
        raise _fail(error) from error
    rows = [
        {
            "collection": i.name,
            "points": i.points,
            "dimension": i.dimension,
            "embedder": (i.identity or {}).get("model", "(ukjent)"),
            "identity": i.identity,
            "aliases": list(i.aliases),
        }
        for i in infos
    ]
    if as_json:
        _emit_json(rows)
        return
    if not rows:
        typer.echo("Ingen samlinger.")
    for row in rows:
        aliases = f"  (alias: {', '.join(row['aliases'])})" if row["aliases"] else ""
        typer.echo(f"{row['collection']}: {row['points']} tekstbiter, {row['embedder']}{aliases}")


@collections_app.command("delete")
def collections_delete(
    name: Annotated[str, typer.Argument(help="Collection to delete (no alias may point at it)")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False,
) -> None:
    """Delete a collection, e.g. the old one after a re-index."""
    if not yes:
        typer.confirm(f"Slette samlingen «{name}» for godt?", abort=True)
    try:
        _engine().delete_collection(name)
    except FagpratError as error:
        raise _fail(error) from error
    typer.echo(f"Samlingen «{name}» er slettet.")


@snapshot_app.command("create")
def snapshot_create(
    collection: Annotated[str | None, typer.Option(help="Collection or alias (default FAGPRAT_COLLECTION)")] = None,
    out: Annotated[Path | None, typer.Option(help="A .tar.gz file, or a folder (default <data_dir>/snapshots/)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON")] = False,
) -> None:
    """Write a consistent snapshot of a collection (while the chat and ingests keep running)."""
    from rag.store.snapshot import create_snapshot

    try:
        info = create_snapshot(_engine(), collection or _settings().collection, out)
    except FagpratError as error:
        raise _fail(error) from error
    if as_json:
        _emit_json(info.as_dict())
    else:
        typer.echo(f"Skrev {info.path}: samlingen «{info.collection}», {info.points} tekstbiter.")


@snapshot_app.command("restore")
def snapshot_restore(
    path: Annotated[Path, typer.Argument(help="Snapshot file (from fagprat snapshot create)")],
    collection: Annotated[str | None, typer.Option(help="Restore as this collection (default: the one it was taken of)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON")] = False,
) -> None:
    """Restore a snapshot: it replaces the collection's content; running chats switch to it."""
    from rag.store.snapshot import restore_snapshot

    try:
        info = restore_snapshot(_engine(), path, collection)
    except FagpratError as error:
        raise _fail(error) from error
    if as_json:
        _emit_json(info.as_dict())
    else:
        typer.echo(f"Gjenopprettet «{info.collection}» fra {path}: {info.points} tekstbiter.")


def register_store_commands(app: typer.Typer) -> None:
    app.command()(alias)
    app.add_typer(collections_app, name="collections")
    app.add_typer(snapshot_app, name="snapshot")
