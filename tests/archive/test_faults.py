"""Faults: a real archiver process killed with SIGKILL mid-batch, and a record that goes away."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis
from sqlalchemy import func, select

from helpline.archive.archiver import Archiver, archive_lag
from helpline.archive.database import Database
from helpline.archive.record import Record
from helpline.archive.schema import conversations, events, messages
from helpline.routing import keys
from tests.archive.helpers import Desk
from tests.factories import message
from tests.redis_server import RedisServer


async def _sql_count(db: Database, table: object) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def _redis_totals(r: redis.Redis, desk: Desk) -> tuple[int, int, dict[str, int]]:
    ids = await desk.parts.store.recent(10_000)
    async with r.pipeline(transaction=False) as pipe:
        for cid in ids:
            pipe.zcard(keys.messages(cid))
            pipe.llen(keys.events(cid))
            pipe.hget(keys.conversation(cid), "version")
        raw = await pipe.execute()
    revs = {cid: int(raw[3 * i + 2]) for i, cid in enumerate(ids)}
    return sum(raw[0::3]), sum(raw[1::3]), revs


def _spawn(redis_url: str, database_url: str, **extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **extra,
        "HELPLINE_REDIS__URL": redis_url,
        "HELPLINE_REDIS__PARTITIONS": "4",
        "HELPLINE_DATABASE__URL": database_url,
        "HELPLINE_DATABASE__BATCH_SIZE": "7",
        "HELPLINE_PIPELINE__CLAIM_IDLE_SECONDS": "1",  # the claim must outlast a sender batch: short ones
        "HELPLINE_PIPELINE__SEND_BATCH_SECONDS": "0.3",
        "HELPLINE_PIPELINE__SEND_TIMEOUT_SECONDS": "0.5",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "helpline", "run", "--role", "archiver"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def test_a_killed_archiver_loses_and_doubles_nothing(
    r: redis.Redis, db: Database, database_url: str, redis_server: RedisServer
) -> None:
    desk = Desk(r, db)
    total = 600
    for start in range(0, total, 10):  # many small commits: many change entries, many archiver batches
        await desk.ingest(
            [message(f"message {i} 출금", thread=f"t{i % 200}", user=f"u{i % 200}") for i in range(start, start + 10)]
        )
    first = _spawn(redis_server.url, database_url)
    try:
        deadline = time.monotonic() + 120
        while await _sql_count(db, messages) < total // 6:
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline, "the archiver did not start archiving"
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            first.kill()
    archived_at_kill = await _sql_count(db, messages)
    assert archived_at_kill < total, "killed too late to test anything"
    second = _spawn(redis_server.url, database_url)
    try:
        deadline = time.monotonic() + 120
        while (await archive_lag(r, 4)).entries > 0:
            assert second.poll() is None, second.stderr.read() if second.stderr else ""
            assert time.monotonic() < deadline, "the second archiver did not catch up"
            await asyncio.sleep(0.1)
    finally:
        second.terminate()
        second.wait(20)
    n_messages, n_events, revs = await _redis_totals(r, desk)
    assert n_messages == total
    assert await _sql_count(db, messages) == total
    assert await _sql_count(db, events) == n_events
    async with db.engine.connect() as conn:
        archived = {row[0]: row[1] for row in await conn.execute(select(conversations.c.id, conversations.c.rev))}
        distinct = (await conn.execute(select(func.count(func.distinct(messages.c.message_id))))).scalar_one()
    assert distinct == total
    assert archived == revs


def _archiver_children(parent: int) -> list[int]:
    """The archiver processes `parent` started (not multiprocessing's resource tracker)."""
    found = []
    for pid in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
        with contextlib.suppress(FileNotFoundError):
            if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
    return found


async def test_a_killed_archiver_process_of_two_is_started_again_and_loses_and_doubles_nothing(
    r: redis.Redis, db: Database, database_url: str, redis_server: RedisServer
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite takes one archiver process")
    desk = Desk(r, db)
    total = 600
    for start in range(0, total, 10):
        await desk.ingest(
            [message(f"message {i} 출금", thread=f"t{i % 200}", user=f"u{i % 50}") for i in range(start, start + 10)]
        )
    parent = _spawn(redis_server.url, database_url, HELPLINE_DATABASE__ARCHIVERS="2")
    try:
        deadline = time.monotonic() + 120
        while await _sql_count(db, messages) < total // 6 or not _archiver_children(parent.pid):
            assert parent.poll() is None, parent.stderr.read() if parent.stderr else ""
            assert time.monotonic() < deadline, "the archivers did not start archiving"
            await asyncio.sleep(0.02)
        [child] = _archiver_children(parent.pid)
        os.kill(child, signal.SIGKILL)
        assert await _sql_count(db, messages) < total, "killed too late to test anything"
        while (await archive_lag(r, 4)).entries > 0:
            assert parent.poll() is None, parent.stderr.read() if parent.stderr else ""
            assert time.monotonic() < deadline, "the archivers did not catch up"
            await asyncio.sleep(0.1)
        [again] = _archiver_children(parent.pid)
        assert again != child
    finally:
        parent.terminate()
        parent.wait(30)
    assert parent.returncode == 0
    assert b"exited (-9): started again" in (parent.stderr.read() if parent.stderr else b"")
    n_messages, n_events, revs = await _redis_totals(r, desk)
    assert n_messages == total
    assert await _sql_count(db, messages) == total
    assert await _sql_count(db, events) == n_events
    async with db.engine.connect() as conn:
        archived = {row[0]: row[1] for row in await conn.execute(select(conversations.c.id, conversations.c.rev))}
        distinct = (await conn.execute(select(func.count(func.distinct(messages.c.message_id))))).scalar_one()
    assert distinct == total
    assert archived == revs


class Proxy:
    """A TCP proxy to the database that can be cut (connections dropped, new ones refused) and
    restored: the record going away and coming back, as the archiver sees it."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.up = True
        self.links: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.links |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    def cut(self) -> None:
        self.up = False
        for w in self.links:
            w.close()
        self.links.clear()

    async def close(self) -> None:
        self.cut()
        if self.server:
            self.server.close()


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[tuple[Proxy, str]]:
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    p = Proxy(url.host or "127.0.0.1", url.port or 5432)
    port = await p.start()
    yield p, url.set(port=port).render_as_string(hide_password=False)
    await p.close()


async def test_the_archiver_waits_out_a_record_outage_and_catches_up(
    r: redis.Redis, proxy: tuple[Proxy, str], postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    cut, via_proxy = proxy
    direct = Database(postgres_url)
    db = Database(via_proxy)
    try:
        async with direct.engine.begin() as conn:
            for table in ("conversations", "messages", "events", "replies", "contacts"):
                await conn.exec_driver_sql(f"TRUNCATE {table}")
        desk = Desk(r, direct)
        archiver = Archiver(r, Record(db), 4, "outage-test", block_ms=50)
        stop = asyncio.Event()
        task = asyncio.create_task(archiver.run(stop))
        await desk.ingest([message("before the outage", thread="a")])
        await _until(lambda: _sql_count(direct, messages), 1)
        cut.cut()  # the record goes away; the pipeline keeps going
        await desk.ingest([message(f"during the outage {i}", thread=f"b{i}") for i in range(20)])
        await asyncio.sleep(1.5)
        lag = await archive_lag(r, 4)
        assert lag.entries > 0 and lag.seconds > 0.5
        assert await _sql_count(direct, messages) == 1
        cut.up = True  # back: the archiver catches up by itself
        await _until(lambda: _sql_count(direct, messages), 21, timeout=60)
        stop.set()
        await asyncio.wait_for(task, 10)
        assert (await archive_lag(r, 4)).entries == 0
        warnings = [rec.getMessage() for rec in caplog.records if "record is unavailable" in rec.getMessage()]
        assert len(warnings) == 1  # one warning for the outage, not one per retry
        assert re.search(r"wait in Redis: \w+: \S", warnings[0]), warnings  # the driver's reason, not just a type
    finally:
        await db.close()
        await direct.close()


async def _until(count: object, want: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while await count() < want:  # type: ignore[operator]
        assert time.monotonic() < deadline, f"never reached {want}"
        await asyncio.sleep(0.05)
