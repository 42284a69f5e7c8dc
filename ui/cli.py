"""`fagprat`: the command line, one surface among the others.

Every command that reports results takes `--json`; `ask` and `search` also
read many questions as JSON lines on standard input (models load once).
Heavy imports happen inside the commands, so `--help` stays instant.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from rag.errors import FagpratError
from ui.cli_store import register_store_commands

app = typer.Typer(
    name="fagprat",
    help="Fagprat: spørsmål og svar fra nasjonale retningslinjer og lokale prosedyrer, med kildehenvisninger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
feedback_app = typer.Typer(help="Tilbakemeldinger fra brukerne.", no_args_is_help=True)
users_app = typer.Typer(help="Brukere for innlogging med passord.", no_args_is_help=True)
teams_app = typer.Typer(help="Microsoft Teams-boten.", invoke_without_command=True)
app.add_typer(feedback_app, name="feedback")
app.add_typer(users_app, name="users")
app.add_typer(teams_app, name="teams")
register_store_commands(app)  # alias, collections, snapshot (ui/cli_store.py)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON")]
GroupsOption = Annotated[
    list[str] | None, typer.Option("--group", "-g", help="Access group of the asker (repeat); default: national only")
]
DocTypeOption = Annotated[list[str] | None, typer.Option("--doc-type", help="Only this document type (repeat)")]
PublisherOption = Annotated[list[str] | None, typer.Option("--publisher", help="Only this publisher (repeat)")]


def _settings():  # type: ignore[no-untyped-def]
    from rag.settings import get_settings

    try:
        return get_settings()
    except FagpratError as error:  # an invalid FAGPRAT_* value: one line that names it, no traceback
        typer.secho(error.user_message, fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from None


def _fail(error: FagpratError) -> typer.Exit:
    typer.secho(error.user_message, fg=typer.colors.RED, err=True)
    typer.echo(f"({error})", err=True)
    return typer.Exit(code=1)


def _emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, default=str))


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


# --- ingest ----------------------------------------------------------------------
@app.command()
def ingest(
    path: Annotated[Path | None, typer.Argument(help="Folder or file to index")] = None,
    prune: Annotated[bool, typer.Option(help="Remove documents whose files are gone")] = False,
    collection: Annotated[str | None, typer.Option(help="Write into this collection instead of the configured one")] = None,
    hapi: Annotated[
        list[str] | None, typer.Option(help="Fetch a Helsedirektoratet guideline (id or URL) first (repeat)")
    ] = None,
    hapi_out: Annotated[Path, typer.Option(help="Where fetched HAPI guidelines are saved")] = Path("data/hapi"),
    as_json: JsonOption = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
) -> None:
    """Index guidelines and procedures (PDF, DOCX, HTML, Markdown, HAPI JSON) into Qdrant."""
    from ingest.pipeline import ingest_path

    settings = _settings()
    try:
        if hapi:
            from ingest.hapi_client import fetch_guideline

            for guideline in hapi:
                saved = fetch_guideline(guideline, hapi_out, settings)
                typer.echo(f"Hentet {guideline} -> {saved}", err=True)
            path = path or hapi_out
        if path is None:
            raise typer.BadParameter("give a folder or file, or --hapi")
        report = ingest_path(settings, path, prune=prune, collection=collection, progress=progress and not as_json)
    except FagpratError as error:
        raise _fail(error) from error
    if as_json:
        _emit_json(report.as_dict())
    else:
        typer.echo(
            f"{report.files} filer: {report.indexed} indeksert, {report.unchanged} uendret, "
            f"{len(report.skipped)} hoppet over, {len(report.pruned)} fjernet; "
            f"{report.chunks_written} tekstbiter skrevet på {report.seconds:.1f} s "
            f"(samling «{report.collection}»)."
        )
        for skipped in report.skipped:
            typer.echo(f"  hoppet over {skipped.path}: {skipped.reason}")
    if report.nothing_done:
        raise typer.Exit(code=1)


@app.command()
def sources(as_json: JsonOption = False) -> None:
    """List the indexed documents."""
    from rag.store import Store

    try:
        docs = Store(_settings()).documents()
    except FagpratError as error:
        raise _fail(error) from error
    rows = [
        {
            "doc_id": d.get("doc_id"),
            "title": d.get("title"),
            "doc_type": d.get("doc_type"),
            "publisher": d.get("publisher"),
            "updated": d.get("updated"),
            "version": d.get("version"),
            "review_due": d.get("review_due"),
            "chunks": d.get("chunk_count"),
            "access_groups": d.get("access_groups"),
            "link": d.get("url") or d.get("source_path"),
        }
        for d in docs
    ]
    if as_json:
        _emit_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} dokumenter")
    for column in ("Tittel", "Type", "Dato", "Biter", "Tilgang"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["title"]), str(row["doc_type"] or ""), str(row["updated"] or ""), str(row["chunks"]),
            ", ".join(row["access_groups"] or []),
        )
    Console().print(table)


# --- ask and search ----------------------------------------------------------------
# Question fields a JSON line may set besides its text. Who asks and what they may see
# (`user`, `access_groups`) come from the command line: a wrapper that restricts a caller
# with -g/--user cannot be widened through the input, unless --per-line-identity says
# the input itself is trusted.
_LINE_FIELDS = ("history", "doc_types", "publishers", "model")
_IDENTITY_FIELDS = ("user", "access_groups")

PerLineIdentityOption = Annotated[
    bool,
    typer.Option(
        "--per-line-identity",
        help="Let each JSON line set its own user and access_groups (only for input you trust)",
    ),
]


@dataclass
class _Input:
    """One question to answer, or why a line of input could not become one."""

    question: Any = None  # rag.models.Question
    line: int | None = None
    id: Any = None
    error: str = ""
    detail: str = ""

    def reference(self) -> dict[str, Any]:
        """What identifies this input in an output line."""
        return {
            **({"line": self.line} if self.line is not None else {}),
            **({"id": self.id} if self.id is not None else {}),
        }


def _empty_question() -> typer.Exit:
    example = 'fagprat ask "Hvor ofte skal PVK inspiseres?"'
    typer.secho(f"Skriv et spørsmål først, f.eks. {example}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _read_inputs(question: str | None, defaults: dict[str, Any], *, per_line_identity: bool) -> list[_Input]:
    """One question from the argument, or one per JSON line on standard input."""
    from rag.models import Question

    if question is not None and question != "-":
        if not question.strip():
            raise _empty_question()
        return [_Input(Question(text=question, **defaults))]
    if sys.stdin.isatty():
        typer.echo("Leser spørsmål som JSON-linjer fra standard inn (Ctrl-D avslutter) …", err=True)
    stream = getattr(sys.stdin, "buffer", None)
    lines = stream if stream is not None else (line.encode("utf-8", "surrogateescape") for line in sys.stdin)
    inputs: list[_Input] = []
    ignored_identity = False
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            inputs.append(_Input(line=number, error="linjen er ikke gyldig UTF-8", detail=str(error)))
            continue
        if not text.strip():
            continue
        item, ignored = _parse_line(text, number, defaults, per_line_identity=per_line_identity)
        ignored_identity = ignored_identity or ignored
        inputs.append(item)
    if ignored_identity:
        typer.secho(
            "Merk: user og access_groups i inndatalinjene er ignorert; kommandolinjens -g/--user gjelder "
            "(--per-line-identity tillater dem for inndata du stoler på).",
            fg=typer.colors.YELLOW,
            err=True,
        )
    return inputs


def _parse_line(
    text: str, number: int, defaults: dict[str, Any], *, per_line_identity: bool
) -> tuple[_Input, bool]:
    """The input of one JSON line, and whether identity fields in it were ignored."""
    from pydantic import ValidationError

    from rag.models import Question

    try:
        record = json.loads(text)
    except ValueError as error:
        return _Input(line=number, error="linjen er ikke gyldig JSON", detail=str(error)), False
    if isinstance(record, str):
        record = {"question": record}
    if not isinstance(record, dict):
        kind = "null" if record is None else type(record).__name__
        return _Input(line=number, error=f"linjen må være et JSON-objekt eller en tekst, ikke {kind}"), False
    allowed = _LINE_FIELDS + (_IDENTITY_FIELDS if per_line_identity else ())
    ignored = not per_line_identity and any(key in record for key in _IDENTITY_FIELDS)
    fields = {**defaults, **{key: record[key] for key in allowed if key in record}}
    text_value = record.get("question", record.get("text", ""))
    try:
        question = Question(text=text_value, **fields)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return _Input(line=number, id=record.get("id"), error=f"ugyldig felt: {problems}"), ignored
    return _Input(question, line=number, id=record.get("id")), ignored


def _defaults(groups, doc_types, publishers, model, user) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "access_groups": groups or [],
        "doc_types": doc_types or [],
        "publishers": publishers or [],
        "model": model or "",
        "user": user,
    }


def _emit_error(item: _Input, message: str, detail: str = "") -> None:
    from rag.privacy import mask_identity_numbers_in

    line = {**item.reference(), "error": message, **({"detail": detail} if detail else {})}
    _emit_json(mask_identity_numbers_in(line))


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="The question; '-' or nothing reads JSON lines from stdin")] = None,
    groups: GroupsOption = None,
    doc_types: DocTypeOption = None,
    publishers: PublisherOption = None,
    model: Annotated[str | None, typer.Option(help="Named model set-up")] = None,
    user: Annotated[str, typer.Option(help="Who asks (audit log)")] = "cli",
    per_line_identity: PerLineIdentityOption = False,
    stream: Annotated[
        bool, typer.Option("--stream", help="Show the model's unverified draft while it writes (marked as a draft)")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Answer a question from the indexed guidelines, with sources."""
    from rag.service import get_service

    items = _read_inputs(
        question, _defaults(groups, doc_types, publishers, model, user), per_line_identity=per_line_identity
    )
    if not items:
        typer.secho("Ingen spørsmål på standard inn.", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)
    batch = question in (None, "-")
    try:
        service = get_service(_settings())
    except FagpratError as error:
        raise _fail(error) from error
    failures = 0
    for item in items:
        if item.error:
            failures += 1
            _emit_error(item, item.error, item.detail)
            continue
        try:
            if as_json or batch:
                payload = service.answer(item.question).model_dump(mode="json")
                _emit_json({**({"id": item.id} if item.id is not None else {}), **payload})
            else:
                _answer_in_terminal(service, item.question, show_draft=stream)
        except FagpratError as error:
            failures += 1
            if as_json or batch:
                _emit_error(item, error.user_message, str(error))
            else:
                raise _fail(error) from error
    if failures and failures == len(items):
        raise typer.Exit(code=1)


