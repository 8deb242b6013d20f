"""What a benchmark refuses before it starts: wiping a Redis that holds data, and a comparison run
without the library it compares with.

Benchmarks wipe the Redis they run on (FLUSHALL). Their own private server is theirs to wipe; one
the operator names with `--redis-url` is refused while it holds data, unless `--yes`.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated

import redis.asyncio as redis
import typer

from .embedded_redis import EmbeddedRedis


class BenchmarkRefused(Exception):
    """The benchmark would do harm or cannot run as asked; the message says what to do."""


class RedisNotEmpty(BenchmarkRefused):
    """The named Redis holds keys a benchmark would delete."""


class MissingArq(BenchmarkRefused):
    """The comparison run needs arq, which is not installed."""


#: The `--yes` option of every benchmark command.
WipeOption = Annotated[bool, typer.Option("--yes", help="allow wiping a --redis-url Redis that holds data")]


async def stored_keys(client: redis.Redis) -> int:
    """Keys in every database of the server (FLUSHALL empties them all)."""
    keyspace = await client.info("keyspace")
    return sum(int(db.get("keys", 0)) for db in keyspace.values() if isinstance(db, dict))


async def wipe_for_benchmark(client: redis.Redis, *, named: bool, wipe: bool) -> None:
    """FLUSHALL, unless the server was `named` by the operator, holds keys, and `wipe` is not set:
    then RedisNotEmpty, and nothing is deleted."""
    if named and not wipe and (count := await stored_keys(client)):
        raise RedisNotEmpty(
            f"the Redis at --redis-url holds {count} keys and the benchmark deletes everything in "
            "it (FLUSHALL): pass --yes to allow that, or leave out --redis-url to run on a private "
            "server"
        )
    await client.flushall()


@asynccontextmanager
async def bench_redis(redis_url: str | None, *, wipe: bool, appendfsync: str = "everysec") -> AsyncIterator[str]:
    """The URL of an empty Redis for a benchmark: a private server (stopped after), or the one the
    operator named, wiped as `wipe_for_benchmark` allows."""
    with tempfile.TemporaryDirectory(prefix="helpline-bench-redis-") as tmp:
        server = None if redis_url else EmbeddedRedis(Path(tmp) / "redis", appendfsync=appendfsync).start()
        try:
            url = redis_url or (server.url if server else "")
            client: redis.Redis = redis.Redis.from_url(url)
            try:
                await wipe_for_benchmark(client, named=redis_url is not None, wipe=wipe)
            finally:
                await client.aclose()
            yield url
        finally:
            if server is not None:
                server.stop()


def require_arq() -> None:
    """Fail before any work when the comparison run cannot happen (arq is a development dependency)."""
    try:
        import arq  # noqa: F401
    except ImportError:
        raise MissingArq(
            "the comparison run needs arq (pip install 'helpline[bench]'); pass --no-baseline to measure Helpline alone"
        ) from None


@contextmanager
def refusals_exit() -> Iterator[None]:
    """A refused benchmark is one line on stderr and exit status 2, never a traceback."""
    try:
        yield
    except BenchmarkRefused as exc:
        typer.echo(f"helpline: {exc}", err=True)
        raise typer.Exit(2) from None
