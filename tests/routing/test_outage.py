"""Writes through a Redis outage: retried while Redis does not answer, for a bounded time."""

from __future__ import annotations

import time

import pytest
import redis.asyncio as redis

from helpline.connectors.emulation import free_port
from helpline.routing.outage import best_effort, through_outage
from tests.redis_server import RedisServer


async def test_a_write_that_must_not_be_lost_says_an_outage_longer_than_its_patience() -> None:
    away = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        await through_outage(lambda: away.set("k", "1"), within=0.5)
    assert 0.25 <= time.monotonic() - started < 3.0  # retried (0.1 s, then 0.2 s), then said
    await away.aclose()


async def test_a_write_that_only_saves_time_gives_up_quietly_and_goes_through_when_redis_answers(
    own_redis: RedisServer,
) -> None:
    away = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    assert await best_effort(lambda: away.set("k", "1"), within=0.3) is None
    await away.aclose()
    r = redis.Redis.from_url(own_redis.url)
    assert await best_effort(lambda: r.set("k", "1")) is True
    assert await r.get("k") == b"1"
    await r.aclose()