# Printed before and after the model's unverified draft (--stream).
_DRAFT_HEADER = "Utkast fra språkmodellen (ikke kontrollert, ikke et svar):"
_DRAFT_END = "— Slutt på utkastet. Bare svaret under er kontrollert mot kildene. —"
_DRAFT_BROKEN = "— Utkastet over ble avbrutt og er ikke et svar. —"


def _answer_in_terminal(service, question, *, show_draft: bool) -> None:  # type: ignore[no-untyped-def]
    """The verified answer; with `show_draft`, the model's tokens first, visibly marked as
    an unverified draft, and a clear line when the draft breaks off."""
    from rag.models import AnswerEvent, TokenEvent

    drafted = False
    try:
        for event in service.stream(question):
            if isinstance(event, TokenEvent) and show_draft:
                if not drafted:
                    typer.secho(_DRAFT_HEADER, fg=typer.colors.YELLOW, bold=True)
                    drafted = True
                typer.secho(event.text, nl=False, dim=True)
            elif isinstance(event, AnswerEvent):
                if drafted:
                    typer.echo("")
                    typer.secho(_DRAFT_END, fg=typer.colors.YELLOW)
                _print_answer(event.answer)
    except BaseException:
        if drafted:
            typer.echo("")
            typer.secho(_DRAFT_BROKEN, fg=typer.colors.RED, bold=True)
        raise


