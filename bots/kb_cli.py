"""`helpline kb`: check a knowledge-base folder, evaluate retrieval on a question set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from helpline.bots import evaluate
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
) -> None:
    """Run every question through the bot's retrieval and threshold; print the metrics."""
    searcher = Searcher(load_kb(kb))
    outcomes = evaluate.run(searcher, evaluate.load_questions(questions))
    result = evaluate.metrics(outcomes)
    if show_failures:
        result["failures"] = evaluate.failures(outcomes)
    typer.echo(json.dumps(result, ensure_ascii=False, indent=None if as_json else 2))


if __name__ == "__main__":
    app()
