"""`helpline archive migrate|backfill|status|evict` and `helpline contacts erase`: the record from
the command line, with the same configuration as `helpline run` ([redis], [database])."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import redis.asyncio as redis
import typer
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from helpline.config import ConfigInvalid, Settings, load_settings
from helpline.routing import keys
from helpline.routing.decode import as_text

from .archiver import Archiver, archive_lag
from .database import Database, migrate, redact, unavailable
from .erasure import erase_contact
from .errors import ErasureRefused, RecordError, RecordMissing
from .evict import Evictor
from .record import Record
from .retention import apply_retention
from .schema import contacts, conversations, messages, replies
from .snapshot import read_changes

archive_app = typer.Typer(help="The SQL record: schema, backfill from Redis, status.", no_args_is_help=True)
contacts_app = typer.Typer(help="Contacts in Redis and the record.", no_args_is_help=True)
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="helpline.toml")]
T = TypeVar("T")
BACKFILL_CHUNK = 500


def _fail(message: str) -> typer.Exit:
    typer.echo(f"helpline: {message}", err=True)
    return typer.Exit(2)


def _settings(path: Path | None) -> Settings:
    try:
        return load_settings(path)
    except ConfigInvalid as exc:
        raise _fail("invalid configuration:\n  " + "\n  ".join(exc.problems)) from None


def record_failure(settings: Settings, exc: Exception) -> typer.Exit:
    """The line a command says when the record fails it (shared by every command that opens one)."""
    if isinstance(exc, RecordMissing):
        return _fail(
            f"{exc}: give the desk's configuration with -c/--config (its [database] url) or set "
            "HELPLINE_DATABASE__URL; `helpline archive migrate` creates a new record"
        )
    if isinstance(exc, DBAPIError):
        exc = unavailable(settings.database.url, exc)
    return _fail(str(exc))


def _run(settings: Settings, work: Callable[[redis.Redis, Database], Awaitable[T]], *, create: bool = False) -> T:
    """Run `work` with Redis and the record. Without `create`, the record must exist already (a
    command that only reads or edits it does not make an empty one)."""
    url = settings.redis.url
    if not url:
        raise _fail("redis.url is not set (HELPLINE_REDIS__URL or REDIS_URL)")

    async def main() -> T:
        db = Database(settings.database.url, create=create)
        client: redis.Redis = redis.Redis.from_url(url, socket_connect_timeout=3)
        try:
            return await work(client, db)
        finally:
            await client.aclose()
            await db.close()

    try:
        return asyncio.run(main())
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise _fail(f"cannot reach Redis: {exc}") from None
    except (DBAPIError, RecordError) as exc:
        raise record_failure(settings, exc) from None


@archive_app.command("migrate")
def migrate_command(config: ConfigOption = None) -> None:
    """Create or upgrade the record's tables (idempotent; the archiver also does it at start)."""
    settings = _settings(config)
    try:
        migrate(settings.database.url)
    except DBAPIError as exc:
        raise record_failure(settings, exc) from None
    typer.echo(f"ok: the record at {redact(settings.database.url)} is at the newest schema")


@archive_app.command("backfill")
def backfill(config: ConfigOption = None) -> None:
    """Copy every conversation Redis holds into the record (for data from before the archiver;
    idempotent and resumable: run it again after an interruption)."""
    settings = _settings(config)

    async def work(client: redis.Redis, db: Database) -> str:
        await db.migrate()
        record = Record(db)
        done = 0
        for p in range(settings.redis.partitions):
            chunk: list[str] = []
            async for cid, _ in client.zscan_iter(keys.conversations_by_update(p), count=BACKFILL_CHUNK):
                chunk.append(as_text(cid))
                if len(chunk) >= BACKFILL_CHUNK:
                    done += await _archive(client, record, chunk)
                    chunk = []
            done += await _archive(client, record, chunk)
            typer.echo(f"partition {p}: {done} conversations written so far")
        async with db.engine.connect() as conn:
            held = int((await conn.execute(select(func.count()).select_from(conversations))).scalar_one())
        return f"ok: {done} conversations written (the others were in the record already); the record holds {held}"

    typer.echo(_run(settings, work, create=True))