def _print_answer(answer) -> None:  # type: ignore[no-untyped-def]
    typer.echo("")
    typer.echo("")
    for notice in answer.notices:
        typer.secho(notice, fg=typer.colors.YELLOW)
    if answer.refused:
        typer.secho(answer.text, fg=typer.colors.YELLOW)
        return
    from ui.presenter import TEXTS

    texts = TEXTS[answer.language]
    typer.secho(texts.answer_heading, bold=True)
    typer.echo(answer.text)
    typer.echo("")
    typer.secho(f"{texts.sources}:", bold=True)
    for citation in answer.citations:
        p = citation.passage
        where = ", ".join(x for x in (p.heading, f"{texts.page} {p.pages}" if p.pages else "", str(p.updated or "")) if x)
        typer.echo(f"  [{citation.number}] {p.title} — {where}")
        typer.echo(f"      {p.link}")
        if p.review_overdue():
            typer.secho(f"      Revisjonsfristen ({p.review_due}) er passert.", fg=typer.colors.RED)
    if answer.uncited_sentences:
        typer.secho("Uten kildestøtte: " + " | ".join(answer.uncited_sentences), fg=typer.colors.YELLOW)


@app.command()
def search(
    question: Annotated[str | None, typer.Argument(help="The question; '-' or nothing reads JSON lines from stdin")] = None,
    groups: GroupsOption = None,
    doc_types: DocTypeOption = None,
    publishers: PublisherOption = None,
    top_k: Annotated[int | None, typer.Option(help="How many passages")] = None,
    user: Annotated[str, typer.Option(help="Who searches (audit log)")] = "cli",
    per_line_identity: PerLineIdentityOption = False,
    as_json: JsonOption = False,
) -> None:
    """Retrieval alone: the ranked passages and their sources."""
    from rag.service import get_service

    items = _read_inputs(
        question, _defaults(groups, doc_types, publishers, None, user), per_line_identity=per_line_identity
    )
    if not items:
        typer.secho("Ingen spørsmål på standard inn.", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)
    batch = question in (None, "-")
    settings = _settings()
    if top_k:
        settings = settings.model_copy(update={"top_k": top_k})
    try:
        service = get_service(settings)
    except FagpratError as error:
        raise _fail(error) from error
    failures = 0
    for item in items:
        if item.error:
            failures += 1
            _emit_error(item, item.error, item.detail)
            continue
        try:
            result = service.search(item.question)
        except FagpratError as error:
            failures += 1
            if as_json or batch:
                _emit_error(item, error.user_message, str(error))
                continue
            raise _fail(error) from error
        if as_json or batch:
            _emit_json(
                {
                    **({"id": item.id} if item.id is not None else {}),
                    "question": _masked(item.question.text),
                    "standalone_question": result.standalone_question,
                    "relevant": result.relevant,
                    "best_relevance": result.best_relevance,
                    "unknown_terms": result.unknown_terms,
                    "retrieval_ms": result.retrieval_ms,
                    "passages": [p.model_dump(mode="json") for p in result.passages],
                }
            )
            continue
        if result.unknown_terms:
            words = ", ".join(f"«{w}»" for w in result.unknown_terms)
            typer.secho(f"Ingen kilde du har tilgang til, nevner {words}.", fg=typer.colors.YELLOW)
        elif not result.relevant:
            typer.secho("Ingen treff over relevansgrensen.", fg=typer.colors.YELLOW)
        for rank, p in enumerate(result.passages, start=1):
            typer.secho(f"{rank}. {p.title} — {p.heading}  (relevans {p.relevance:.2f})", bold=True)
            typer.echo(f"   {p.link}{' s. ' + p.pages if p.pages else ''}")
            typer.echo("   " + p.text[:300].replace("\n", " ") + ("…" if len(p.text) > 300 else ""))
    if failures and failures == len(items):
        raise typer.Exit(code=1)


