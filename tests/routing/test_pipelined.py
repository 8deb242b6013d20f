"""Pipelines with script calls: one round trip, and scripts Redis forgot are loaded and run."""

from __future__ import annotations

import pytest
import redis.asyncio as redis
from redis.exceptions import ResponseError

from helpline.routing.pipelined import execute

APPEND = "redis.call('RPUSH', KEYS[1], ARGV[1]) return redis.call('LLEN', KEYS[1])"


async def calls(r: redis.Redis, command: str) -> int:
    stats = await r.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


async def test_a_pipeline_with_scripts_asks_nothing_before_running_them(r: redis.Redis) -> None:
    append = r.register_script(APPEND)
    await append(keys=["l"], args=["first"])  # loaded
    await r.config_resetstat()
    async with r.pipeline(transaction=False) as pipe:
        await append(keys=["l"], args=["a"], client=pipe)
        pipe.rpush("l", "b")
        assert await execute(r, pipe) == [2, 3]
    assert await calls(r, "script|exists") == 0 and await calls(r, "script") == 0
    assert await calls(r, "evalsha") == 1


async def test_scripts_redis_forgot_are_loaded_and_the_refused_calls_run_in_their_order(r: redis.Redis) -> None:
    append = r.register_script(APPEND)
    await append(keys=["l"], args=["first"])
    await r.script_flush()  # as after a restart
    async with r.pipeline(transaction=False) as pipe:
        await append(keys=["l"], args=["a"], client=pipe)
        pipe.rpush("l", "b")
        await append(keys=["l"], args=["c"], client=pipe)
        results = await execute(r, pipe)
    assert results[1] == 2  # ran first: the script calls were refused
    assert [v.decode() for v in await r.lrange("l", 0, -1)] == ["first", "b", "a", "c"]
    assert results == [3, 2, 4]


async def test_an_error_of_a_command_is_raised_after_the_others_ran(r: redis.Redis) -> None:
    append = r.register_script(APPEND)
    await r.set("s", "text")
    async with r.pipeline(transaction=False) as pipe:
        await append(keys=["l"], args=["a"], client=pipe)
        pipe.lpush("s", "x")  # WRONGTYPE
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await execute(r, pipe)
    assert await r.lrange("l", 0, -1) == [b"a"]
