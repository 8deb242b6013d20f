"""`helpline status`, `/healthz` and `helpline_connector_up` read the heartbeats every process
writes to Redis: a poller killed with kill -9 shows as missing within its heartbeat TTL."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import redis.asyncio as redis

from helpline.config import Settings
from helpline.connectors.emulation import serve
from helpline.connectors.mastodon.emulator import create_app as mastodon_emulator
from helpline.connectors.mastodon.emulator_state import EmulatorConfig
from helpline.health.heartbeat import ProcessHealth
from helpline.health.models import ComponentHealth
from helpline.health.view import desk_health
from helpline.routing import keys
from tests.factories import Parts, contribute_health, create_app
from tests.health.procs import env_without_helpline, helpline, start, stop
from tests.redis_server import RedisServer

TTL = 3.0
TOKEN = "mastodon-test-token"


def config(tmp: Path, url: str, base_url: str) -> Path:
    cfg = tmp / "helpline.toml"
    cfg.write_text(
        f'[redis]\nurl = "{url}"\npartitions = 2\n\n[health]\nheartbeat_ttl_seconds = {TTL}\n\n'
        f'[[accounts]]\nplatform = "mastodon"\nname = "support"\nbase_url = "{base_url}"\n'
        f'poll_interval = 0.5\nsecrets = {{ access_token = "MASTODON_TOKEN" }}\n'
    )
    return cfg


async def wait_for_status(cfg: Path, code: int, within: float) -> tuple[float, str]:
    started = time.monotonic()
    while True:
        rc, out, err = await helpline("status", "-c", str(cfg))
        if rc == code:
            return time.monotonic() - started, out
        assert time.monotonic() - started < within, f"status kept exiting {rc}:\n{out}{err}"
        await asyncio.sleep(0.2)


async def test_status_shows_a_killed_poller_within_its_heartbeat_ttl(tmp_path: Path, own_redis: RedisServer) -> None:
    emulator = mastodon_emulator(config=EmulatorConfig(token=TOKEN))
    async with serve(emulator) as base_url:
        cfg = config(tmp_path, own_redis.url, base_url)
        # nobody polls yet: the account is reported and the exit code says so
        rc, out, _ = await helpline("status", "-c", str(cfg))
        assert rc == 1 and "mastodon/support" in out and "no live poller" in out

        poller = start(
            tmp_path,
            "poller",
            "run",
            "-c",
            str(cfg),
            "--role",
            "connectors",
            env=env_without_helpline(MASTODON_TOKEN=TOKEN),
        )
        try:
            _, out = await wait_for_status(cfg, 0, within=60)
            assert f"-{poller.pid}-" in out and "connectors" in out
            row = next(line for line in out.splitlines() if line.startswith("mastodon/support"))
            assert "polling" in row and f"-{poller.pid}-" in row and " ok" in row

            # a console process beside the live poller: the shared view says ok
            settings = Settings.model_validate(
                {
                    "redis": {"url": own_redis.url, "partitions": 2},
                    "accounts": [
                        {
                            "platform": "mastodon",
                            "name": "support",
                            "base_url": base_url,
                            "secrets": {"access_token": "MASTODON_TOKEN"},
                        }
                    ],
                }
            )
            client = redis.Redis.from_url(own_redis.url)
            parts = Parts.build(settings, client)
            app = create_app(parts)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as web:
                health = await web.get("/healthz")
                assert health.status_code == 200, health.text
                assert health.json()["connectors"][0]["served_by"].split("-")[-2] == str(poller.pid)
                metrics = (await web.get("/metrics")).text
                assert 'helpline_connector_up{account="support",platform="mastodon",status="ok"} 1.0' in metrics

                poller.send_signal(signal.SIGKILL)
                killed = time.monotonic()
                poller.wait(timeout=10)
                # the shared view `helpline status` prints loses the poller within one TTL (timed
                # in-process: starting the command itself takes seconds on a loaded machine)
                while not (await desk_health(client, settings.accounts)).accounts[0].no_live_poller:
                    assert time.monotonic() - killed < TTL + 0.5, "the dead poller outlived its heartbeat TTL"
                    await asyncio.sleep(0.1)
                rc, out, _ = await helpline("status", "-c", str(cfg))
                assert rc == 1 and f"-{poller.pid}-" not in out and "no live poller" in out

                health = await web.get("/healthz")
                assert health.status_code == 503
                assert "mastodon/support: down: no live poller" in health.json()["reasons"]
                metrics = (await web.get("/metrics")).text
                assert 'helpline_connector_up{account="support",platform="mastodon",status="down"} 0.0' in metrics
            await client.aclose()
        finally:
            stop(poller)


async def test_a_contributed_component_degrades_the_desk(r: redis.Redis) -> None:
    archive = ProcessHealth(roles=["archiver"], ttl=5)
    lag = {"seconds": 3.0}

    async def archive_lag() -> ComponentHealth:
        behind = lag["seconds"]
        return ComponentHealth(
            name="archive", status="ok" if behind < 60 else "degraded", detail=f"{behind:.0f} s behind"
        )

    archive.add_component("archive", archive_lag)
    await archive.publish(r)
    desk = await desk_health(r, [])
    assert desk.status == "ok" and [c.detail for _, c in desk.components] == ["3 s behind"]

    lag["seconds"] = 600
    await archive.publish(r)
    desk = await desk_health(r, [])
    assert desk.status == "degraded" and desk.reasons == ["archive: degraded: 600 s behind"]

    await archive.withdraw(r)
    assert (await desk_health(r, [])).processes == []


async def test_a_heartbeat_expires_with_its_ttl(r: redis.Redis) -> None:
    beat = ProcessHealth(roles=["router"], ttl=1)
    await beat.publish(r)
    assert [p.id for p in (await desk_health(r, [])).processes] == [beat.id]
    await asyncio.sleep(1.2)
    assert (await desk_health(r, [])).processes == []
    assert await r.zcard("hl:hb-index") == 0  # the reader dropped the expired id


async def test_the_archive_lag_is_one_line_however_many_processes_report_it(r: redis.Redis) -> None:
    router, archiver = ProcessHealth(roles=["router"], ttl=5), ProcessHealth(roles=["archiver"], ttl=5)

    async def lagging() -> ComponentHealth:
        return ComponentHealth(name="archive", status="degraded", detail="900 s behind")

    async def fine() -> ComponentHealth:
        return ComponentHealth(name="archive", status="ok", detail="0 s behind")

    router.add_component("archive", lagging)
    archiver.add_component("archive", fine)
    await router.publish(r)
    await archiver.publish(r)
    desk = await desk_health(r, [])
    assert [(p, c.detail) for p, c in desk.components] == [(router.id, "900 s behind")]
    assert desk.reasons == ["archive: degraded: 900 s behind"]


async def test_a_router_reports_the_archive_lag_with_no_archiver_running(r: redis.Redis) -> None:
    p = Parts.build(Settings(redis={"partitions": 2}), r)
    await r.xadd(keys.changes(0), {"c": "0-1"})  # a change no archiver has read
    contribute_health(p, {"router"})
    beat = await p.health.beat()
    assert [(c.name, c.detail.split(",")[0]) for c in beat.components] == [
        ("archive", "1 changes not in the record yet")
    ]
    sender = Parts.build(Settings(redis={"partitions": 2}), r)
    contribute_health(sender, {"sender"})
    assert (await sender.health.beat()).components == ()
