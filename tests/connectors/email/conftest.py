"""Real mail servers for the e-mail tests: Dovecot over IMAP and an aiosmtpd relay, on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis

from helpline.connectors.base import AccountSettings, ConnectorContext
from helpline.connectors.email.connector import EmailConnector
from helpline.connectors.email.mailservers import Dovecot, Relay
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.connectors.runner import PollRunner
from helpline.routing import keys
from helpline.routing.bus import StreamConsumer
from helpline.routing.sender import Sender
from tests.factories import Parts, build_router, route_all

SUPPORT = "support@helpline.test"
USERS = {"support": "imap-secret", "ann": "ann-secret", "taro": "taro-secret"}
CUSTOMERS = {"ann@example.com": "ann", "taro.yamada@mail.example.jp": "taro"}
ENV = {
    "MAIL_USER": "support",
    "MAIL_PASSWORD": "imap-secret",
    "SMTP_USER": "relay-user",
    "SMTP_PASSWORD": "relay-secret",
    "MAIL_LINK_SECRET": "link-secret-for-tests-0123456789",
}
SECRETS = {
    "username": "MAIL_USER",
    "password": "MAIL_PASSWORD",
    "smtp_username": "SMTP_USER",
    "smtp_password": "SMTP_PASSWORD",
    "link_secret": "MAIL_LINK_SECRET",
}


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot(USERS).start()
    yield server
    server.stop()


@pytest.fixture
def relay(dovecot: Dovecot) -> Iterator[Relay]:
    server = Relay("relay-user", "relay-secret", dovecot, CUSTOMERS).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def mail_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def account(
    dovecot: Dovecot, relay: Relay | None, tmp_path: Path, secrets: dict[str, str] | None = None, **options: Any
) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "address": SUPPORT,
        "display_name": "Helpline Support",
        "imap_host": "127.0.0.1",
        "imap_port": dovecot.port,
        "imap_security": "none",
        "smtp_host": "127.0.0.1",
        "smtp_port": relay.port if relay else 1,
        "smtp_security": "none",
        "first_poll": "all",
        "attachments_dir": str(tmp_path / "files"),
        "idle_seconds": 1.0,
        "timeout_seconds": 10,
    }
    opts.update(options)
    return {
        "platform": "email",
        "name": "support",
        "poll_interval": 0.2,
        "secrets": secrets or SECRETS,
        "options": opts,
    }


def connector(
    r: redis.Redis,
    dovecot: Dovecot,
    tmp_path: Path,
    relay: Relay | None = None,
    ingest: Any = None,
    secrets: dict[str, str] | None = None,
    **options: Any,
) -> EmailConnector:
    async def no_ingest(messages: Any) -> list[bool]:
        return [True] * len(messages)

    settings = AccountSettings.model_validate(account(dovecot, relay, tmp_path, secrets, **options))
    return EmailConnector(
        settings, ConnectorContext(ingest=ingest or no_ingest, redis=r, public_base_url="http://127.0.0.1:9")
    )


@dataclass
class Desk:
    """The whole pipeline on one e-mail account: poller, router, sender."""

    parts: Parts
    connector: EmailConnector
    runner: PollRunner
    router: Any
    sender: Sender
    consumer: StreamConsumer

    async def poll(self, rounds: int = 3) -> None:
        for _ in range(rounds):
            await self.runner.poll_once()

    async def route(self) -> None:
        await route_all(self.parts, self.router)

    async def send(self, rounds: int = 2) -> None:
        await self.consumer.ensure_groups()
        for _ in range(rounds):
            await self.consumer.step()

    async def cycle(self) -> None:
        await self.poll()
        await self.route()
        await self.send()

    async def conversation_of_thread(self, thread_key: str) -> str:
        cid = await self.parts.store.find_thread("email", "support", thread_key)
        assert cid is not None
        return cid


def desk(
    r: redis.Redis,
    dovecot: Dovecot,
    relay: Relay,
    tmp_path: Path,
    *,
    rules: Any = (),
    bots: Any = None,
    secrets: dict[str, str] | None = None,
    **options: Any,
) -> Desk:
    from helpline.config import Settings

    settings = Settings(
        redis={"url": "redis://unused", "partitions": 4},
        accounts=[account(dovecot, relay, tmp_path, secrets, idle=False, **options)],
        teams=[{"id": "support", "default": True}],
        rules=list(rules),
        bots=bots or {},
        console={"public_url": "http://127.0.0.1:9"},
    )
    parts = Parts.build(settings, r)
    parts.make_connectors()
    email = parts.connectors[("email", "support")]
    assert isinstance(email, EmailConnector)
    sender = Sender(r, parts.connectors, settings.redis.partitions, limiter=SharedRateLimiter(r))
    consumer = StreamConsumer(
        r,
        keys.SENDER_GROUP,
        "s1",
        sender.streams(),
        sender.handle_batch,
        sender.dead_letter_key,
        block_ms=5,
        retry_idle_ms=30,
    )
    return Desk(parts, email, PollRunner(r, email), build_router(parts), sender, consumer)