def _masked(text: str) -> str:
    from rag.privacy import mask_identity_numbers

    return mask_identity_numbers(text)[0]


# --- surfaces ------------------------------------------------------------------------
@app.command()
def ui(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    headless: Annotated[bool, typer.Option(help="Do not open a browser")] = False,
) -> None:
    """Start the web chat (Chainlit)."""
    from ui.server import run_chat

    run_chat(_settings(), host=host, port=port, headless=headless)


@teams_app.callback()
def teams(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default FAGPRAT_TEAMS_PORT)")] = None,
) -> None:
    """Start the Microsoft Teams bot endpoint."""
    if ctx.invoked_subcommand:
        return
    from ui.teams.server import serve

    settings = _settings()
    try:
        serve(settings, host=host, port=port or settings.teams_port)
    except FagpratError as error:
        raise _fail(error) from error


@teams_app.command("package")
def teams_package(
    out: Annotated[Path, typer.Option(help="Zip file to write")] = Path("fagprat-teams.zip"),
    endpoint: Annotated[str, typer.Option(help="Public messaging endpoint, e.g. https://fagprat.sykehus.no/api/messages")] = "",
) -> None:
    """Build the Teams app package (manifest + icons) for side-loading."""
    from ui.teams.package import build_package

    try:
        path = build_package(_settings(), out, endpoint_url=endpoint)
    except FagpratError as error:
        raise _fail(error) from error
    typer.echo(f"Skrev {path}")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument()],
    groups: Annotated[list[str], typer.Option("--group", "-g", help="Access group (repeat)")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Add or update a user with a bcrypt-hashed password."""
    from ui.auth import add_user

    settings = _settings()
    try:
        add_user(settings.resolved_users_file, username, password, groups)
    except ValueError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from error
    except FagpratError as error:
        raise _fail(error) from error
    typer.echo(f"Bruker «{username}» lagret i {settings.resolved_users_file}.")


@users_app.command("remove")
def users_remove(username: Annotated[str, typer.Argument()]) -> None:
    """Remove a password user (their chat history stays: see delete-history)."""
    from ui.auth import remove_user

    settings = _settings()
    try:
        removed = remove_user(settings.resolved_users_file, username)
    except FagpratError as error:
        raise _fail(error) from error
    if not removed:
        typer.secho(f"Brukeren «{username}» finnes ikke i {settings.resolved_users_file}.", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)
    typer.echo(f"Bruker «{username}» fjernet fra {settings.resolved_users_file}.")


@users_app.command("delete-history")
def users_delete_history(
    identifier: Annotated[str, typer.Argument(help="User name, or the e-mail/UPN of an Entra or proxy user")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Delete a user's chat history and feedback (threads, messages, votes, comments)."""
    from ui.chat_history import delete_user_history

    if not yes:
        typer.confirm(f"Slette all samtalehistorikk og alle tilbakemeldinger fra «{identifier}»?", abort=True)
    counts = delete_user_history(_settings().resolved_chat_database_url, identifier)
    typer.echo(
        f"Slettet for «{identifier}»: {counts['threads']} samtaler, {counts['steps']} meldinger, "
        f"{counts['feedbacks'] + counts['fagprat_feedback']} tilbakemeldinger."
    )


@feedback_app.command("export")
def feedback_export(
    out: Annotated[Path, typer.Option(help="File to write")] = Path("feedback.csv"),
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "csv",
) -> None:
    """Export thumbs up/down with question, answer, cited sources and model."""
    from ui.feedback import FeedbackStore, export_feedback

    if fmt not in ("csv", "jsonl"):
        raise typer.BadParameter("format must be csv or jsonl")
    count = export_feedback(FeedbackStore(_settings().resolved_chat_database_url), out, fmt=fmt)
    typer.echo(f"{count} tilbakemeldinger skrevet til {out}")


def _mount_eval() -> None:
    try:
        from eval.cli import app as eval_app
    except ImportError as exc:  # the eval extras are part of the install; say so if they are missing
        logging.getLogger(__name__).debug("eval commands unavailable: %s", exc)
        return
    app.add_typer(eval_app, name="eval", help="Evaluering: sammenlign modeller på egne spørsmål.")


_mount_eval()


if __name__ == "__main__":
    app()
