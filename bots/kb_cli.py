"""`helpline kb`: check a knowledge-base folder, evaluate retrieval on a question set, move
approved example phrasings between deployments."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import redis.asyncio as redis
import typer

from helpline.base.commands import RedisOption, fail, with_redis
from helpline.bots import calibrate as calibration
from helpline.bots import evaluate
from helpline.bots.dense import default_cache_dir
from helpline.bots.embeddings import default_embedder
from helpline.bots.examples import (
    Example,
    ExampleFileError,
    ExampleStore,
    Source,
    Status,
    clean,
    example_id,
    export_line,
    parse_lines,
)
from helpline.bots.kb import SUPPORTED_LANGUAGES, KBError, KnowledgeBase, check_kb, load_kb
from helpline.bots.search import Searcher

app = typer.Typer(help="Help-center knowledge base tools.", no_args_is_help=True)
examples_app = typer.Typer(
    help="Example phrasings agents taught the bot (approved ones answer questions).", no_args_is_help=True
)
app.add_typer(examples_app, name="examples")


@app.command()
def check(
    directory: Annotated[Path, typer.Argument(help="Folder of Markdown articles.")],
    language: Annotated[
        list[str] | None,
        typer.Option(
            "--language",
            "-l",
            help="a language articles may be in, as in \\[languages] supported (repeat it); "
            "default: " + ", ".join(SUPPORTED_LANGUAGES),
        ),
    ] = None,
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
    show_failures: Annotated[bool, typer.Option("--failures", help="Include the misses (counted by kind).")] = False,
    bm25_only: Annotated[bool, typer.Option("--bm25-only", help="Without dense retrieval.")] = False,
    examples: Annotated[
        Path | None,
        typer.Option(
            "--examples",
            help="Approved examples to answer with: JSON Lines as `kb examples export` writes them, "
            "or a question set (its answerable questions become examples of their article).",
        ),
    ] = None,
    drop: Annotated[
        float,
        typer.Option(
            "--drop",
            help="Evaluate on smaller knowledge bases: remove this fraction of the articles (e.g. 0.5), "
            "their questions become out of scope; the mean over --seeds draws.",
        ),
    ] = 0.0,
    seeds: Annotated[int, typer.Option("--seeds", help="How many draws of removed articles with --drop.")] = 5,
) -> None:
    """Run every question through the bot's retrieval and threshold; print the metrics.

    With --drop, the knowledge base is made smaller instead, once per seed (0 .. --seeds - 1): that
    fraction of its articles is removed in every language and their questions count as out of
    scope. The metrics are then the mean over the seeds, and `runs` has each seed's removed
    articles and metrics: how the confidence holds on a knowledge base it was not tuned on."""
    if not 0.0 <= drop < 1.0:
        raise fail(f"--drop must be at least 0 and below 1, not {drop}")
    if seeds < 1:
        raise fail(f"--seeds must be at least 1, not {seeds}")
    loaded = _questions(questions)  # a bad file is named before the knowledge base is embedded
    approved = _examples_file(examples) if examples is not None else None
    searcher = _searcher(kb, bm25_only)
    if approved is not None:
        searcher.use_examples(approved)
    if not drop:
        outcomes = evaluate.run(searcher, loaded)
        result = evaluate.metrics(outcomes)
        if show_failures:
            result["misses"] = evaluate.misses(outcomes)
            result["failures"] = evaluate.failures(outcomes)
    else:
        runs: list[dict[str, object]] = []
        for seed in range(seeds):
            smaller, remapped, dropped = evaluate.drop_articles(load_kb(kb), loaded, drop, seed)
            variant = searcher.over(smaller)
            if approved is not None:
                variant.use_examples(approved)
            outcomes = evaluate.run(variant, remapped)
            run: dict[str, object] = {"seed": seed, "dropped": list(dropped), **evaluate.metrics(outcomes)}
            if show_failures:
                run["misses"] = evaluate.misses(outcomes)
            runs.append(run)
        result = evaluate.averaged(
            [{k: v for k, v in r.items() if k not in ("seed", "dropped", "misses")} for r in runs]
        )
        result["drop"] = {"fraction": drop, "seeds": seeds}
        result["runs"] = runs
    result["setup"] = evaluate.setup(searcher, loaded)
    typer.echo(json.dumps(result, ensure_ascii=False, indent=None if as_json else 2))


CALIBRATION_SEEDS = 1000  # draws of removed articles apart from the ones `kb eval --drop` makes (seeds 0, 1, ...)


def calibration_variants(
    searcher: Searcher,
    kb: KnowledgeBase,
    questions: list[evaluate.Question],
    others: list[tuple[KnowledgeBase, list[evaluate.Question]]],
    drop: float,
    seeds: int,
) -> list[tuple[Searcher, list[evaluate.Question]]]:
    """What `calibrate` learns from besides `searcher` (over `kb`) and `questions`: `seeds` smaller
    versions of `kb` (`drop` of the articles removed; none for 0), and each of `others` (another
    help center with its own questions) with as many smaller versions of it."""
    variants: list[tuple[Searcher, list[evaluate.Question]]] = []
    for articles, asked, itself in [(kb, questions, True), *((other, qs, False) for other, qs in others)]:
        versions = [] if itself else [(articles, asked)]
        for seed in range(seeds if drop else 0):
            smaller, remapped, _ = evaluate.drop_articles(articles, asked, drop, CALIBRATION_SEEDS + seed)
            versions.append((smaller, remapped))
        variants.extend((searcher.over(version), its_questions) for version, its_questions in versions)
    return variants


@app.command("calibrate")
def calibrate_(
    questions: Annotated[list[Path], typer.Argument(help="The tuning question sets, JSON Lines (one or more).")],
    kb: Annotated[Path, typer.Option("--kb", help="Folder of Markdown articles.")] = Path("kb"),
    drop: Annotated[
        float,
        typer.Option(
            "--drop",
            help="Also learn from smaller knowledge bases: this fraction of the articles removed "
            "(their questions out of scope), once per --seeds draw; 0: the full one alone.",
        ),
    ] = 0.5,
    seeds: Annotated[int, typer.Option("--seeds", help="How many smaller knowledge bases with --drop.")] = 4,
    also: Annotated[
        list[Path] | None,
        typer.Option(
            "--also",
            help="Another help center to learn from, a folder of articles with its questions in "
            "questions.jsonl (repeatable); with --drop, its smaller versions too.",
        ),
    ] = None,
) -> None:
    """Print each language's `\\[hybrid]` table for bots/data/search.<lang>.toml (tuning sets only)."""
    if not 0.0 <= drop < 1.0:
        raise fail(f"--drop must be at least 0 and below 1, not {drop}")
    loaded = [q for path in questions for q in _questions(path)]
    searcher = _searcher(kb, bm25_only=False)
    others = [(_kb(folder), _questions(folder / "questions.jsonl")) for folder in also or []]
    variants = calibration_variants(searcher, load_kb(kb), loaded, others, drop, seeds)
    try:
        result = calibration.calibrate(searcher, loaded, variants)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for language, cal in result.items():
        typer.echo(f"# search.{language}.toml\n{calibration.as_toml(cal)}")


