"""The `helpline` command."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as redis
import typer

from helpline.announcements.cli import Desk, announce_commands
from helpline.archive.cli import archive_app, contacts_app
from helpline.bench_guard import WipeOption, bench_redis, refusals_exit
from helpline.bots.kb_cli import app as kb_app
from helpline.connectors.emulation import ListenFailed
from helpline.connectors.errors import ConfigError
from helpline.console.cli import inbox_app, users_app
from helpline.health.view import DeskHealth
from helpline.insights.cli import report_commands
from helpline.insights.errors import InsightsError

from .config import ConfigInvalid, RedisSettings, Settings, check_settings, load_settings
from .files_cli import files_app
from .kb_gaps import gaps_command
from .logs import setup_logging
from .runtime import ROLES, StartupFailed, run_roles

if TYPE_CHECKING:
    from fastapi import FastAPI


def _configured_redis_url(config: Path | None) -> str:
    """`helpline report`'s Redis when not given: the configuration's."""
    try:
        settings = load_settings(config)
    except ConfigInvalid as exc:
        raise InsightsError("invalid configuration: " + "; ".join(exc.problems)) from None
    if not settings.redis.url:
        raise InsightsError("redis.url is not set (HELPLINE_REDIS__URL, REDIS_URL or --redis-url)")
    return settings.redis.url


def _announce_desk(config: Path | None) -> Desk:
    """What `helpline announce` needs of the configuration; a bad one is refused in a few lines."""
    try:
        settings = load_settings(config)
    except ConfigInvalid as exc:
        typer.echo("helpline: invalid configuration:\n  " + "\n  ".join(exc.problems), err=True)
        raise typer.Exit(2) from None
    if not settings.redis.url:
        typer.echo("helpline: redis.url is not set (HELPLINE_REDIS__URL or REDIS_URL)", err=True)
        raise typer.Exit(2)
    return Desk(settings.redis.url, settings.announcements, settings.accounts)


app = typer.Typer(
    help="Helpline: a self-hosted multi-channel support desk.", no_args_is_help=True, pretty_exceptions_enable=False
)
config_app = typer.Typer(help="Check the configuration.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks that print one JSON object.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(bench_app, name="bench")
app.add_typer(users_app, name="users")
app.add_typer(inbox_app, name="inbox")
app.add_typer(report_commands(_configured_redis_url), name="report")
app.add_typer(announce_commands(_announce_desk), name="announce")
app.add_typer(kb_app, name="kb")
kb_app.command("gaps")(gaps_command)
app.add_typer(archive_app, name="archive")
app.add_typer(contacts_app, name="contacts")
app.add_typer(files_app, name="files")

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="helpline.toml")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object")]
BenchRedisOption = Annotated[str | None, typer.Option(help="use this Redis; it is wiped (default: a private one)")]
T = TypeVar("T")


class Fatal(Exception):
    """One clear line for the user, then exit 2."""


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def settings_or_exit(path: Path | None) -> Settings:
    try:
        return load_settings(path)
    except ConfigInvalid as exc:
        raise Fatal("invalid configuration:\n  " + "\n  ".join(exc.problems)) from None


async def connect(url: str, wait_s: float = 0.0, options: RedisSettings | None = None) -> redis.Redis:
    """A client that has answered PING; retries for `wait_s` (Redis may still be starting).
    Its socket and connect timeouts come from `[redis]`: a hung Redis is an error, not a freeze."""
    client = (options or RedisSettings()).client(url)
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        try:
            await client.ping()
            return client
        except redis.AuthenticationError as exc:
            await client.aclose()
            raise Fatal(f"Redis at {redact(url)} refused our credentials: {exc}") from None
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            if asyncio.get_running_loop().time() >= deadline:
                await client.aclose()
                raise Fatal(f"cannot reach Redis at {redact(url)}: {exc}") from None
            await asyncio.sleep(0.5)


def run_main(coro_factory: Callable[[], Any]) -> Any:
    """Run a coroutine; turn expected failures into one line and exit code 2."""
    try:
        return asyncio.run(coro_factory())
    except Fatal as exc:
        typer.echo(f"helpline: {exc}", err=True)
        raise typer.Exit(2) from None
    except ConfigError as exc:
        typer.echo(f"helpline: invalid configuration: {exc}", err=True)
        raise typer.Exit(2) from None
    except (StartupFailed, ListenFailed) as exc:
        typer.echo(f"helpline: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def serve_console(app: FastAPI, settings: Settings, stop: asyncio.Event) -> None:
    from helpline.connectors.emulation import serve

    s = settings.console
    async with serve(app, s.host, s.port):
        await stop.wait()


@app.command()
def run(
    config: ConfigOption = None,
    role: Annotated[list[str] | None, typer.Option(help=f"Roles to run: {', '.join(ROLES)} (default: all)")] = None,
    log_json: Annotated[bool, typer.Option("--log-json", help="JSON log lines")] = False,
    redis_wait: Annotated[float, typer.Option(help="seconds to wait for Redis at startup")] = 10.0,
) -> None:
    """Run Helpline (all roles in one process by default)."""
    roles = role or list(ROLES)
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        typer.echo(f"helpline: unknown role {unknown[0]!r} (use {', '.join(ROLES)})", err=True)
        raise typer.Exit(2)
    setup_logging(json_lines=log_json)
    settings = settings_or_exit(config)
    if not settings.redis.url:
        typer.echo("helpline: redis.url is not set (HELPLINE_REDIS__URL or REDIS_URL)", err=True)
        raise typer.Exit(2)
    url = settings.redis.url

    async def main() -> None:
        client = await connect(url, redis_wait, settings.redis)
        stop = asyncio.Event()
        stop_on_signals(stop)
        try:
            await run_roles(settings, client, roles, stop, console=serve_console)
        finally:
            await client.aclose()

    run_main(main)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="console port")] = 8080,
    data_dir: Annotated[Path, typer.Option(help="Redis data, generated secrets")] = Path("var/demo"),
    interval: Annotated[float, typer.Option(help="seconds between simulated customer messages")] = 4.0,
    log_json: Annotated[bool, typer.Option("--log-json", help="JSON log lines")] = False,
) -> None:
    """The whole system with an embedded Redis, the platform emulators and simulated customers."""
    from .demo import DemoFailed, run_demo
    from .embedded_redis import EmbeddedRedisError

    setup_logging(json_lines=log_json)

    async def main() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        try:
            await run_demo(data_dir, port, interval, stop, announce=lambda text: typer.echo(text))
        except (EmbeddedRedisError, DemoFailed) as exc:
            raise Fatal(str(exc)) from None

    run_main(main)


@config_app.command("check")
def config_check(config: ConfigOption = None) -> None:
    """Validate the configuration; print each error with its field path."""
    settings, problems = check_settings(config)  # every problem; the rest is checked further
    if settings is None:
        for problem in problems:
            typer.echo(problem, err=True)
        raise typer.Exit(2)
    from helpline.connectors.base import ConnectorContext
    from helpline.connectors.options import OptionsInvalid
    from helpline.connectors.ratelimit import poll_budget_warnings
    from helpline.connectors.registry import build_connector
    from helpline.connectors.s3files import S3Blobs, build_blobs, check_bucket

    from .bot_setup import build_bot

    for name in settings.bots:  # each bot built alone, so every broken one is named
        try:
            build_bot(name, settings)
        except ConfigError as exc:
            problems.append(str(exc))

    async def no_ingest(_: object) -> list[bool]:
        return []

    blobs = None
    try:
        blobs = build_blobs(settings.files)
        if isinstance(blobs, S3Blobs):
            asyncio.run(check_bucket(blobs))
    except ConfigError as exc:
        problems.append(str(exc))
    warnings: list[str] = []
    for account in settings.accounts:  # constructing a connector checks its options, then its secrets
        try:
            connector = build_connector(account, ConnectorContext(ingest=no_ingest, blobs=blobs))
        except OptionsInvalid as exc:
            problems += exc.problems
        except ConfigError as exc:
            problems.append(str(exc))
        else:
            if account.mode == "polling":
                warnings += poll_budget_warnings(account.name, account.poll_interval, connector.poll_rate_limits())
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    if problems:
        for problem in problems:
            typer.echo(problem, err=True)
        raise typer.Exit(2)
    typer.echo(
        f"ok: {len(settings.accounts)} accounts, {len(settings.teams)} teams, {len(settings.agents)} agents, "
        f"{len(settings.rules)} rules, {len(settings.bots)} bots"
    )


@bench_app.command("pipeline")
def bench_pipeline(
    messages: Annotated[int, typer.Option(help="messages in the throughput phase")] = 20_000,
    rate: Annotated[int, typer.Option(help="offered load (msg/s) in the latency phase")] = 2_000,
    latency_seconds: Annotated[float, typer.Option(help="length of the latency phase")] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    redis_url: Annotated[str | None, typer.Option(help="use this Redis (default: start a private one)")] = None,
    routers: Annotated[int | None, typer.Option(help="router processes (default: one per core)")] = None,
    baseline: Annotated[bool, typer.Option(help="also run the same messages through arq, for comparison")] = True,
    mix: Annotated[
        str,
        typer.Option(
            help="mixed: half the replies through an account without idempotency; "
            "idempotent: all through the deduping one"
        ),
    ] = "mixed",
    yes: WipeOption = False,
) -> None:
    """Ingest → router → bot → outbound → sender (null platform), on real Redis, vs arq."""
    from .bench import MIXES, pipeline_benchmark

    if mix not in MIXES:
        typer.echo(f"--mix: one of {', '.join(MIXES)}, not {mix!r}", err=True)
        raise typer.Exit(2)
    count = routers or len(os.sched_getaffinity(0))
    with refusals_exit():
        result = run_main(
            lambda: pipeline_benchmark(
                messages, rate, latency_seconds, redis_url, count, wipe=yes, baseline=baseline, mix=mix
            )
        )
    typer.echo(json.dumps(result) if as_json else json.dumps(result, indent=2))


@bench_app.command("broadcast")
def bench_broadcast(
    subscribers: Annotated[int, typer.Option(help="opted-in subscribers to broadcast to")] = 10_000,
    limit_per_second: Annotated[float, typer.Option(help="the emulator's overall limit (Telegram: 30)")] = 30.0,
    kill_after: Annotated[
        float | None,
        typer.Option(help="run the publisher as a subprocess, SIGKILL it after this many seconds, start another"),
    ] = None,
    as_json: JsonOption = False,
    redis_url: BenchRedisOption = None,
    yes: WipeOption = False,
) -> None:
    """Telegram broadcast through the publisher against the Bot API emulator's rate limit."""
    from helpline.announcements.bench import broadcast_benchmark

    _benchmark(lambda url: broadcast_benchmark(url, subscribers, limit_per_second, kill_after), redis_url, yes, as_json)


