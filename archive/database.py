"""The SQL engine: SQLite (embedded default, aiosqlite) or PostgreSQL (psycopg 3), async.

A URL is given as an operator writes it (`sqlite:///var/helpline/record.db`,
`postgresql://user@host/db`); the drivers are chosen here. Migrations (Alembic) run with the
synchronous flavour of the same driver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from sqlalchemy import ColumnElement, bindparam, create_engine, event
from sqlalchemy import any_ as sql_any
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .errors import RecordConfigError, RecordMissing, RecordUnavailable

DEFAULT_URL = "sqlite:///var/helpline/record.db"
_ASYNC = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_SYNC = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


def parse_url(url: str, field: str = "database.url") -> URL:
    """The URL with its driver removed; a clear error naming `field` for anything else."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise RecordConfigError(f"{field}: not a database URL (sqlite:///path or postgresql://...)") from None
    backend = parsed.get_backend_name()
    if backend == "postgres":
        backend = "postgresql"
    if backend not in _ASYNC:
        raise RecordConfigError(f"{field}: unsupported database {backend!r} (sqlite or postgresql)")
    if backend == "sqlite" and not parsed.database:
        raise RecordConfigError(f"{field}: give the SQLite file (sqlite:///path/to/record.db)")
    return parsed.set(drivername=backend)


def engine_url(url: str, asynchronous: bool = True) -> URL:
    parsed = parse_url(url)
    return parsed.set(drivername=(_ASYNC if asynchronous else _SYNC)[parsed.get_backend_name()])


def redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(invalid URL)"


def _explains(exc: SQLAlchemyError) -> bool:
    """Whether the driver's message says what is wrong with the database or the way to it, and
    nothing of the data: not SQLAlchemy's own errors (their text can quote the statement), nor a
    driver's data, integrity or programming errors (theirs can quote a value)."""
    return isinstance(exc, OperationalError | InterfaceError) or type(exc) is DatabaseError


def reason(exc: BaseException, url: str | None = None) -> str:
    """Why the record failed, in one line for a message or a log: the error's type and the first
    line of the driver's own message where it explains (`_explains`). Never SQLAlchemy's message,
    which adds the statement and its parameters (customers' data); with `url`, the password is
    masked should a driver repeat it."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    if isinstance(exc, SQLAlchemyError) and not _explains(exc):
        return type(cause).__name__
    lines = str(cause).strip().splitlines()
    why = " ".join(lines[0].split()) if lines else ""
    try:
        password = make_url(url).password if url else None
    except ArgumentError:
        password = None
    if password:
        for secret in {str(password), quote(str(password), safe="")}:
            why = why.replace(secret, "***")
    return f"{type(cause).__name__}: {why}" if why else type(cause).__name__


def _lacks_tables(exc: BaseException) -> bool:
    """A database without the record's tables: another program's file, or one never migrated."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(cause)
    return "no such table" in text or type(cause).__name__ in ("UndefinedTableError", "UndefinedTable")


def unavailable(url: str, exc: BaseException) -> RecordUnavailable:
    """A driver's error (as SQLAlchemy raises it) as the command line says it: the record's URL with
    its password masked, and the `reason`."""
    if _lacks_tables(exc):
        return RecordUnavailable(
            f"the database at {redact(url)} has no Helpline record ({reason(exc, url)}): it is another "
            "program's database or was never migrated; `helpline archive migrate` creates the tables"
        )
    return RecordUnavailable(f"the record at {redact(url)} is unavailable: {reason(exc, url)}")


def _sqlite_file(parsed: URL) -> None:
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: the console reads while the archiver writes; a busy wait instead of "database is locked".
    # The default 2 MB page cache is far smaller than the indexes a batch updates: 64 MiB of cache
    # (taken as used) and reads through a memory map.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA mmap_size=268435456")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def one_of(conn: AsyncConnection, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `column = ANY(array)`: one parameter, not one per value
    (the archiver's lookups of 2,000 ids made psycopg parse a 2,000-placeholder query each time)."""
    if conn.dialect.name == "postgresql":
        return column == sql_any(bindparam(None, list(values), type_=ARRAY(column.type)))  # type: ignore[no-any-return]
    return column.in_(values)  # type: ignore[no-any-return]


def _require_sqlite_file(parsed: URL, url: str) -> None:
    if parsed.database and parsed.database != ":memory:" and not Path(parsed.database).is_file():
        raise RecordMissing(
            f"database.url: no record at {Path(parsed.database).resolve()} ({redact(url)}), and reading "
            "or editing the record does not create one"
        )


class Database:
    """One async engine per process, created at start-up and passed in.

    `create=False` is for what reads or edits a record that must exist already (an erasure, a
    status, retention): a SQLite file that is not there is refused (RecordMissing) instead of being
    made, empty, by the first connection. A PostgreSQL server never makes a missing database."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        parsed = engine_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite" and not create:
            _require_sqlite_file(parsed, url)
        if self.dialect == "sqlite":  # the file's folder is made by `migrate`, not by every reader
            self.engine: AsyncEngine = create_async_engine(parsed)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_async_engine(parsed, pool_size=5, max_overflow=5, pool_pre_ping=True)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    async def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        await asyncio.to_thread(migrate, self.url)

    async def close(self) -> None:
        await self.engine.dispose()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option(
        "sqlalchemy.url", engine_url(url, asynchronous=False).render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def migrate(url: str) -> None:
    """Run the Alembic migrations up to the newest (synchronous: at start-up or from the CLI)."""
    parsed = engine_url(url, asynchronous=False)
    if parsed.get_backend_name() == "sqlite":
        _sqlite_file(parsed)
    engine = create_engine(parsed)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
