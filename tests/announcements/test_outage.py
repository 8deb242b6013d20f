"""A real publisher process through a Telegram outage (502s, then nothing listening): the
broadcast waits, backing off per account, and goes out whole once the platform is back; nothing
is recorded failed or dead-lettered, and the platform is not hammered meanwhile."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import redis.asyncio as redis

from helpline.announcements.models import Target, TargetKind
from helpline.announcements.settings import AnnouncementSettings
from helpline.announcements.store import AnnouncementStore
from helpline.announcements.subscribers import SubscriberStore
from helpline.announcements.workflow import Workflow
from helpline.connectors.emulation import free_port, serve
from helpline.connectors.telegram.emulator import create_app
from helpline.routing import keys
from tests.health.procs import env_without_helpline, start, stop
from tests.redis_server import RedisServer

TOKEN = "424242:AAHZFMHno3mzVLErU5b5jJvaeG-outage"
SUBSCRIBERS = [7_000_000 + i for i in range(12)]


def config(tmp: Path, redis_url: str, port: int) -> Path:
    cfg = tmp / "helpline.toml"
    # Two deliveries, 2 s apart, were enough to record a delivery failed during an outage.
    cfg.write_text(
        f'[redis]\nurl = "{redis_url}"\npartitions = 2\n\n'
        "[announcements]\nrequire_approval = []\nclaim_idle_seconds = 2.0\nmax_deliveries = 2\n"
        "scheduler_interval = 0.2\n\n"
        f'[[accounts]]\nplatform = "telegram"\nname = "bot"\nbase_url = "http://127.0.0.1:{port}"\n'
        'secrets = { token = "TG_TOKEN" }\noptions = { long_poll_timeout = 0 }\n'
    )
    return cfg


async def test_a_broadcast_waits_out_a_platform_outage_and_goes_out_whole(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    app = create_app(token=TOKEN)
    state = app.state.emulator
    for chat in SUBSCRIBERS:
        state.add_chat({"id": chat, "type": "private"})
    client = redis.Redis.from_url(own_redis.url)
    for chat in SUBSCRIBERS:
        await SubscriberStore(client).subscribe("bot", chat)
    port = free_port()
    proc = None
    try:
        async with serve(app, port=port) as url, httpx.AsyncClient(base_url=url) as http:
            proc = start(
                tmp_path,
                "publisher",
                "run",
                "-c",
                str(config(tmp_path, own_redis.url, port)),
                "--role",
                "publisher",
                env=env_without_helpline(TG_TOKEN=TOKEN),
            )
            await http.post("/_emulator/config", json={"outage_status": 502})
            workflow = Workflow(AnnouncementStore(client), AnnouncementSettings(require_approval=()))
            a = await workflow.compose(
                text="Deposits pause tonight 02:00-04:00 UTC.",
                actor="marketing",
                targets=(Target(kind=TargetKind.TELEGRAM_SUBSCRIBERS, account="bot"),),
            )
            await workflow.submit(a.id, "marketing")
            deadline = time.monotonic() + 60
            while state.stats["errors_502"] == 0:  # the publisher started and met the outage
                assert time.monotonic() < deadline, (tmp_path / "publisher.log").read_text()[-2000:]
                await asyncio.sleep(0.2)
            await asyncio.sleep(6)
            # Backing off (1 s doubling, per account): a handful of tries, not one per job and retry.
            assert 0 < state.stats["errors_502"] <= 12, state.stats
            await http.post("/_emulator/config", json={"outage_status": 0})
        await asyncio.sleep(3)  # nothing listens on the platform's port
        async with serve(app, port=port):
            deadline = time.monotonic() + 90
            while not (await AnnouncementStore(client).get(a.id)).state.final:
                assert time.monotonic() < deadline, (tmp_path / "publisher.log").read_text()[-2000:]
                await asyncio.sleep(0.3)
        announcement = await AnnouncementStore(client).get(a.id)
        assert announcement.state.value == "published", announcement
        received = sorted(int(m["chat_id"]) for m in state.sent if "Deposits pause" in str(m.get("text")))
        assert received == SUBSCRIBERS  # each once
        assert await client.xlen(keys.publish_dead_letters("telegram", "bot")) == 0
        log = (tmp_path / "publisher.log").read_text()
        assert "wait" in log and TOKEN not in log and "Traceback" not in log
    finally:
        if proc is not None:
            stop(proc)
        await client.aclose()
