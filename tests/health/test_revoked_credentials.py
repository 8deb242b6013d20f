"""A credential revoked while the desk runs: the sender says so in one line, the account is down
in health with the reason, the replies wait (none failed or dead-lettered), and the platform is
not called in a loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import redis.asyncio as redis

from helpline.config import Settings
from helpline.connectors.emulation import serve
from helpline.connectors.telegram.emulator import create_app as telegram_emulator
from helpline.health.view import desk_health
from helpline.routing import keys
from helpline.routing.models import Conversation, MessageKind, utcnow
from helpline.routing.outbound import reply_to
from helpline.routing.store import ConversationStore, Effects
from tests.health.procs import env_without_helpline, start, stop
from tests.health.test_unavailable_start import TOKEN, config
from tests.redis_server import RedisServer

CHATS = (501, 502, 503)


async def write(client: redis.Redis, index: int) -> list[str]:
    now = utcnow()
    effects, ids = [], []
    for chat in CHATS:
        conv = Conversation(
            id=f"1-{chat}",
            platform="telegram",
            account="tg",
            kind=MessageKind.DIRECT,
            thread_key=f"chat:{chat}",
            contact_id=f"telegram:tg:{chat}",
            created_at=now,
            updated_at=now,
        )
        reply = reply_to(
            conv,
            reply_id=f"{conv.id}:r{index}",
            text=f"reply {index} to {chat}",
            sender="agent:amy",
            in_reply_to=None,
            recipient_id=str(chat),
        )
        effects.append(Effects(conv.id).reply(reply, 1))
        ids.append(reply.reply_id)
    await ConversationStore(client, 2).commit(effects, now)
    return ids


async def states(client: redis.Redis, ids: list[str]) -> set[str]:
    return {((await client.hget(keys.delivery(1, rid), "state")) or b"").decode() for rid in ids}


async def test_a_token_revoked_at_run_time_is_said_once_the_account_down_and_replies_wait(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    app = telegram_emulator(token=TOKEN)
    state = app.state.emulator
    for chat in CHATS:
        state.add_chat({"id": chat, "type": "private"})
    client = redis.Redis.from_url(own_redis.url)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        settings = Settings.model_validate(
            {
                "redis": {"url": own_redis.url, "partitions": 2},
                "accounts": [
                    {"platform": "telegram", "name": "tg", "base_url": base_url, "secrets": {"token": "TG_TOKEN"}}
                ],
            }
        )
        proc = start(
            tmp_path,
            "sender",
            "run",
            "-c",
            str(config(tmp_path, own_redis.url, base_url)),
            "--role",
            "sender",
            env=env_without_helpline(TG_TOKEN=TOKEN),
        )
        try:
            first = await write(client, 0)
            deadline = time.monotonic() + 60
            while await states(client, first) != {"sent"}:
                assert time.monotonic() < deadline, (tmp_path / "sender.log").read_text()[-2000:]
                await asyncio.sleep(0.2)
            state.token = "424242:another-token"
            later = await write(client, 1) + await write(client, 2)
            while True:
                desk = await desk_health(client, settings.accounts)
                reasons = " ".join(desk.reasons)
                if "credentials refused" in reasons:
                    break
                assert time.monotonic() < deadline + 30, desk.as_json()
                await asyncio.sleep(0.2)
            assert "telegram/tg" in reasons and desk.status != "ok", desk.as_json()
            await asyncio.sleep(4)
            assert proc.poll() is None
            assert 1 <= state.stats["errors_401"] <= 2, state.stats  # tried, then waits (60 s)
            assert await states(client, later) == {"queued"}  # waiting in order, none failed
            assert sum([await client.xlen(keys.dead_letters(p)) for p in range(2)]) == 0
            sent = (await http.get("/_emulator/sent")).json()["messages"]
            assert sorted(m["text"] for m in sent) == sorted(f"reply 0 to {chat}" for chat in CHATS)
            log = (tmp_path / "sender.log").read_text()
            assert log.count("refused the credentials") == 1, log
            assert "Traceback" not in log and TOKEN not in log and "another-token" not in log
        finally:
            stop(proc)
            await client.aclose()
