"""What the packages' command lines share: one way to refuse (a line on stderr, exit status 2,
never a traceback) and to run a piece of work against a Redis named on the command line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import redis.asyncio as redis
import typer

T = TypeVar("T")

#: `--redis-url`, from the environment when not given.
RedisOption = Annotated[
    str | None,
    typer.Option(
        "--redis-url",
        envvar=["HELPLINE_REDIS__URL", "REDIS_URL"],
        help="Redis URL (default: HELPLINE_REDIS__URL or REDIS_URL)",
    ),
]


def fail(message: str) -> typer.Exit:
    """Say what is wrong; raise the result."""
    typer.echo(f"helpline: {message}", err=True)
    return typer.Exit(2)


def with_redis(url: str | None, work: Callable[[redis.Redis], Awaitable[T]]) -> T:
    """Run `work` with a client of the Redis at `url`; an unreachable one is refused in one line."""
    if not url:
        raise fail("redis URL is not set (--redis-url, HELPLINE_REDIS__URL or REDIS_URL)")

    async def main() -> T:
        client: redis.Redis = redis.Redis.from_url(url, socket_connect_timeout=3)
        try:
            return await work(client)
        finally:
            await client.aclose()

    try:
        return asyncio.run(main())
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise fail(f"cannot reach Redis: {exc}") from None
