"""The `helpline` command fails with one clear line and status 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def helpline(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_") and k != "REDIS_URL"}
    return subprocess.run([sys.executable, "-m", "helpline", *args], capture_output=True, text=True, timeout=60,
                          env={**clean, **(env or {})})


def test_config_check_names_each_bad_field(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[redis]\npartitions = 0\n\n[[rules]]\nname = "x"\nset = { priority = "sometimes" }\n'
                   '\n[[rules]]\nname = "y"\nset = { team = "sup\\u001fport" }\n')
    result = helpline("config", "check", "-c", str(cfg))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "redis.partitions" in result.stderr and "rules.0.set.priority" in result.stderr
    assert "rules.1.set.team" in result.stderr


def test_a_missing_secret_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text('[[accounts]]\nplatform = "telegram"\nname = "bot"\nsecrets = { token = "TG_TOKEN_UNSET" }\n')
    result = helpline("config", "check", "-c", str(cfg))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "accounts.bot.secrets.token: environment variable TG_TOKEN_UNSET is not set" in result.stderr


@pytest.mark.parametrize(("platform", "secrets", "typo"), [
    ("telegram", 'token = "TG_TOKEN"', "bot_per_secnd"),
    ("x", 'bearer_token = "X_BEARER"', "tweets_per_15_min"),
    ("mastodon", 'access_token = "MASTODON_TOKEN"', "pagesize"),
])
def test_a_misspelt_connector_option_is_named(tmp_path: Path, platform: str, secrets: str, typo: str) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text(f'[[accounts]]\nplatform = "{platform}"\nname = "acct"\nbase_url = "http://127.0.0.1:9"\n'
                   f'secrets = {{ {secrets} }}\noptions = {{ {typo} = 5 }}\n')
    env = {"TG_TOKEN": "123:abc", "X_BEARER": "b", "MASTODON_TOKEN": "t"}
    result = helpline("config", "check", "-c", str(cfg), env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"accounts.acct.options.{typo}: not an option of the {platform} connector" in result.stderr


def test_config_check_names_out_of_range_connector_options_without_clamping(tmp_path: Path) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text('[[accounts]]\nplatform = "x"\nname = "brand"\nsecrets = { bearer_token = "X_BEARER" }\n'
                   'options = { page_size = 1000 }\n\n'
                   '[[accounts]]\nplatform = "telegram"\nname = "bot"\nsecrets = { token = "TG_TOKEN" }\n'
                   'options = { long_poll_timeout = 99 }\n\n'
                   '[[accounts]]\nplatform = "mastodon"\nname = "support"\nbase_url = "http://127.0.0.1:9"\n'
                   'secrets = { access_token = "MASTODON_TOKEN" }\noptions = { page_size = 0 }\n')
    result = helpline("config", "check", "-c", str(cfg), env={"TG_TOKEN": "123:abc", "X_BEARER": "b",
                                                              "MASTODON_TOKEN": "t"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "accounts.brand.options.page_size: Input should be less than or equal to 100" in result.stderr
    assert "accounts.bot.options.long_poll_timeout: Input should be less than or equal to 10" in result.stderr
    assert "accounts.support.options.page_size: Input should be greater than or equal to 1" in result.stderr


def test_config_check_names_misspelt_bot_options(tmp_path: Path) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text('[bots.helpcenter]\nmax_attemps = 3\ngenerativ = { enabled = true }\n\n'
                   '[bots.ack]\ntype = "autoreply"\ntexts = { en = "hi" }\nhandof = false\n')
    result = helpline("config", "check", "-c", str(cfg))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    for key in ("bots.helpcenter.max_attemps", "bots.helpcenter.generativ", "bots.ack.handof"):
        assert f"{key}: not an option of the" in result.stderr


def test_config_check_names_every_bot_that_cannot_be_built(tmp_path: Path) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text('[bots.helpcenter]\nkb = "no/such/folder"\n\n'
                   '[bots.ack]\ntype = "autoreply"\ntexts = { ko = "안녕하세요" }\n')
    result = helpline("config", "check", "-c", str(cfg))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "bots.helpcenter.kb:" in result.stderr and "bots.ack.texts:" in result.stderr


def test_unreachable_redis_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text("[redis]\nurl = \"redis://:secret@127.0.0.1:9/0\"\n")
    result = helpline("run", "-c", str(cfg), "--role", "router", "--redis-wait", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "cannot reach Redis" in result.stderr
    assert "secret" not in result.stderr  # the password in the URL is never printed