def _questions(path: Path) -> list[evaluate.Question]:
    """A question set, or one line naming what is wrong with it."""
    try:
        return evaluate.load_questions(path)
    except OSError as exc:
        raise fail(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise fail(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:
        said = str(exc)
        if isinstance(exc.__cause__, KeyError):
            said = said.replace(f"bad question: {exc.__cause__}", f"bad question: no {exc.__cause__} field")
        raise fail(said) from None
    except TypeError:  # a line that is JSON but not an object
        raise fail(f"{path}: each line must be a JSON object with id, language, text and expected") from None


def _examples_file(path: Path) -> list[Example]:
    """Examples from an export file or a question set (`expected` read as the article key)."""
    lines = []
    try:
        raws = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"--examples: {exc}") from None
    for raw in raws:
        if not raw.strip():
            lines.append("")  # kept, so that problems name the file's own line numbers
            continue
        try:
            item = json.loads(raw)
        except ValueError:
            item = raw  # parse_lines names the line
        if isinstance(item, dict) and "key" not in item and "expected" in item:
            if not item["expected"]:
                continue  # out of scope: an example of nothing
            item = {"key": item["expected"], "language": item.get("language"), "text": item.get("text")}
        lines.append(item if isinstance(item, str) else json.dumps(item))
    try:
        parsed = parse_lines(lines)
    except ExampleFileError as exc:
        raise fail(f"--examples: {exc}") from None
    return [
        Example(
            id=example_id(e.key, e.language, clean(e.text)),
            key=e.key,
            language=e.language,
            text=clean(e.text),
            status=Status.APPROVED,
            source=Source.IMPORT,
        )
        for e in parsed
    ]


def _searcher(kb: Path, bm25_only: bool) -> Searcher:
    embedder = None if bm25_only else default_embedder()
    return Searcher(_kb(kb), embedder=embedder, cache_dir=default_cache_dir())


def _kb(folder: Path) -> KnowledgeBase:
    """The knowledge base, or one line per problem (as `kb check` prints them)."""
    try:
        return load_kb(folder)
    except KBError as exc:
        for problem in exc.problems:
            typer.echo(f"{problem}", err=True)
        raise fail(f"--kb {folder}: {len(exc.problems)} problem(s) (helpline kb check {folder})") from None


@examples_app.command("export")
def export_examples(
    output: Annotated[Path | None, typer.Argument(help="JSON Lines file to write (default: standard output).")] = None,
    redis_url: RedisOption = None,
) -> None:
    """Write the approved examples, one JSON object a line (what `import` reads)."""

    async def work(client: redis.Redis) -> list[str]:
        return [export_line(e) for e in await ExampleStore(client).with_status(Status.APPROVED)]

    lines = with_redis(redis_url, work)
    text = "".join(f"{line}\n" for line in lines)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"exported {len(lines)} approved example(s) to {output}", err=True)


@examples_app.command("import")
def import_examples(
    source: Annotated[Path, typer.Argument(help="JSON Lines file written by `export`.")],
    kb: Annotated[Path | None, typer.Option("--kb", help="Refuse examples of articles this folder lacks.")] = None,
    who: Annotated[str, typer.Option("--by", help="Who approved them, where the file says nobody.")] = "import",
    redis_url: RedisOption = None,
) -> None:
    """Store each line as an approved example. Idempotent: a phrasing already approved is left
    as it is. A file with any bad line imports nothing and names every bad line."""
    try:
        raw = source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"{source}: {exc}") from None
    known = None
    if kb is not None:
        known = {(a.key, a.language) for a in _kb(kb).articles}
    try:
        lines = parse_lines(raw, known)
    except ExampleFileError as exc:
        for problem in exc.problems:
            typer.echo(f"{source}: {problem}", err=True)
        raise fail(f"{len(exc.problems)} bad line(s); nothing imported") from None

    async def work(client: redis.Redis) -> tuple[int, int]:
        return await ExampleStore(client).import_lines(lines, who=who)

    added, unchanged = with_redis(redis_url, work)
    typer.echo(f"imported {added} example(s); {unchanged} already approved")


if __name__ == "__main__":
    app()