@bench_app.command("reports")
def bench_reports(
    conversations: Annotated[int, typer.Option(help="conversations of pre-aggregated history")] = 1_000_000,
    verify_sample: Annotated[
        int, typer.Option(help="conversations counted by the recorder to check the build")
    ] = 10_000,
    as_json: JsonOption = False,
    redis_url: BenchRedisOption = None,
    yes: WipeOption = False,
) -> None:
    """Report queries over a large pre-aggregated history; one JSON object with timings in ms."""
    from helpline.insights.bench import reports_benchmark

    _benchmark(
        lambda url: reports_benchmark(url, conversations, verify_sample), redis_url, yes, as_json, appendfsync="no"
    )


def _benchmark(
    work: Callable[[str], Awaitable[dict[str, Any]]],
    redis_url: str | None,
    wipe: bool,
    as_json: bool,
    appendfsync: str = "everysec",
) -> None:
    """Run a benchmark on an empty Redis (`bench_redis`) and print its JSON."""

    async def run() -> dict[str, Any]:
        async with bench_redis(redis_url, wipe=wipe, appendfsync=appendfsync) as url:
            return await work(url)

    with refusals_exit():
        result = asyncio.run(run())
    typer.echo(json.dumps(result) if as_json else json.dumps(result, indent=2))


