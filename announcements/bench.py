"""`helpline bench broadcast`: a Telegram broadcast to N subscribers against the Bot API emulator
enforcing the platform's overall limit, through the real publishing path (dispatch, publish
stream, publisher, shared rate limiter, delivery records), on a real Redis.

With `kill_after`, the publisher runs as a real subprocess (`python -m helpline.announcements.worker`),
is killed with SIGKILL that many seconds after its first post, and a fresh one is started: the run must still
end with no duplicate and (but for at most the post in flight at the kill, reported as
"uncertain") no missing message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as redis

from helpline.connectors.base import AccountSettings
from helpline.connectors.emulation import serve
from helpline.connectors.telegram.emulator import create_app

from .models import Target, TargetKind
from .settings import AnnouncementSettings
from .store import AnnouncementStore
from .subscribers import SubscriberStore
from .worker import build, run_publishing
from .workflow import Workflow

TOKEN = "424242:BENCH-broadcast-token"  # noqa: S105 (the emulator's made-up token)
TOKEN_ENV = "HELPLINE_BENCH_TELEGRAM_TOKEN"  # noqa: S105 (the name of a variable)
FIRST_SUBSCRIBER = 5_000_000_000


def _settings(limit: float) -> AnnouncementSettings:
    return AnnouncementSettings(
        require_approval=(),
        claim_idle_seconds=2.0,
        concurrency=4,
        batch_size=max(10, min(500, int(limit))),
        scheduler_interval=0.2,
    )


async def _seed(client: redis.Redis, state: Any, subscribers: int) -> None:
    users = range(FIRST_SUBSCRIBER, FIRST_SUBSCRIBER + subscribers)
    for user in users:  # they started the bot: their private chats exist
        state.add_chat({"id": user, "type": "private"})
    store = SubscriberStore(client)
    for user in users:
        await store.subscribe("bench", user)


async def _watch(state: Any, done: asyncio.Event, marks: dict[str, float]) -> None:
    """Record when the first and the latest message reached the emulator."""
    last = 0
    while not done.is_set():
        sent = int(state.stats["sent_messages"])
        if sent and "first" not in marks:
            marks["first"] = time.perf_counter()
        if sent != last:
            marks["last"], last = time.perf_counter(), sent
        await asyncio.sleep(0.005)


def _spawn(url: str, accounts: Path, settings: Path, name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "helpline.announcements.worker",
            "--redis-url",
            url,
            "--accounts",
            str(accounts),
            "--settings",
            str(settings),
            "--name",
            name,
        ],
        env={**os.environ, TOKEN_ENV: TOKEN},
        cwd=Path(__file__).resolve().parent.parent,
    )


async def broadcast_benchmark(
    redis_url: str,
    subscribers: int,
    limit_per_second: float,
    kill_after: float | None = None,
    limit_seconds: float | None = None,
) -> dict[str, Any]:
    """On the empty Redis at `redis_url` (the caller's to provide and to wipe)."""
    os.environ[TOKEN_ENV] = TOKEN
    limits = {"global_per_second": limit_per_second, "global_burst": max(1, int(limit_per_second))}
    app = create_app(token=TOKEN, bot_username="bench_bot", limits=limits)
    state = app.state.emulator
    settings = _settings(limit_per_second)
    deadline = limit_seconds or max(60.0, subscribers / limit_per_second * 3 + 30)
    with tempfile.TemporaryDirectory(prefix="helpline-broadcast-") as tmp:
        url = redis_url
        client = redis.Redis.from_url(url)
        procs: list[subprocess.Popen[bytes]] = []
        stop = asyncio.Event()
        try:
            async with serve(app) as emulator_url:
                account = AccountSettings(
                    platform="telegram",
                    name="bench",
                    base_url=emulator_url,
                    secrets={"token": TOKEN_ENV},
                    options={"long_poll_timeout": 0, "bot_per_second": limit_per_second},
                )
                await _seed(client, state, subscribers)
                workflow = Workflow(AnnouncementStore(client), settings)
                a = await workflow.compose(
                    text="Scheduled maintenance tonight 02:00–04:00 UTC: deposits and "
                    "withdrawals pause; trading continues. <Details in the app.>",
                    targets=(Target(kind=TargetKind.TELEGRAM_SUBSCRIBERS, account="bench"),),
                    actor="bench",
                )
                marks: dict[str, float] = {}
                done = asyncio.Event()
                watcher = asyncio.create_task(_watch(state, done, marks))
                start = time.perf_counter()
                await workflow.submit(a.id, "bench")
                tasks: list[asyncio.Task[None]] = []
                connectors: list[Any] = []
                if kill_after is None:
                    from helpline.connectors.base import ConnectorContext
                    from helpline.connectors.registry import build_connector

                    async def _no_ingest(messages: Any) -> list[bool]:
                        return []

                    connector = build_connector(account, ConnectorContext(ingest=_no_ingest, redis=client))
                    await connector.start()
                    connectors.append(connector)
                    p = build(client, {("telegram", "bench"): connector}, settings, [account], "bench-publisher")
                    tasks.append(asyncio.create_task(run_publishing(p, settings, stop)))
                else:
                    accounts_file, settings_file = Path(tmp) / "accounts.json", Path(tmp) / "settings.json"
                    accounts_file.write_text(json.dumps([account.model_dump(mode="json")]))
                    settings_file.write_text(settings.model_dump_json())
                    procs.append(_spawn(url, accounts_file, settings_file, "publisher-1"))
                store = AnnouncementStore(client)
                killed = False
                sent_at_kill: int | None = None
                while (await store.get(a.id)).state.value == "publishing" or not (await store.get(a.id)).state.final:
                    if time.perf_counter() - start > deadline:
                        raise TimeoutError(f"broadcast not finished after {deadline:.0f}s")
                    # Timed from the first post, so a slow process start cannot push the kill before it.
                    first = marks.get("first")
                    if kill_after is not None and not killed and first and time.perf_counter() - first >= kill_after:
                        os.kill(procs[0].pid, signal.SIGKILL)
                        procs[0].wait()
                        killed = True
                        sent_at_kill = int(state.stats["sent_messages"])
                        procs.append(_spawn(url, accounts_file, settings_file, "publisher-2"))
                    await asyncio.sleep(0.05)
                elapsed = time.perf_counter() - start
                done.set()
                await watcher
                stop.set()
                for task in tasks:
                    await task
                for connector in connectors:
                    await connector.stop()
                async with httpx.AsyncClient(base_url=emulator_url) as http:
                    stats = (await http.get("/_emulator/stats")).json()
                progress = await store.progress(a.id)
                final_state = (await store.get(a.id)).state.value
        finally:
            stop.set()
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(5)
                    if proc.poll() is None:
                        proc.kill()
            await client.aclose()
    per_chat = Counter(int(m["chat_id"]) for m in state.sent)
    expected = set(range(FIRST_SUBSCRIBER, FIRST_SUBSCRIBER + subscribers))
    sending_window = max(1e-9, marks.get("last", 0.0) - marks.get("first", 0.0))
    received = len(state.sent)
    return {
        "subscribers": subscribers,
        "messages_per_second": round((received - 1) / sending_window, 2) if received > 1 else 0.0,
        "limit_per_second": limit_per_second,
        "share_of_limit": round((received - 1) / sending_window / limit_per_second, 4) if received > 1 else 0.0,
        "rate_limited_responses": int(stats.get("rate_limited_responses", 0)),
        "duplicates": sum(n - 1 for n in per_chat.values() if n > 1),
        "missing": len(expected - set(per_chat)),
        "unexpected": len(set(per_chat) - expected),
        "uncertain": progress.uncertain,
        "failed": progress.failed,
        "state": final_state,
        "elapsed_s": round(elapsed, 2),
        "sending_window_s": round(sending_window, 2),
        "killed_after_s": kill_after,
        "sent_at_kill": sent_at_kill,
    }
