from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from .helpers import Desk, make_desk


@pytest.fixture
async def desk(r: redis.Redis) -> AsyncIterator[Desk]:
    d = await make_desk(r)
    yield d
    for c in d.clients:
        await c.aclose()
