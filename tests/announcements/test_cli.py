"""`helpline announce`: create, preview, schedule, approve, list, status."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from helpline.cli import app
from tests.redis_server import RedisServer


def test_cli_create_preview_schedule_approve_status(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    redis.Redis.from_url(redis_server.url).flushall()
    monkeypatch.setenv("HELPLINE_REDIS__URL", redis_server.url)
    cli = CliRunner()
    created = cli.invoke(
        app,
        [
            "announce",
            "create",
            "--text",
            "Listing: ABC/USDT opens 10:00 KST. <Trade safely>",
            "--target",
            "x:brand",
            "--target",
            "telegram:bot:-1001234567890",
            "--as",
            "mia",
        ],
    )
    assert created.exit_code == 0, created.output
    announcement_id = created.output.split("\t")[0]
    shown = cli.invoke(app, ["announce", "preview", announcement_id])
    assert "== x:brand (x, limit 280)" in shown.output and "<Trade safely>" in shown.output
    scheduled = cli.invoke(
        app, ["announce", "schedule", announcement_id, "--at", "2031-05-01T10:00", "--timezone", "Asia/Seoul"]
    )
    assert scheduled.exit_code == 0 and "awaiting_approval" in scheduled.output
    assert "2031-05-01T10:00:00+09:00 Asia/Seoul" in scheduled.output
    approved = cli.invoke(app, ["announce", "approve", announcement_id, "--as", "sam"])
    assert "scheduled" in approved.output
    twice = cli.invoke(app, ["announce", "approve", announcement_id])
    assert twice.exit_code == 2 and "cannot approve" in twice.output
    assert announcement_id in cli.invoke(app, ["announce", "list"]).output
    assert "0/0 sent" in cli.invoke(app, ["announce", "status", announcement_id]).output
    refused = cli.invoke(
        app, ["announce", "create", "--text", "addr " + "f" * 5000, "--target", "telegram:bot:-100123"]
    )
    assert refused.exit_code == 2 and "cannot be split" in refused.output


def test_cli_names_a_publish_time_that_is_not_one(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    redis.Redis.from_url(redis_server.url).flushall()
    monkeypatch.setenv("HELPLINE_REDIS__URL", redis_server.url)
    cli = CliRunner()
    created = cli.invoke(app, ["announce", "create", "--text", "Maintenance", "--target", "x:brand"])
    assert created.exit_code == 0, created.output
    result = cli.invoke(app, ["announce", "schedule", created.output.split("\t")[0], "--at", "tomorrow 9am"])
    assert result.exit_code == 2
    assert (
        result.output == "helpline: publish time 'tomorrow 9am' is not an ISO time like 2026-03-01T09:00 (or \"now\")\n"
    )


def test_cli_refuses_a_target_account_the_configuration_lacks(
    redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # it was taken, and the announcement could only fail when published
    redis.Redis.from_url(redis_server.url).flushall()
    cfg = tmp_path / "helpline.toml"
    cfg.write_text(
        f'[redis]\nurl = "{redis_server.url}"\n\n[[accounts]]\nplatform = "x"\nname = "brand"\n'
        'secrets = { bearer_token = "X_BEARER_TOKEN" }\n'
    )
    cli = CliRunner()
    refused = cli.invoke(app, ["announce", "create", "-c", str(cfg), "--text", "Hi", "--target", "x:brnad"])
    assert refused.exit_code == 2
    assert refused.output == (
        "helpline: --target x:brnad: no x account 'brnad' in the configuration (x accounts: brand)\n"
    )
    refused = cli.invoke(app, ["announce", "create", "-c", str(cfg), "--text", "Hi", "--target", "mastodon:brand"])
    assert refused.exit_code == 2 and "(mastodon accounts: none)" in refused.output
    created = cli.invoke(app, ["announce", "create", "-c", str(cfg), "--text", "Hi", "--target", "x:brand"])
    assert created.exit_code == 0 and "\tdraft\t" in created.output, created.output
