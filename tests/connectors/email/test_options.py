"""An e-mail account's configuration: options and secrets checked without any network or Redis."""

from __future__ import annotations

from typing import Any

import pytest

from helpline.connectors.base import AccountSettings, ConnectorContext
from helpline.connectors.email.connector import EmailConnector
from helpline.connectors.errors import ConfigError
from helpline.connectors.registry import connector_class

BASE: dict[str, Any] = {
    "address": "support@example.com",
    "imap_host": "imap.example.com",
    "smtp_host": "smtp.example.com",
}


async def _no_ingest(_: object) -> list[bool]:
    return []


def build(options: dict[str, Any], secrets: dict[str, str] | None = None) -> EmailConnector:
    settings = AccountSettings(
        platform="email",
        name="mail",
        options=options,
        secrets=secrets if secrets is not None else {"username": "M_U", "password": "M_P"},
    )
    return EmailConnector(settings, ConnectorContext(ingest=_no_ingest))  # as `helpline config check` does


def test_the_platform_is_registered() -> None:
    assert connector_class("email") is EmailConnector


def test_config_check_builds_it_without_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("M_U", "u")
    monkeypatch.setenv("M_P", "p")
    c = build(dict(BASE))
    assert c.options.imap_port == 993 and c.options.smtp_security == "starttls"
    assert [v.value for v in c.capabilities().visibilities] == ["private"]  # mail is never public


@pytest.mark.parametrize(
    "options, field",
    [
        ({**BASE, "address": "not an address"}, "address"),
        ({**BASE, "imap_security": "ssl"}, "imap_security"),
        ({**BASE, "idle_seconds": 60}, "idle_seconds"),
        ({**BASE, "smtp_hots": "x"}, "smtp_hots"),
        ({"address": "support@example.com", "smtp_host": "x"}, "imap_host"),
    ],
)
def test_a_wrong_option_is_named(monkeypatch: pytest.MonkeyPatch, options: dict[str, Any], field: str) -> None:
    monkeypatch.setenv("M_U", "u")
    monkeypatch.setenv("M_P", "p")
    with pytest.raises(ConfigError, match=rf"accounts\.mail\.options\.{field}"):
        build(options)


def test_a_missing_secret_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("M_U", raising=False)
    with pytest.raises(ConfigError, match=r"accounts\.mail\.secrets\.username: environment variable M_U"):
        build(dict(BASE))
