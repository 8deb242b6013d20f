"""A hung Redis (SIGSTOP of a real redis-server) is an outage the processes notice and say so once:
socket timeouts end the waits, `/healthz` answers within a second, and each role logs one warning
when Redis stops answering and one line when it is back."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from helpline.connectors.emulation import free_port
from tests.health.procs import helpline, start, stop
from tests.redis_server import RedisServer

ROLES = ("connectors", "router", "sender", "console", "insights")
BUSY = ("connectors", "router", "sender")


async def wait_healthy(url: str, within: float = 90) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2) as web:
        while True:
            try:
                if (await web.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the console never answered /healthz with 200"
            await asyncio.sleep(0.3)


async def test_a_hung_redis_is_noticed_once_per_role_and_healthz_still_answers(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    port = free_port()
    cfg = tmp_path / "helpline.toml"
    cfg.write_text(
        f'[redis]\nurl = "{own_redis.url}"\npartitions = 2\nsocket_timeout = 2\nconnect_timeout = 1\n\n'
        f"[console]\nport = {port}\n\n[insights]\nscan_interval_seconds = 1\n\n"
        '[[accounts]]\nplatform = "null"\nname = "main"\n'
    )
    worker = start(tmp_path, "worker", "run", "-c", str(cfg), *[a for r in ROLES for a in ("--role", r)])
    assert own_redis.proc is not None
    redis_pid = own_redis.proc.pid
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/healthz")
        os.kill(redis_pid, signal.SIGSTOP)
        try:
            answers = []
            async with httpx.AsyncClient(timeout=5) as web:
                outage_end = time.monotonic() + 15  # every role's loop meets the hang in this time
                while time.monotonic() < outage_end:
                    started = time.monotonic()
                    response = await web.get(f"http://127.0.0.1:{port}/healthz")
                    answers.append((time.monotonic() - started, response.status_code, response.json()))
                    await asyncio.sleep(0.5)
        finally:
            os.kill(redis_pid, signal.SIGCONT)
        assert all(took < 1.0 for took, _, _ in answers), [round(t, 2) for t, _, _ in answers]
        assert all(code == 503 and body["status"] == "down" and body["redis"] is False for _, code, body in answers)

        await wait_healthy(f"http://127.0.0.1:{port}/healthz", within=30)
        log = (tmp_path / "worker.log").read_text()
        deadline = time.monotonic() + 15
        while (log.count("redis is back") < log.count("redis unavailable")) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            log = (tmp_path / "worker.log").read_text()
    finally:
        stop(worker)
    for role in ROLES:
        warnings = len(re.findall(rf"{role}: redis unavailable", log))
        # the roles that read Redis all the time notice at once; the console's and insights'
        # periodic work may fall between two of its rounds on a loaded machine
        assert warnings == 1 if role in BUSY else warnings <= 1, f"{role}: {warnings} warnings\n{log}"
        assert len(re.findall(rf"{role}: redis is back after", log)) == warnings, log
    assert log.count("redis unavailable") <= len(ROLES), log
    assert "Traceback" not in log


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ("socket_timeout = 0.5", "redis.socket_timeout"),
        ("connect_timeout = 0", "redis.connect_timeout"),
        ('socket_timeout = "soon"', "redis.socket_timeout"),
    ],
)
async def test_redis_timeouts_are_validated(tmp_path: Path, setting: str, field: str) -> None:
    cfg = tmp_path / "helpline.toml"
    cfg.write_text(f"[redis]\n{setting}\n")
    rc, _, err = await helpline("config", "check", "-c", str(cfg))
    assert rc == 2 and field in err and "Traceback" not in err
