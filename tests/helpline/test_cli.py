"""The `helpline` command fails with one clear line and status 2, never a traceback."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import RedisServer
from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3Server


def helpline(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_") and k != "REDIS_URL"}
    return subprocess.run(
        [sys.executable, "-m", "helpline", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **(env or {})},
    )


def test_config_check_names_each_bad_field(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        '[redis]\npartitions = 0\n\n[[rules]]\nname = "x"\nset = { priority = "sometimes" }\n'
        '\n[[rules]]\nname = "y"\nset = { team = "sup\\u001fport" }\n'
    )
    result = helpline("config", "check", "-c", str(cfg))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "redis.partitions" in result.stderr and "rules.0.set.priority" in result.stderr
    assert "rules.1.set.team" in result.stderr


_MAIL_OPTIONS = (
    'options = { address = "s@example.com", imap_host = "imap.example.com", smtp_host = "smtp.example.com" }'
)


@pytest.mark.parametrize(
    ("account", "missing"),
    [
        ('platform = "telegram"\nsecrets = { token = "UNSET_SECRET" }', "token"),
        ('platform = "x"\nsecrets = { bearer_token = "UNSET_SECRET" }', "bearer_token"),
        (
            'platform = "mastodon"\nbase_url = "https://m.example"\nsecrets = { access_token = "UNSET_SECRET" }',
            "access_token",
        ),
        (
            f'platform = "email"\nsecrets = {{ username = "SET_SECRET", password = "UNSET_SECRET" }}\n{_MAIL_OPTIONS}',
            "password",
        ),
        (
            'platform = "webchat"\nmode = "webhook"\nsecrets = { identity_secret = "UNSET_SECRET" }\n'
            'options = { allowed_origins = ["https://www.example.com"] }',
            "identity_secret",
        ),
    ],
    ids=["telegram", "x", "mastodon", "email", "webchat"],
)
def test_a_missing_secret_is_named(tmp_path: Path, account: str, missing: str) -> None:
    """Each connector reads its secrets when it is built, not when it starts: the check names them."""
    cfg = tmp_path / "h.toml"
    cfg.write_text(f'[[accounts]]\nname = "acct"\n{account}\n')
    result = helpline("config", "check", "-c", str(cfg), env={"SET_SECRET": "hunter2"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == f"accounts.acct.secrets.{missing}: environment variable UNSET_SECRET is not set\n"


@pytest.mark.parametrize(
    ("platform", "secrets", "typo"),
    [
        ("telegram", 'token = "TG_TOKEN"', "bot_per_secnd"),
        ("x", 'bearer_token = "X_BEARER"', "tweets_per_15_min"),
        ("mastodon", 'access_token = "MASTODON_TOKEN"', "pagesize"),
    ],
)
def test_a_misspelt_connector_option_is_named(tmp_path: Path, platform: str, secrets: str, typo: str) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text(
        f'[[accounts]]\nplatform = "{platform}"\nname = "acct"\nbase_url = "http://127.0.0.1:9"\n'
        f"secrets = {{ {secrets} }}\noptions = {{ {typo} = 5 }}\n"
    )
    env = {"TG_TOKEN": "123:abc", "X_BEARER": "b", "MASTODON_TOKEN": "t"}
    result = helpline("config", "check", "-c", str(cfg), env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"accounts.acct.options.{typo}: not an option of the {platform} connector" in result.stderr


def test_config_check_names_out_of_range_connector_options_without_clamping(tmp_path: Path) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text(
        '[[accounts]]\nplatform = "x"\nname = "brand"\nsecrets = { bearer_token = "X_BEARER" }\n'
        "options = { page_size = 1000 }\n\n"
        '[[accounts]]\nplatform = "telegram"\nname = "bot"\nsecrets = { token = "TG_TOKEN" }\n'
        "options = { long_poll_timeout = 99 }\n\n"
        '[[accounts]]\nplatform = "mastodon"\nname = "support"\nbase_url = "http://127.0.0.1:9"\n'
        'secrets = { access_token = "MASTODON_TOKEN" }\noptions = { page_size = 0 }\n'
    )
    result = helpline(
        "config", "check", "-c", str(cfg), env={"TG_TOKEN": "123:abc", "X_BEARER": "b", "MASTODON_TOKEN": "t"}
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "accounts.brand.options.page_size: Input should be less than or equal to 100" in result.stderr
    assert "accounts.bot.options.long_poll_timeout: Input should be less than or equal to 10" in result.stderr
    assert "accounts.support.options.page_size: Input should be greater than or equal to 1" in result.stderr


def test_config_check_names_misspelt_bot_options(tmp_path: Path) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text(
        "[bots.helpcenter]\nmax_attemps = 3\ngenerativ = { enabled = true }\n\n"
        '[bots.ack]\ntype = "autoreply"\ntexts = { en = "hi" }\nhandof = false\n'
    )
    result = helpline("config", "check", "-c", str(cfg))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    for key in ("bots.helpcenter.max_attemps", "bots.helpcenter.generativ", "bots.ack.handof"):
        assert f"{key}: not an option of the" in result.stderr


def test_config_check_names_every_bot_that_cannot_be_built(tmp_path: Path) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text(
        '[bots.helpcenter]\nkb = "no/such/folder"\n\n[bots.ack]\ntype = "autoreply"\ntexts = { ko = "안녕하세요" }\n'
    )
    result = helpline("config", "check", "-c", str(cfg))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "bots.helpcenter.kb:" in result.stderr and "bots.ack.texts:" in result.stderr


def test_config_check_reports_every_error_in_one_run(tmp_path: Path) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text(
        "[pipeline]\nbatch_size = 0\n\n"
        '[bots.helpcenter]\nmax_attemps = 3\n\n[bots.ack]\ntype = "autoreply"\ntexts = { ko = "안녕하세요" }\n\n'
        '[[teams]]\nid = "support"\n\n[[agents]]\nid = "mina"\nname = "Mina"\nteams = ["suport"]\n\n'
        '[[rules]]\nname = "to the broken bot"\nset = { bot = "helpcenter" }\n\n'
        '[[accounts]]\nplatform = "telegram"\nname = "bot"\nsecrets = { token = "TG_TOKEN" }\n'
        "options = { long_poll_timeout = 99 }\n\n"
        '[[accounts]]\nplatform = "x"\nname = "brand"\npoll_interval = 0\nsecrets = { bearer_token = "X_BEARER" }\n\n'
        '[[accounts]]\nplatform = "telegram"\nname = "alerts"\nsecrets = { token = "TG_TOKEN_UNSET" }\n'
    )
    result = helpline("config", "check", "-c", str(cfg), env={"TG_TOKEN": "123:abc", "X_BEARER": "b"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    expected = [
        "pipeline.batch_size: Input should be greater than or equal to 1",
        "bots.helpcenter.max_attemps: not an option of the helpcenter bot type",
        "accounts.1.poll_interval: Input should be greater than 0",
        "agents.0.teams: unknown team 'suport'",  # a check across sections, past the sections' own errors
        "bots.ack.texts:",  # a bot that parses is still built
        "accounts.bot.options.long_poll_timeout: Input should be less than or equal to 10",
        "accounts.alerts.secrets.token: environment variable TG_TOKEN_UNSET is not set",
    ]
    for start in expected:
        assert sum(line.startswith(start) for line in lines) == 1, (start, lines)
    assert len(lines) == len(expected), lines  # nothing else: the rule's broken bot is not a second error


def test_config_check_goes_on_past_repeated_teams_and_accounts(tmp_path: Path) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text(
        '[[teams]]\nid = "support"\n\n[[teams]]\nid = "support"\n\n[[teams]]\nid = "vip"\n\n'
        '[[agents]]\nid = "mina"\nname = "Mina"\nteams = ["vip", "suport"]\n\n'
        '[[accounts]]\nplatform = "telegram"\nname = "bot"\nsecrets = { token = "TG_TOKEN" }\n'
        "options = { long_poll_timeout = 99 }\n\n"
        '[[accounts]]\nplatform = "telegram"\nname = "bot"\nsecrets = { token = "TG_TOKEN" }\n\n'
        '[[accounts]]\nplatform = "mastodon"\nname = "support"\nbase_url = "https://m.example"\n'
        'secrets = { access_token = "M_TOKEN_UNSET" }\n'
    )
    result = helpline("config", "check", "-c", str(cfg), env={"TG_TOKEN": "123:abc"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert sorted(result.stderr.splitlines()) == [
        "accounts.1.name: another telegram account is named 'bot'",
        "accounts.bot.options.long_poll_timeout: Input should be less than or equal to 10",  # the first is kept
        "accounts.support.secrets.access_token: environment variable M_TOKEN_UNSET is not set",
        "agents.0.teams: unknown team 'suport'",  # the repeat left out, the teams are still known
        "teams.1.id: duplicate team id 'support'",
    ]


def test_config_check_names_elements_by_their_place_in_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "h.toml"
    teams = (
        '[[teams]]\nid = "support"\n\n[[teams]]\nid = "support"\n\n[[teams]]\nid = "vip"\n\n[[teams]]\nid = "vip"\n\n'
    )
    cfg.write_text(
        teams + '[[agents]]\nid = "mina"\nname = "Mina"\nteams = "vip"\n\n'
        '[[agents]]\nid = "sam"\nname = "Sam"\nteams = ["vipp"]\n'
    )
    result = helpline("config", "check", "-c", str(cfg))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert sorted(result.stderr.splitlines()) == [
        "agents.0.teams: Input should be a valid tuple",
        "agents.1.teams: unknown team 'vipp'",  # found after agents.0 was left out: still agents.1
        "teams.1.id: duplicate team id 'support'",
        "teams.3.id: duplicate team id 'vip'",
    ]
    cfg.write_text(teams.replace('"support"\n', '"support"\nhours = { timezone = "Nowhere/Land" }\n', 1))
    result = helpline("config", "check", "-c", str(cfg))
    assert result.stderr.splitlines() == [
        "teams.0.hours.timezone: unknown time zone 'Nowhere/Land'",
        "teams.1.id: duplicate team id 'support'",  # a repeat of a broken team is still one
        "teams.3.id: duplicate team id 'vip'",  # not teams.2 of what was left
    ]


def test_unreachable_redis_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text('[redis]\nurl = "redis://:secret@127.0.0.1:9/0"\n')
    result = helpline("run", "-c", str(cfg), "--role", "router", "--redis-wait", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "cannot reach Redis" in result.stderr
    assert "secret" not in result.stderr  # the password in the URL is never printed


def test_a_console_port_in_use_is_one_line(tmp_path: Path, redis_server: RedisServer) -> None:
    # the console's failure used to leave the other roles running while their coroutines were
    # closed under them: tracebacks (GeneratorExit, CancelledError) and exit status 1
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = tmp_path / "h.toml"
        cfg.write_text(
            f'[redis]\nurl = "{redis_server.url}"\n\n[console]\nport = {port}\n\n'
            f'[database]\nurl = "sqlite:///{tmp_path}/record.db"\n'
        )
        result = helpline("run", "-c", str(cfg), "--role", "console", "--role", "router")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("helpline: ")]
    assert lines == [f"helpline: cannot listen on 127.0.0.1:{port} (is the port in use?)"], result.stderr


def test_status_of_an_unreachable_redis_exits_1_as_a_probe_expects(tmp_path: Path) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text('[redis]\nurl = "redis://:secret@127.0.0.1:9/0"\n')
    result = helpline("status", "-c", str(cfg))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.startswith("desk: down (redis does not answer)"), result.stdout
    as_json = helpline("status", "-c", str(cfg), "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["status"] == "down"
    assert "secret" not in result.stdout + result.stderr + as_json.stdout + as_json.stderr


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        ('[portal]\nbot = "helpcentre"\n', "portal.bot: bot 'helpcentre' has no [bots.helpcentre] section"),
        (
            '[portal]\nbot = "ack"\n\n[bots.ack]\ntype = "autoreply"\ntexts = { en = "Thanks." }\n',
            "portal.bot: bot 'ack' is not of type \"helpcenter\"",
        ),
    ],
)
def test_config_check_names_a_help_center_bot_that_is_not_one(tmp_path: Path, toml: str, said: str) -> None:
    # the help center was silently not served
    cfg = tmp_path / "h.toml"
    cfg.write_text(toml)
    result = helpline("config", "check", "-c", str(cfg))
    assert result.returncode == 2 and result.stderr == said + "\n", result.stderr
    cfg.write_text(toml.replace("[portal]\n", "[portal]\nenabled = false\n"))
    assert helpline("config", "check", "-c", str(cfg)).returncode == 0  # no help center: nothing to serve it


def test_config_check_warns_when_polling_cannot_fit_the_budget(tmp_path: Path) -> None:
    x_secrets = ", ".join(
        f'{n} = "X_{n.upper()}"' for n in ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
    )
    cfg = tmp_path / "h.toml"
    cfg.write_text(
        f'[[accounts]]\nplatform = "x"\nname = "brand"\npoll_interval = 2.0\nsecrets = {{ {x_secrets} }}\n'
        'options = { user_id = "1000" }\n\n'
        '[[accounts]]\nplatform = "mastodon"\nname = "masto"\nbase_url = "https://m.example"\n'
        'poll_interval = 1.0\nsecrets = { access_token = "M_TOKEN" }\n\n'
        '[[accounts]]\nplatform = "mastodon"\nname = "calm"\nbase_url = "https://m.example"\n'
        'poll_interval = 2.0\nsecrets = { access_token = "M_TOKEN" }\n'
    )
    env = {f"X_{n.upper()}": "v" for n in ("consumer_key", "consumer_secret", "access_token", "access_token_secret")}
    result = helpline("config", "check", "-c", str(cfg), env={**env, "M_TOKEN": "t"})
    assert result.returncode == 0, result.stderr  # a warning, not an error
    lines = result.stderr.splitlines()
    assert any(
        line.startswith("warning: accounts.brand.poll_interval: 2 s makes 450 polls per 900 s")
        and "'mentions-read'" in line
        and "use at least 3.75 s" in line
        for line in lines
    ), lines
    assert any(line.startswith("warning: accounts.masto.poll_interval: 1 s") and "'api'" in line for line in lines), (
        lines
    )
    assert not any("accounts.calm" in line for line in lines)


def test_the_demo_polls_within_its_budgets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from helpline.connectors.base import ConnectorContext
    from helpline.connectors.ratelimit import poll_budget_warnings
    from helpline.connectors.registry import build_connector
    from helpline.demo import ENV_PREFIX, SECRET_NAMES, Emulators, demo_settings

    for name in SECRET_NAMES:
        monkeypatch.setenv(ENV_PREFIX + name, "1:secret")

    async def no_ingest(_: object) -> list[bool]:
        return []

    settings = demo_settings("redis://127.0.0.1:1/0", Emulators("http://t", "http://x", "http://m"), 8080, tmp_path)
    connectors = [(a, build_connector(a, ConnectorContext(ingest=no_ingest))) for a in settings.accounts]
    assert any(c.poll_rate_limits() for _, c in connectors)
    assert [w for a, c in connectors for w in poll_budget_warnings(a.name, a.poll_interval, c.poll_rate_limits())] == []


def test_the_demo_mailbox_answers_its_simulated_customers_within_the_auto_reply_cap(tmp_path: Path) -> None:
    # at the default cap (3 an hour to one address) 211 of the bot's answers failed in a 33-minute demo
    import inspect
    from types import SimpleNamespace

    from helpline.cli import demo
    from helpline.demo import _mail_account
    from helpline.mail_simulation import PEOPLE

    interval = inspect.signature(demo).parameters["interval"].default
    mail = SimpleNamespace(dovecot=SimpleNamespace(port=1), relay=SimpleNamespace(port=2))
    (account,) = _mail_account(mail, tmp_path)  # type: ignore[arg-type]
    fastest_tick = 0.5 * interval * 2  # the mail simulation waits interval * 2 * uniform(0.5, 1.5)
    actions_per_customer = 3600 / fastest_tick / len(PEOPLE)
    # room for two automatic mails (an answer, a notice or survey) for each thing a customer writes
    assert account["options"]["auto_replies_per_hour"] >= 2 * actions_per_customer


def test_config_check_of_a_web_chat_account(tmp_path: Path) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text(
        '[[accounts]]\nplatform = "webchat"\nname = "site"\nmode = "webhook"\n'
        'secrets = { identity_secret = "WC_SECRET" }\n'
        'options = { allowed_origins = ["https://www.example.com/shop"] }\n'
    )
    bad = helpline("config", "check", "-c", str(cfg))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "accounts.site.options.allowed_origins" in bad.stderr and "not an origin" in bad.stderr
    cfg.write_text(cfg.read_text().replace("/shop", ""))
    unset = helpline("config", "check", "-c", str(cfg))
    assert "accounts.site.secrets.identity_secret: environment variable WC_SECRET is not set" in unset.stderr
    good = helpline("config", "check", "-c", str(cfg), env={"WC_SECRET": "s"})
    assert good.returncode == 0, good.stderr  # checked without Redis: nothing to complain about


def test_config_check_refuses_a_claim_timeout_shorter_than_a_sender_batch(tmp_path: Path) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text("[pipeline]\nclaim_idle_seconds = 20\nsend_batch_seconds = 10\nsend_timeout_seconds = 15\n")
    result = helpline("config", "check", "-c", str(cfg))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "claim_idle_seconds (20) must exceed" in result.stderr


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        ("[database]\narchivers = 0\n", "database.archivers"),
        ('[database]\narchivers = "many"\n', "database.archivers"),
        ('[database]\nurl = "sqlite:///r.db"\narchivers = 2\n', "archivers (2): SQLite takes one writer at a time"),
        (
            '[redis]\npartitions = 2\n[database]\nurl = "postgresql://h/db"\narchivers = 3\n',
            "database.archivers: 3 archiver processes, more than redis.partitions (2)",
        ),
    ],
)
def test_config_check_names_a_bad_number_of_archivers(tmp_path: Path, toml: str, said: str) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text(toml)
    result = helpline("config", "check", "-c", str(cfg))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert said in result.stderr, result.stderr


def test_the_number_of_archivers_defaults_by_engine() -> None:
    from helpline.config import DatabaseSettings

    assert DatabaseSettings(url="sqlite:///r.db").archiver_processes == 1
    assert DatabaseSettings(url="postgresql://h/db").archiver_processes == 2
    assert DatabaseSettings(url="postgresql://h/db", archivers=3).archiver_processes == 3


def test_dead_letters_replay_of_an_unknown_id_says_so(tmp_path: Path, redis_server: RedisServer) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text(f'[redis]\nurl = "{redis_server.url}"\npartitions = 2\n')
    result = helpline("dead-letters", "replay", "-c", str(cfg), "1-0")
    assert result.returncode == 1 and result.stdout.strip() == "1-0: no such dead letter", result.stderr
    assert helpline("dead-letters", "-c", str(cfg)).returncode == 0  # listing stays the group's default


def test_dead_letters_says_when_there_are_none_and_where_the_url_comes_from(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    import redis as sync_redis

    sync_redis.Redis.from_url(redis_server.url).flushall()
    cfg = tmp_path / "h.toml"
    cfg.write_text(f'[redis]\nurl = "{redis_server.url}"\npartitions = 2\n')
    result = helpline("dead-letters", "-c", str(cfg))
    assert result.returncode == 0 and result.stdout == "" and result.stderr == "no dead letters in the 2 partitions\n"
    no_url = helpline("dead-letters")
    assert no_url.returncode == 2
    assert no_url.stderr == "helpline: redis.url is not set (HELPLINE_REDIS__URL or REDIS_URL)\n"


def test_config_check_names_a_misspelt_email_account_of_a_web_chat(tmp_path: Path) -> None:
    mail = (
        '[[accounts]]\nplatform = "email"\nname = "support"\nsecrets = { username = "MAIL_USER", '
        'password = "MAIL_PASSWORD" }\noptions = { address = "support@example.com", '
        'imap_host = "imap.example.com", smtp_host = "smtp.example.com" }\n\n'
    )
    chat = (
        '[[accounts]]\nplatform = "webchat"\nname = "site"\nmode = "webhook"\n'
        'secrets = {{ identity_secret = "CHAT_SECRET" }}\n'
        'options = {{ allowed_origins = ["https://www.example.com"], email_account = "{}" }}\n'
    )
    env = {"MAIL_USER": "support", "MAIL_PASSWORD": "p", "CHAT_SECRET": "s" * 32}
    cfg = tmp_path / "h.toml"
    cfg.write_text(mail + chat.format("suport"))
    result = helpline("config", "check", "-c", str(cfg), env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        "accounts.site.options.email_account: unknown e-mail account 'suport' (e-mail accounts: support)"
    )
    cfg.write_text(mail + chat.format("support"))
    result = helpline("config", "check", "-c", str(cfg), env=env)
    assert result.returncode == 0, result.stderr


def test_config_check_names_bad_file_store_fields_and_checks_the_bucket(tmp_path: Path, s3_server: S3Server) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text(
        '[files]\nbackend = "s3"\nendpoint = "ftp://store.example"\nbucket = "Not_A_Bucket"\n'
        'region = "us-east-1"\nsecret_key = "in the file"\n'
    )
    result = helpline("config", "check", "-c", str(cfg))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "files.endpoint:" in result.stderr and "files.bucket:" in result.stderr
    assert "files.secret_key: Extra inputs are not permitted" in result.stderr  # secrets only in variables
    cfg.write_text(f'[files]\nbackend = "s3"\nendpoint = "{s3_server.endpoint}"\n')
    assert 'files: bucket required with backend = "s3"' in helpline("config", "check", "-c", str(cfg)).stderr
    bucket = s3_server.new_bucket()
    cfg.write_text(
        f'[files]\nbackend = "s3"\nendpoint = "{s3_server.endpoint}"\nbucket = "{bucket}"\n'
        f'region = "us-east-1"\naccess_key = "{ACCESS_KEY}"\n'
    )
    unset = helpline("config", "check", "-c", str(cfg))
    assert unset.returncode == 2 and "Traceback" not in unset.stderr
    assert "files.secret_key_env: the variable HELPLINE_S3_SECRET_KEY is not set" in unset.stderr
    keys = {"HELPLINE_S3_SECRET_KEY": SECRET_KEY}
    assert helpline("config", "check", "-c", str(cfg), env=keys).returncode == 0
    cfg.write_text(cfg.read_text().replace(bucket, "no-such-bucket"))
    missing = helpline("config", "check", "-c", str(cfg), env=keys)
    assert missing.returncode == 2 and "files.bucket: no bucket 'no-such-bucket' at the endpoint" in missing.stderr


def test_every_help_text_shows_its_toml_sections() -> None:
    # help is rendered as rich markup, where a bare "[retention]" is a style tag and vanished
    from typer.main import get_command
    from typer.testing import CliRunner

    from helpline.cli import app

    def commands(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        yield path, command
        for name, sub in (getattr(command, "commands", None) or {}).items():
            yield from commands(sub, [*path, name])

    checked = 0
    for path, command in commands(get_command(app), []):
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        sections = {f"[{s}]" for text in texts for s in re.findall(r"\[([a-z_.]+)\]", text)}
        if not sections:
            continue
        shown = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"}).output
        for section in sections:
            assert section in shown, (path, section, shown)
            checked += 1
    assert checked >= 5  # kb check, kb calibrate, kb gaps, archive retention, files migrate