async def _archive(client: redis.Redis, record: Record, ids: list[str]) -> int:
    if not ids:
        return 0
    batch = await read_changes(client, record, ids, [])
    await record.write(batch)
    return len(batch.conversations)


@archive_app.command("status")
def status(
    config: ConfigOption = None, as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False
) -> None:
    """How far the record is behind Redis, and what it holds."""
    settings = _settings(config)

    async def work(client: redis.Redis, db: Database) -> dict[str, Any]:
        lag = await archive_lag(client, settings.redis.partitions)
        out: dict[str, Any] = {
            "database": redact(settings.database.url),
            "lag_entries": lag.entries,
            "lag_seconds": round(lag.seconds, 3),
        }
        async with db.engine.connect() as conn:
            for table in (conversations, messages, replies, contacts):
                out[table.name] = int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
        return out

    result = _run(settings, work)
    if as_json:
        typer.echo(json.dumps(result))
        return
    behind = (
        "up to date"
        if result["lag_entries"] == 0
        else f"behind by {result['lag_entries']} changes ({result['lag_seconds']} s)"
    )
    typer.echo(
        f"record {result['database']}: {behind}; {result['conversations']} conversations, "
        f"{result['messages']} messages, {result['replies']} replies, {result['contacts']} contacts"
    )


@archive_app.command("catch-up")
def catch_up(config: ConfigOption = None) -> None:
    """Archive every change waiting now, then evict what may leave Redis (what the archiver role
    does continuously), and exit."""
    settings = _settings(config)

    async def work(client: redis.Redis, db: Database) -> tuple[int, int]:
        await db.migrate()
        name = f"archiver-cli-{socket.gethostname()}-{os.getpid()}"
        archiver = Archiver(
            client,
            Record(db),
            settings.redis.partitions,
            name,
            batch_size=settings.database.batch_size,
            dedupe_window_s=settings.pipeline.dedupe_window_hours * 3600,
        )
        archived = await archiver.catch_up()
        evicted = await Evictor(
            client, db, settings.redis.partitions, settings.pipeline.quiet_period_hours * 3600
        ).round()
        return archived, evicted

    archived, evicted = _run(settings, work, create=True)
    typer.echo(f"ok: {archived} changes archived, {evicted} conversations evicted from Redis")


@archive_app.command("retention")
def retention(config: ConfigOption = None) -> None:
    """Delete what is past its \\[retention] days, once (the archiver role does it hourly)."""
    settings = _settings(config)

    async def work(client: redis.Redis, db: Database) -> dict[str, int]:
        await db.migrate()
        r = settings.retention
        return await apply_retention(
            client,
            db,
            settings.redis.partitions,
            [(a.platform, a.name) for a in settings.accounts],
            r.conversations_days,
            r.delivery_records_days,
            r.dead_letters_days,
            r.insights_detail_days,
        )

    done = _run(settings, work)
    typer.echo("deleted: " + ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in done.items()))


@contacts_app.command("erase")
def erase(
    contact: Annotated[str, typer.Argument(help="contact id (platform:account:user id)")],
    config: ConfigOption = None,
    operator: Annotated[str, typer.Option(help="who asked (kept in the audit row)")] = "",
    reason: Annotated[str, typer.Option(help="why, e.g. the request's reference (kept in the audit row)")] = "",
    force: Annotated[bool, typer.Option("--force", help="erase open conversations too")] = False,
) -> None:
    """Remove a person's messages and identifiers from Redis and the record; an audit row without
    content remains. Refused while they have an open conversation, unless --force."""
    if len([part for part in contact.split(":", 2) if part]) < 3:
        raise _fail(f"{contact!r} is not a contact id: platform:account:user id, e.g. telegram:exchange_bot:500003")
    settings = _settings(config)
    who = operator or os.environ.get("USER", "") or "unknown"

    async def work(client: redis.Redis, db: Database) -> str:
        await db.migrate()
        try:
            erased = await erase_contact(client, db, settings.redis.partitions, contact, who, reason, force)
        except ErasureRefused as exc:
            raise _fail(str(exc)) from None
        return (
            f"erased: {erased.conversations} conversations, {erased.messages} messages; audit subject {erased.subject}"
        )

    typer.echo(_run(settings, work))