@bench_app.command("archive")
def bench_archive(
    conversations: Annotated[int, typer.Option(help="conversations through the pipeline")] = 10_000,
    messages_per_conversation: Annotated[int, typer.Option(help="customer messages per conversation")] = 5,
    database_url: Annotated[str | None, typer.Option(help="an empty record (default: a private SQLite file)")] = None,
    redis_url: Annotated[str | None, typer.Option(help="use this Redis (default: start a private one)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    yes: WipeOption = False,
    archivers: Annotated[
        int | None,
        typer.Option(min=1, help="archiver processes at once (default: database.archivers' default for the engine)"),
    ] = None,
) -> None:
    """Pipeline → resolve → archive → evict, then search and history latency on the record."""
    from helpline.archive.bench import archive_benchmark

    with refusals_exit():
        result = run_main(
            lambda: archive_benchmark(
                conversations, messages_per_conversation, database_url, redis_url, wipe=yes, archivers=archivers
            )
        )
    typer.echo(json.dumps(result) if as_json else json.dumps(result, indent=2))


dead_letters_app = typer.Typer(help="Dead letters: what kept failing, with its error; replay chosen ones.")
app.add_typer(dead_letters_app, name="dead-letters")


@dead_letters_app.callback(invoke_without_command=True)
def dead_letters(ctx: typer.Context, config: ConfigOption = None, limit: int = 20) -> None:
    """Show the newest dead letters of every partition, with their errors."""
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_or_exit(config)
    url = settings.redis.url
    if not url:
        typer.echo("helpline: redis.url is not set (HELPLINE_REDIS__URL or REDIS_URL)", err=True)
        raise typer.Exit(2)
    from helpline.routing import keys

    async def main() -> int:
        client = await connect(url, options=settings.redis)
        shown = 0
        try:
            for p in range(settings.redis.partitions):
                for entry_id, fields in await client.xrevrange(keys.dead_letters(p), count=limit):
                    shown += 1
                    f = {k.decode(): v.decode(errors="replace") for k, v in fields.items()}
                    typer.echo(
                        f"{keys.dead_letters(p)} {entry_id.decode()} from {f.get('stream')} "
                        f"after {f.get('deliveries')} deliveries: {f.get('error')}"
                    )
        finally:
            await client.aclose()
        return shown

    if not run_main(main):
        typer.echo(f"no dead letters in the {settings.redis.partitions} partitions", err=True)


@dead_letters_app.command("replay")
def dead_letters_replay(
    ids: Annotated[list[str], typer.Argument(help="dead letter ids, as `helpline dead-letters` lists them")],
    config: ConfigOption = None,
    partition: Annotated[int | None, typer.Option(help="the partition whose dead letters hold the ids")] = None,
) -> None:
    """Put chosen dead letters back on their streams, once each (a reply already sent is not sent
    again). Exits 1 if one could not be replayed."""
    settings = settings_or_exit(config)
    url = settings.redis.url
    if not url:
        typer.echo("helpline: redis.url is not set (HELPLINE_REDIS__URL or REDIS_URL)", err=True)
        raise typer.Exit(2)
    from helpline.routing.dead_letters import replay

    async def main() -> dict[str, str]:
        client = await connect(url, options=settings.redis)
        try:
            return await replay(client, settings.redis.partitions, ids, partition)
        finally:
            await client.aclose()

    outcome = run_main(main)
    for entry_id, what in outcome.items():
        typer.echo(f"{entry_id}: {what}")
    if any(what not in ("replayed", "already sent: not queued again") for what in outcome.values()):
        raise typer.Exit(1)


@app.command()
def status(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the health answer as JSON")] = False,
) -> None:
    """The live processes and every configured account's poller, from the heartbeats in Redis.
    Exits 1 when an account has no live poller (or no console serves its webhook), or Redis is down."""
    settings = settings_or_exit(config)
    url = settings.redis.url
    if not url:
        typer.echo("helpline: redis.url is not set (HELPLINE_REDIS__URL or REDIS_URL)", err=True)
        raise typer.Exit(2)
    from helpline.health.report import status_table
    from helpline.health.view import desk_health

    async def main() -> DeskHealth:
        client = settings.redis.client(url)
        try:
            try:
                await client.ping()
            except redis.AuthenticationError as exc:
                raise Fatal(f"Redis at {redact(url)} refused our credentials: {exc}") from None
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                pass  # the desk is down: said below, with exit status 1 for a probe
            return await desk_health(client, settings.accounts, budget=settings.redis.socket_timeout)
        finally:
            await client.aclose()

    desk: DeskHealth = run_main(main)
    typer.echo(json.dumps(desk.as_json(), indent=2) if as_json else status_table(desk))
    if not desk.redis or any(a.no_live_poller for a in desk.accounts):
        raise typer.Exit(1)


def main() -> None:
    logging.captureWarnings(True)
    try:
        app()
    except Fatal as exc:  # raised outside run_main (settings)
        typer.echo(f"helpline: {exc}", err=True)
        sys.exit(2)
