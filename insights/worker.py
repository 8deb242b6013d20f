"""The recorder's worker: finds conversations that changed and has the recorder count them.

Two sources, both merely hints (the recorder's cursors make repeats harmless):
- the live channel, where the router publishes `{"conversations": [...]}` after each batch;
- a periodic scan of every partition's `idx:updated` from a stored watermark, minus a lag,
  because events can be committed a moment after the index moved (and pub/sub may drop).
`recompute()` rebuilds every aggregate from the stored histories and ratings.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.outage import redis_failed, redis_ok

from . import scripts
from .ratings import Rating, rating_increments
from .recorder import InsightsRecorder, flatten

log = logging.getLogger(__name__)

LAG_MS = 120_000  # rescan this far behind the watermark: events trail the index update
SCAN_PAGE = 1000


class InsightsWorker:
    def __init__(self, client: redis.Redis, partitions: int, recorder: InsightsRecorder) -> None:
        self.client = client
        self.partitions = partitions
        self.recorder = recorder

    async def scan_once(self) -> int:
        """Process every conversation updated since the watermark (minus the lag)."""
        marks = await self.client.hgetall(keys.insights_watermark())  # type: ignore[misc]
        await self.client.hset(keys.insights_units(), "from", "0")  # type: ignore[misc]  # every day recounted
        counted = 0
        for p in range(self.partitions):
            since = max(0, int(marks.get(str(p).encode(), 0)) - LAG_MS)
            top = since
            async for batch, high in self._updated(p, since):
                counted += await self.recorder.process(batch)
                top = max(top, high)
            if top > since:
                await self.client.hset(keys.insights_watermark(), str(p), str(top))  # type: ignore[misc]
        return counted

    async def _updated(self, partition: int, since: int) -> AsyncIterator[tuple[list[str], int]]:
        offset = 0
        while True:
            page = await self.client.zrangebyscore(
                keys.conversations_by_update(partition), since, "+inf", start=offset, num=SCAN_PAGE, withscores=True
            )
            if not page:
                return
            yield [m.decode() for m, _ in page], int(max(s for _, s in page))
            offset += len(page)

    async def run(self, stop: asyncio.Event, interval: float = 5.0) -> None:
        """Until `stop`: count live-channel hints at once, and scan every `interval` seconds."""
        pubsub = self.client.pubsub()
        await pubsub.subscribe(keys.live_channel())
        loop = asyncio.get_running_loop()
        next_scan = 0.0
        try:
            while not stop.is_set():
                try:
                    if loop.time() >= next_scan:
                        await self.scan_once()
                        next_scan = loop.time() + interval
                    hinted = await self._hints(pubsub, wait_s=min(1.0, interval))
                    if hinted:
                        await self.recorder.process(hinted)
                    redis_ok()
                except Exception as exc:  # counting resumes from the stored cursors: nothing is lost
                    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
                        redis_failed(exc)
                    else:
                        log.exception("insights worker: a round failed")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=interval)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    @staticmethod
    async def _hints(pubsub: redis.client.PubSub, wait_s: float) -> list[str]:
        out: list[str] = []
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait_s)
        while message is not None:
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                out += [str(c) for c in json.loads(message["data"]).get("conversations", [])]
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0)
        return out

    async def recompute(self) -> int:
        """Rebuild every aggregate from the event histories and stored ratings. Run it with the
        live workers stopped (they would only race for the same cursors, never double count,
        but reports read half-built numbers until it finishes). Returns conversations counted."""
        prefix = keys.insights_prefix()
        patterns = ("c:*", "h:*", "scopes:*", "units", "backlog:*", "backlog-scopes", "conv:*", "watermark", "sla-due")
        for pattern in patterns:
            batch: list[bytes] = []
            async for key in self.client.scan_iter(match=f"{prefix}:{pattern}", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    await self.client.unlink(*batch)
                    batch = []
            if batch:
                await self.client.unlink(*batch)
        await self.client.hset(keys.insights_units(), "from", "0")  # type: ignore[misc]  # every day recounted
        counted = 0
        for p in range(self.partitions):
            async for ids, _ in self._updated(p, 0):
                counted += await self.recorder.process(ids)
        await self._reapply_ratings()
        await self.client.hset(
            keys.insights_watermark(),  # type: ignore[misc]
            mapping={str(p): int(datetime.now(UTC).timestamp() * 1000) for p in range(self.partitions)},
        )
        return counted

    async def _reapply_ratings(self) -> None:
        rate = self.client.register_script(scripts.RATE)
        async for key in self.client.scan_iter(match=f"{keys.insights_prefix()}:rating:*", count=1000):
            raw, at = await self.client.hmget(key, ["json", "at"])  # type: ignore[misc]
            if not raw:
                continue
            rating = Rating.model_validate_json(raw)
            incs = rating_increments(rating, self.recorder.zone)
            await rate(
                keys=[keys.insights_prefix()],
                args=[rating.conversation_id, at.decode(), raw.decode(), at.decode(), len(incs), *flatten(incs)],
            )
