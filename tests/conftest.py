from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as redis
from playwright.async_api import expect

from tests.redis_server import RedisServer

# The suite runs on a loaded 2-core machine: browser assertions wait for their condition up to 20 s
# (Playwright's default of 5 s flakes there). A run on an idle machine still goes on as soon as it holds.
expect.set_options(timeout=20_000)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session; tests flush it (see `r`)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server for one test alone, which the test may kill and restart."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop(kill=True)


@pytest.fixture
async def r(redis_server: RedisServer) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    await client.flushall()
    yield client
    await client.aclose()


from tests.s3_server import s3_env, s3_server  # noqa: E402,F401 (fixtures for the file store tests)
