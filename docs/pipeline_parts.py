"""CPU per message of the routers and of the sender, each measured while it runs alone, with the
Redis CPU spent meanwhile (docs/benchmarks.md, "where the pipeline's CPU goes"). The pipeline
benchmark runs every part at once on the same cores, so it cannot say which part grew.

    PYTHONPATH=$PWD .venv/bin/python docs/pipeline_parts.py --redis-url redis://127.0.0.1:6399/0

The Redis at --redis-url is emptied. Routers: two `helpline run --role router` processes route
`--messages` messages as they are ingested (the ingest's own CPU is this process's, not counted).
Sender: the routers stop once every reply is queued, then the sender posts `--replies` replies
to the counting null platform (the deduping account, as `bench pipeline --mix idempotent`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import redis.asyncio as redis

from helpline.bench import Pipeline, _process_cpu, synthetic


async def redis_cpu(client: redis.Redis) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def per_message(cpu: float, redis_cpu: float, n: int, part: str) -> dict[str, float]:
    return {part: round(cpu / n * 1e6, 1), "redis_us": round(redis_cpu / n * 1e6, 1)}


async def until_queued(client: redis.Redis, pipeline: Pipeline, n: int) -> None:
    """Wait until the outbound streams hold `n` replies."""
    while sum([int(await client.xlen(stream)) for stream in pipeline.sender.streams()]) < n:  # noqa: ASYNC110 (polled)
        await asyncio.sleep(0.05)


async def ingest(pipeline: Pipeline, n: int) -> None:
    """The benchmark's messages, offered as `bench pipeline` offers them (500 at a time)."""
    messages = synthetic(n, seed=1, threads=max(1, n // 5), prefix="tp-", mix="idempotent")
    for i in range(0, n, 500):
        await pipeline.bus.ingest(messages[i : i + 500])


async def routers(client: redis.Redis, url: str, n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Pipeline(client, url, Path(tmp), 2, "idempotent")
        pipeline.spawn_routers()
        try:
            await pipeline.bus.ingest(synthetic(1, seed=0, threads=1, prefix="warm-"))
            await until_queued(client, pipeline, 1)  # started: rules and bots loaded
            await pipeline.wait_balanced(limit_s=30)
            cpu, redis_before = sum(_process_cpu(p.pid) for p in pipeline.processes), await redis_cpu(client)
            await ingest(pipeline, n)
            await until_queued(client, pipeline, n + 1)
            cpu = sum(_process_cpu(p.pid) for p in pipeline.processes) - cpu
            return per_message(cpu, await redis_cpu(client) - redis_before, n, "routers_us")
        finally:
            await pipeline.close()


async def sender(client: redis.Redis, url: str, n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Pipeline(client, url, Path(tmp), 2, "idempotent")
        pipeline.spawn_routers()
        try:
            await pipeline.consumer.ensure_groups()
            await ingest(pipeline, n)
            await until_queued(client, pipeline, n)
            for process in pipeline.processes:  # the routers are done: the sender runs alone
                process.terminate()
            cpu, redis_before = time.process_time(), await redis_cpu(client)
            pipeline.tasks = [asyncio.create_task(pipeline.consumer.run(pipeline.stop))]
            await pipeline.wait_sent(n, limit_s=max(60.0, n / 500))
            if pipeline.sender.sent < n:
                raise RuntimeError(f"the sender posted {pipeline.sender.sent} of {n} replies in time")
            cpu = time.process_time() - cpu
            return per_message(cpu, await redis_cpu(client) - redis_before, n, "sender_us")
        finally:
            await pipeline.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--messages", type=int, default=40000)
    parser.add_argument("--replies", type=int, default=20000)
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis_url)
    try:
        await client.flushall()
        routed = await routers(client, args.redis_url, args.messages)
        await client.flushall()
        sent = await sender(client, args.redis_url, args.replies)
    finally:
        await client.aclose()
    print(json.dumps({"routers": routed, "sender": sent}))


if __name__ == "__main__":
    asyncio.run(main())
