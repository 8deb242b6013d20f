"""`helpline kb`: check a knowledge-base folder, evaluate retrieval on a question set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from helpline.bots import calibrate as calibration
from helpline.bots import evaluate
from helpline.bots.dense import default_cache_dir
from helpline.bots.embeddings import default_embedder
from helpline.bots.kb import SUPPORTED_LANGUAGES, check_kb, load_kb
from helpline.bots.search import Searcher

app = typer.Typer(help="Help-center knowledge base tools.", no_args_is_help=True)


@app.command()
def check(
    directory: Annotated[Path, typer.Argument(help="Folder of Markdown articles.")],
    language: Annotated[list[str] | None, typer.Option(
        "--language", "-l", help="a language articles may be in, as in [languages] supported (repeat it); "
                                 "default: " + ", ".join(SUPPORTED_LANGUAGES))] = None,
) -> None:
    """Validate every article; print one line per problem (file: field: message)."""
    languages = tuple(language) if language else SUPPORTED_LANGUAGES
    problems = check_kb(directory, languages)
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        typer.echo(f"{len(problems)} problem(s)", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {len(load_kb(directory, languages))} articles")


@app.command("eval")
def eval_(
    questions: Annotated[Path, typer.Argument(help="Question set, JSON Lines.")],
    kb: Annotated[Path, typer.Option("--kb", help="Folder of Markdown articles.")] = Path("kb"),
    as_json: Annotated[bool, typer.Option("--json", help="One compact JSON object.")] = False,
    show_failures: Annotated[bool, typer.Option("--failures", help="Include the misses.")] = False,
    bm25_only: Annotated[bool, typer.Option("--bm25-only", help="Without dense retrieval.")] = False,
) -> None:
    """Run every question through the bot's retrieval and threshold; print the metrics."""
    searcher = _searcher(kb, bm25_only)
    outcomes = evaluate.run(searcher, evaluate.load_questions(questions))
    result = evaluate.metrics(outcomes)
    if show_failures:
        result["failures"] = evaluate.failures(outcomes)
    typer.echo(json.dumps(result, ensure_ascii=False, indent=None if as_json else 2))


@app.command("calibrate")
def calibrate_(
    questions: Annotated[Path, typer.Argument(help="The tuning question set, JSON Lines.")],
    kb: Annotated[Path, typer.Option("--kb", help="Folder of Markdown articles.")] = Path("kb"),
) -> None:
    """Print each language's `[hybrid]` table for bots/data/search.<lang>.toml (tuning set only)."""
    searcher = _searcher(kb, bm25_only=False)
    try:
        result = calibration.calibrate(searcher, evaluate.load_questions(questions))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for language, cal in result.items():
        typer.echo(f"# search.{language}.toml\n{calibration.as_toml(cal)}")


def _searcher(kb: Path, bm25_only: bool) -> Searcher:
    embedder = None if bm25_only else default_embedder()
    return Searcher(load_kb(kb), embedder=embedder, cache_dir=default_cache_dir())


if __name__ == "__main__":
    app()
