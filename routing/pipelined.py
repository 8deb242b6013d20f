"""Pipelines that run Lua scripts in one round trip.

redis-py asks the server `SCRIPT EXISTS` before executing any pipeline that holds a script call:
a second round trip every time (the sender's claim of each reply paid it twice). `execute` runs
the calls by their SHA at once; only when Redis answers NOSCRIPT (it restarted, or its scripts
were flushed) are the scripts loaded and the refused calls run again, in their order. Each of
the project's scripts is one atomic step that checks what it changes, so a call run again after
the pipeline's other commands decides on what it finds then, as any later call would.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError


async def execute(client: redis.Redis, pipe: Pipeline) -> list[Any]:
    """`pipe.execute()` (a pipeline without MULTI) in one round trip; raises the first error a
    command answered, as `execute()` does."""
    if pipe.is_transaction or pipe.explicit_transaction:
        raise ValueError("only pipelines without MULTI run their scripts unchecked")
    scripts = list(pipe.scripts)
    pipe.scripts.clear()  # redis-py would check them first: one more round trip
    stack = list(pipe.command_stack)
    results: list[Any] = await pipe.execute(raise_on_error=False)
    refused = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    if refused:
        for script in scripts:
            script.sha = await client.script_load(script.script)
        async with client.pipeline(transaction=False) as again:
            for i in refused:
                args, options = stack[i]
                again.execute_command(*args, **options)
            for i, result in zip(refused, await again.execute(raise_on_error=False), strict=True):
                results[i] = result
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results
