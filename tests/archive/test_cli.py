import asyncio
import json
from pathlib import Path

import pytest
import redis.asyncio as redis
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, StatementError
from typer.testing import CliRunner, Result

from helpline.archive.database import Database, reason, unavailable
from helpline.cli import app
from tests.archive.helpers import Desk
from tests.factories import message
from tests.redis_server import RedisServer


@pytest.fixture
def env(redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("HELPLINE_REDIS__URL", redis_server.url)
    monkeypatch.setenv("HELPLINE_DATABASE__URL", url)
    return url


def test_migrate_status_erase_and_retention(env: str) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["archive", "migrate"])
    assert result.exit_code == 0, result.output
    assert "newest schema" in result.output
    result = runner.invoke(app, ["archive", "status", "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["conversations"] == 0 and "lag_entries" in status
    result = runner.invoke(app, ["contacts", "erase", "null:main:nobody", "--operator", "dpo", "--reason", "req 1"])
    assert result.exit_code == 0, result.output
    assert "erased: 0 conversations" in result.output
    result = runner.invoke(app, ["archive", "retention"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("deleted: ")


def test_a_bad_database_url_names_the_field(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_DATABASE__URL", "mysql://somewhere/db")
    result = CliRunner().invoke(app, ["archive", "status"])
    assert result.exit_code == 2
    assert "database.url" in result.output and "unsupported database 'mysql'" in result.output


@pytest.mark.parametrize("contact", ["bogus", "telegram:500003", "telegram::500003", "telegram:exchange_bot:"])
def test_erasing_what_is_not_a_contact_id_is_refused_and_writes_no_audit_row(env: str, contact: str) -> None:
    result = CliRunner().invoke(app, ["contacts", "erase", contact, "--operator", "dpo", "--reason", "req 2"])
    assert result.exit_code == 2 and "erased" not in result.output
    assert (
        result.output
        == f"helpline: {contact!r} is not a contact id: platform:account:user id, e.g. telegram:exchange_bot:500003\n"
    )
    assert not Path(env.removeprefix("sqlite:///")).exists()  # nothing was written, not even the record's tables


@pytest.mark.parametrize(
    "command",
    [["contacts", "erase", "telegram:exchange_bot:500003"], ["archive", "status"], ["archive", "retention"]],
    ids=["erase", "status", "retention"],
)
def test_a_command_on_a_record_that_is_not_there_does_not_create_it(
    env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    # without -c, `contacts erase` made an empty record at the default path and said "erased: 0 conversations"
    monkeypatch.delenv("HELPLINE_DATABASE__URL")
    monkeypatch.chdir(tmp_path)
    default = tmp_path / "var" / "helpline" / "record.db"
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2, result.output
    assert result.output == (
        f"helpline: database.url: no record at {default} (sqlite:///var/helpline/record.db), and reading or "
        "editing the record does not create one: give the desk's configuration with -c/--config (its [database] "
        "url) or set HELPLINE_DATABASE__URL; `helpline archive migrate` creates a new record\n"
    )
    assert not (tmp_path / "var").exists()


def test_erasing_from_a_record_the_configuration_names_but_is_not_there_is_refused(
    env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HELPLINE_DATABASE__URL")
    missing = tmp_path / "recrod.db"
    cfg = tmp_path / "helpline.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{missing}"\n')
    result = CliRunner().invoke(app, ["contacts", "erase", "telegram:exchange_bot:500003", "-c", str(cfg)])
    assert result.exit_code == 2 and "erased" not in result.output
    assert result.output.startswith(f"helpline: database.url: no record at {missing} (sqlite:///{missing})")
    assert not missing.exists()
    assert CliRunner().invoke(app, ["archive", "migrate", "-c", str(cfg)]).exit_code == 0  # a new record is made
    result = CliRunner().invoke(app, ["contacts", "erase", "telegram:exchange_bot:500003", "-c", str(cfg)])
    assert result.exit_code == 0 and "erased: 0 conversations" in result.output, result.output


@pytest.mark.parametrize("command", [["archive", "status"], ["archive", "migrate"]], ids=["status", "migrate"])
def test_an_unreachable_record_is_said_with_the_drivers_reason_and_no_password(
    env: str, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    # it said only "is unavailable: OperationalError"
    monkeypatch.setenv("HELPLINE_DATABASE__URL", "postgresql://helpline:s3cret-pw@127.0.0.1:1/record")
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2
    assert result.output == (
        "helpline: the record at postgresql://helpline:***@127.0.0.1:1/record is unavailable: OperationalError: "
        'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused\n'
    )


def test_a_file_that_is_not_a_record_is_said_so(env: str) -> None:
    Path(env.removeprefix("sqlite:///")).write_bytes(b"not a database, " * 512)
    result = CliRunner().invoke(app, ["archive", "status"])
    assert result.exit_code == 2
    assert result.output == f"helpline: the record at {env} is unavailable: DatabaseError: file is not a database\n"


def test_another_programs_database_is_said_to_hold_no_record(env: str) -> None:
    import sqlite3

    with sqlite3.connect(env.removeprefix("sqlite:///")) as other:
        other.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    result = CliRunner().invoke(app, ["archive", "status"])
    assert result.exit_code == 2
    assert result.output == (
        f"helpline: the database at {env} has no Helpline record (OperationalError: no such table: "
        "conversations): it is another program's database or was never migrated; `helpline archive migrate` "
        "creates the tables\n"
    )


def test_the_reason_keeps_no_password_and_no_statement_parameters() -> None:
    url = "postgresql://desk:p%40ss%20w0rd@db.internal/helpline"
    driver = Exception("password authentication failed (p@ss w0rd / p%40ss%20w0rd)\nDETAIL: more")
    exc = OperationalError("SELECT * FROM messages WHERE text = %s", ("my seed phrase is ...",), driver)
    said = str(unavailable(url, exc))
    assert said == (
        "the record at postgresql://desk:***@db.internal/helpline is unavailable: "
        "Exception: password authentication failed (*** / ***)"
    )


def test_only_an_error_that_explains_the_outage_is_quoted() -> None:
    """SQLAlchemy's own text can quote the statement, a data or integrity error a value: those
    are named by their type alone."""
    statement = "INSERT INTO messages (text) VALUES (%s)"
    leaked = Exception("value too long: 'my seed phrase is ...'")
    assert reason(DataError(statement, ("my seed phrase is ...",), leaked)) == "Exception"
    assert reason(IntegrityError(statement, (), leaked)) == "Exception"
    assert reason(StatementError("bad parameter 'my seed phrase'", statement, {}, ValueError("x"))) == "StatementError"
    refused = Exception("connection refused\nDETAIL: more")
    assert reason(OperationalError(statement, ("my seed phrase is ...",), refused)) == "Exception: connection refused"
    assert reason(OSError("disk full")) == "OSError: disk full"


async def test_backfill_says_what_it_wrote_and_what_the_record_holds(
    env: str, redis_server: RedisServer, r: redis.Redis
) -> None:
    # it said "ok: 0 conversations in the record" of a record that held every conversation
    desk = Desk(r, Database(env))
    await desk.ingest([message("where is my deposit", thread="a", user="u1")])
    await desk.ingest([message("and my withdrawal", thread="b", user="u2")])

    def backfill() -> Result:
        return CliRunner().invoke(app, ["archive", "backfill"])

    first = await asyncio.to_thread(backfill)
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[-1] == (
        "ok: 2 conversations written (the others were in the record already); the record holds 2"
    )
    again = await asyncio.to_thread(backfill)
    assert again.output.splitlines()[-1] == (
        "ok: 0 conversations written (the others were in the record already); the record holds 2"
    )
    await desk.db.close()
