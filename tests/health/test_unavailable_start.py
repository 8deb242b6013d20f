"""A process started while its platform is down starts anyway: the account is marked unavailable
(and `/healthz` says degraded, with the reason), the start is retried in the background, and the
account works once the platform answers. A refused token still stops the process with one line."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import redis.asyncio as redis

from helpline.config import Settings
from helpline.connectors.emulation import free_port, serve
from helpline.connectors.mastodon.emulator import create_app as mastodon_emulator
from helpline.connectors.mastodon.emulator_state import EmulatorConfig
from helpline.connectors.telegram.emulator import create_app as telegram_emulator
from helpline.health.view import DeskHealth, desk_health
from helpline.routing import keys
from helpline.routing.models import utcnow
from helpline.routing.outbound import reply_to
from helpline.routing.store import ConversationStore, Effects
from tests.factories import private_conversation
from tests.health.procs import env_without_helpline, helpline, start, stop
from tests.redis_server import RedisServer

TOKEN = "123456:AAHZFMHno3mzVLErU5b5jJvaeG-test"


def config(tmp: Path, redis_url: str, base_url: str) -> Path:
    cfg = tmp / "helpline.toml"
    cfg.write_text(
        f'[redis]\nurl = "{redis_url}"\npartitions = 2\n\n[health]\nheartbeat_ttl_seconds = 3\n\n'
        f'[[accounts]]\nplatform = "telegram"\nname = "tg"\nbase_url = "{base_url}"\n'
        'poll_interval = 0.5\nsecrets = { token = "TG_TOKEN" }\noptions = { long_poll_timeout = 1 }\n'
    )
    return cfg


async def wait_for(client: redis.Redis, settings: Settings, want: str, within: float) -> DeskHealth:
    started = time.monotonic()
    while True:
        desk = await desk_health(client, settings.accounts)
        if desk.processes and desk.status == want:
            return desk
        assert time.monotonic() - started < within, f"never {want}: {desk.as_json()}"
        await asyncio.sleep(0.2)


async def test_a_process_started_while_the_platform_is_down_starts_and_recovers(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    cfg = config(tmp_path, own_redis.url, base_url)
    settings = Settings.model_validate(
        {
            "redis": {"url": own_redis.url, "partitions": 2},
            "accounts": [
                {"platform": "telegram", "name": "tg", "base_url": base_url, "secrets": {"token": "TG_TOKEN"}}
            ],
        }
    )
    client = redis.Redis.from_url(own_redis.url)
    proc = start(
        tmp_path,
        "run",
        "run",
        "-c",
        str(cfg),
        "--role",
        "connectors",
        "--role",
        "sender",
        env=env_without_helpline(TG_TOKEN=TOKEN),
    )
    try:
        # nothing listens on the platform's port: the process runs, the desk says degraded and why
        desk = await wait_for(client, settings, "degraded", within=60)
        assert proc.poll() is None, (tmp_path / "run.log").read_text()
        reason = " ".join(desk.reasons)
        assert "telegram/tg" in reason and "unavailable: could not start" in reason, reason
        log = (tmp_path / "run.log").read_text()
        assert "unavailable, starting anyway" in log and "Traceback" not in log and TOKEN not in log

        # the platform comes up: the background start succeeds and the account polls and ingests
        app = telegram_emulator(token=TOKEN, bot_username="helpline_bot")
        async with serve(app, port=port) as url, httpx.AsyncClient(base_url=url) as http:
            response = await http.post(
                "/_emulator/customer-messages",
                json={
                    "user": {"id": 42, "handle": "user42", "name": "Cust 42"},
                    "text": "my withdrawal is stuck",
                    "kind": "direct",
                },
            )
            assert response.status_code == 200, response.text
            chat_id = response.json()["chat_id"]
            await wait_for(client, settings, "ok", within=90)
            deadline = time.monotonic() + 30
            while sum([await client.xlen(keys.inbound_stream(p)) for p in range(2)]) < 1:
                assert time.monotonic() < deadline, "the message was never ingested"
                await asyncio.sleep(0.2)
            # and the sender of the same process posts through the account
            now = utcnow()
            conv = private_conversation("1-1", platform="telegram", account="tg", thread=f"chat:{chat_id}", user="42")
            reply = reply_to(
                conv, reply_id="1-1:r1", text="We are on it", sender="agent:amy", in_reply_to=None, recipient_id="42"
            )
            await ConversationStore(client, 2).commit([Effects(conv.id).reply(reply, 1)], now)
            while "We are on it" not in [m["text"] for m in (await http.get("/_emulator/sent")).json()["messages"]]:
                assert time.monotonic() < deadline + 30, "the reply was never posted"
                await asyncio.sleep(0.2)
        assert proc.poll() is None
    finally:
        stop(proc)
        await client.aclose()


async def test_a_refused_token_still_fails_fast_with_one_line(tmp_path: Path, own_redis: RedisServer) -> None:
    async with serve(telegram_emulator(token=TOKEN)) as base_url:
        cfg = config(tmp_path, own_redis.url, base_url)
        rc, _, err = await helpline(
            "run", "-c", str(cfg), "--role", "connectors", env=env_without_helpline(TG_TOKEN="999:revoked-token")
        )
    assert rc == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert "accounts.tg (telegram): could not start" in err and "revoked-token" not in err


async def test_a_revoked_mastodon_token_fails_fast_with_one_line(tmp_path: Path, own_redis: RedisServer) -> None:
    async with serve(mastodon_emulator(config=EmulatorConfig(token="the-valid-token"))) as base_url:
        cfg = tmp_path / "h.toml"
        cfg.write_text(
            f'[redis]\nurl = "{own_redis.url}"\n\n[[accounts]]\nplatform = "mastodon"\nname = "support"\n'
            f'base_url = "{base_url}"\nsecrets = {{ access_token = "MASTODON_TOKEN" }}\n'
        )
        rc, _, err = await helpline(
            "run", "-c", str(cfg), "--role", "connectors", env=env_without_helpline(MASTODON_TOKEN="t0ken-value")
        )
    assert rc == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert "accounts.support (mastodon): could not start" in err and "t0ken-value" not in err
