import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpline.cli import app
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
