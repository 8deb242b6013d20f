"""The record's tests run on both engines: SQLite (a file per test) and PostgreSQL (a database
created for the test run on the server at HELPLINE_TEST_POSTGRES, default 127.0.0.1:5432)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from helpline.archive.database import Database, migrate

ADMIN_URL = os.environ.get("HELPLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
TABLES = (
    "conversations",
    "messages",
    "events",
    "replies",
    "contacts",
    "contact_terms",
    "erasures",
    "conversation_seqs",
)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database for this test run, dropped at the end."""
    name = f"helpline_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL} (.ci/postgres.sh starts one): {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    migrate(url)
    yield url
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/record.db"
        migrate(url)
        return url
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    if not database.is_sqlite:  # the session's database: start each test empty
        async with database.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
    yield database
    await database.close()
